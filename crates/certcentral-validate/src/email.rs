//! The one email predicate shared by every certcentral crate.

/// Longest address accepted, in octets (RFC 5321 path limit minus the angle brackets).
const MAX_ADDRESS: usize = 254;
/// Longest local part, in octets (RFC 5321 §4.5.3.1.1).
const MAX_LOCAL: usize = 64;
/// Longest domain, in octets (RFC 1035 §2.3.4 without the trailing dot).
const MAX_DOMAIN: usize = 253;
/// Longest domain label, in octets (RFC 1035 §2.3.4).
const MAX_LABEL: usize = 63;

/// Whether `s` is an email address certcentral accepts for a certificate.
///
/// The accepted language is a strict subset of RFC 5321/5322 `addr-spec`, the one used for
/// mailboxes in practice and by certificate authorities:
///
/// - ASCII only, at most 254 octets, exactly one `@`;
/// - local part: an RFC 5322 `dot-atom` (atoms of `atext`, i.e. letters, digits and
///   ``!#$%&'*+-/=?^_`{|}~``, joined by single dots), 1 to 64 octets;
/// - domain: an RFC 1035/1123 host name with **at least two labels**, at most 253 octets;
///   each label 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen,
///   and without hyphens in both the third and fourth position (reserved for IDNA A-labels).
///
/// Not accepted, although RFC 5322 allows them: quoted local parts (`"a b"@example.com`),
/// domain literals (`a@[192.0.2.1]`), single-label domains (`a@localhost`), internationalized
/// addresses, A-label (`xn--`) domains, comments and folding white space. Every address this
/// predicate accepts is also accepted by the `jsonschema` crate's `format: email`.
///
/// ```
/// use certcentral_validate::is_valid_email;
///
/// assert!(is_valid_email("locke.cole@example.com"));
/// assert!(is_valid_email("o'brien+smime@mail.example.co.uk"));
/// assert!(!is_valid_email("locke..cole@example.com"));
/// assert!(!is_valid_email("locke@localhost"));
/// assert!(!is_valid_email("\"locke cole\"@example.com"));
/// ```
pub fn is_valid_email(s: &str) -> bool {
    if s.len() > MAX_ADDRESS || !s.is_ascii() {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    is_dot_atom(local) && is_host_name(domain)
}

/// RFC 5322 `atext`.
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

fn is_dot_atom(local: &str) -> bool {
    !local.is_empty()
        && local.len() <= MAX_LOCAL
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.bytes().all(is_atext))
}

fn is_host_name(domain: &str) -> bool {
    if domain.is_empty() || domain.len() > MAX_DOMAIN {
        return false;
    }
    let mut labels = 0usize;
    for label in domain.split('.') {
        let bytes = label.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= MAX_LABEL
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes.first() != Some(&b'-')
            && bytes.last() != Some(&b'-')
            && !(bytes.len() >= 4 && bytes[2] == b'-' && bytes[3] == b'-');
        if !ok {
            return false;
        }
        labels += 1;
    }
    labels >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_addresses() {
        for ok in [
            "locke.cole@example.com",
            "a@b.co",
            "x+tag@sub.example.org",
            "first.o'neil@example.io",
            "!#$%&'*+-/=?^_`{|}~@example.com",
            "UPPER@EXAMPLE.COM",
            "a@1.2",
            "a@a-b.example",
        ] {
            assert!(is_valid_email(ok), "{ok}");
        }
    }

    #[test]
    fn rejects_outside_the_subset() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_label = format!("a@{}.com", "b".repeat(64));
        let long_domain = format!("a@{}.com", ["abcdefghi"; 26].join("."));
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@@example.com",
            "a@b@example.com",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a b@example.com",
            "a@example..com",
            "a@.example.com",
            "a@example.com.",
            "a@-example.com",
            "a@example-.com",
            "a@ex_ample.com",
            "a@localhost",
            "a@[192.0.2.1]",
            "\"a\"@example.com",
            "a@xn--bcher-kva.example",
            "é@example.com",
            "a@exämple.com",
            long_local.as_str(),
            long_label.as_str(),
            long_domain.as_str(),
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }
}
