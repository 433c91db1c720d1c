//! The one email predicate shared by every certcentral crate: the schema's own definition of
//! an email item (`pattern` and `format: email`), run by the engine.

use std::sync::LazyLock;

use jsonschema::Validator;
use serde_json::Value;

use crate::engine::{SCHEMA, build};

/// Where the schema defines an email address.
const EMAIL_ITEM: &str = "/$defs/Emails/items";

static EMAIL: LazyLock<Validator> = LazyLock::new(|| {
    let item = SCHEMA
        .pointer(EMAIL_ITEM)
        .unwrap_or_else(|| panic!("the order schema has no {EMAIL_ITEM}"));
    build(item, chrono::NaiveDate::MIN)
});

/// Whether `s` is an email address certcentral accepts for a certificate: an item of the
/// order schema's `emails`.
///
/// The accepted language (the schema's `pattern`, documented in `schema/README.md`) is a
/// strict subset of RFC 5321/5322 `addr-spec`, the one used for mailboxes in practice and by
/// certificate authorities:
///
/// - ASCII only, at most 254 octets, exactly one `@`;
/// - local part: an RFC 5322 `dot-atom` (atoms of `atext`, i.e. letters, digits and
///   ``!#$%&'*+-/=?^_`{|}~``, joined by single dots), 1 to 64 octets;
/// - domain: two or more RFC 1035/1123 letter-digit-hyphen labels of 1 to 63 octets, not
///   starting or ending with a hyphen; A-labels (`xn--…`, internationalized domains in
///   punycode) are accepted; the last label has a letter, so IP addresses (`a@1.2.3.4`) are
///   not domains.
///
/// Not accepted, although RFC 5322 allows them: quoted local parts (`"a b"@example.com`),
/// domain literals (`a@[192.0.2.1]`), single-label domains (`a@localhost`), non-ASCII
/// (unencoded) addresses, comments and folding white space.
///
/// ```
/// use certcentral_validate::is_valid_email;
///
/// assert!(is_valid_email("locke.cole@example.com"));
/// assert!(is_valid_email("o'brien+smime@mail.example.co.uk"));
/// assert!(is_valid_email("a@xn--bcher-kva.example"));
/// assert!(!is_valid_email("locke..cole@example.com"));
/// assert!(!is_valid_email("locke@localhost"));
/// assert!(!is_valid_email("a@1.2.3.4"));
/// assert!(!is_valid_email("\"locke cole\"@example.com"));
/// ```
pub fn is_valid_email(s: &str) -> bool {
    EMAIL.is_valid(&Value::String(s.to_owned()))
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
            "a@xn--bcher-kva.com",
            "a@example.xn--p1ai",
            "a@1.example",
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
            "a@1.2.3.4",
            "a@1.2",
            "a@example.com\n",
            "a b@example.com",
            " a@example.com",
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
