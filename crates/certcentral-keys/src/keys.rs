//! Local key generation and PKCS#10 CSRs.
//!
//! RSA keys are generated with the `rsa` crate (ring cannot generate RSA keys) and ECDSA keys
//! with `rcgen` (ring); rcgen then builds and self-signs the CSR with the subject's common
//! name and email addresses. The private key never leaves the machine: only the CSR (which
//! holds the public key) is sent to DigiCert.
//!
//! [`check_certificate_key`] is the one check every command runs before it writes a
//! certificate or a PKCS#12 file: the certificate's public key must be the local key's (or
//! the CSR's), so a certificate is never stored next to a key it does not belong to.

use std::fmt;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, PublicKeyData, SanType,
    SignatureAlgorithm,
};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

/// Errors while generating a key or CSR.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The subject cannot be put in a CSR (e.g. a non-ASCII email address).
    #[error("cannot build the CSR: {0}")]
    Subject(String),
    /// Key generation or signing failed.
    #[error("key generation failed: {0}")]
    Crypto(String),
    /// A key, CSR or public key file cannot be read as one.
    #[error("{0}")]
    Unreadable(String),
    /// A downloaded certificate cannot be parsed.
    #[error("cannot read the downloaded certificate: {0}")]
    Certificate(String),
    /// The certificate is not for the local key: nothing was written.
    #[error(
        "the certificate is not for {expected}: it was issued to {subject} (serial {serial}) \
         with another public key; nothing was written"
    )]
    Mismatch {
        /// Where the expected public key comes from (e.g. `the key locke-cole.key`).
        expected: String,
        /// The certificate's subject.
        subject: String,
        /// The certificate's serial number (hex).
        serial: String,
    },
}

/// The public key a certificate must carry, and where it comes from (for messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedKey {
    /// DER `SubjectPublicKeyInfo`.
    pub spki_der: Vec<u8>,
    /// Where it comes from, e.g. `the key certs/locke-cole.key`.
    pub source: String,
}

impl ExpectedKey {
    /// The public key of a freshly generated key pair.
    pub fn generated(key: &KeyAndCsr, key_file: &std::path::Path) -> Self {
        Self {
            spki_der: key.public_key_der.clone(),
            source: format!("the key {}", key_file.display()),
        }
    }

    /// The public key in PEM `text`: a PKCS#8 private key (`PRIVATE KEY`), a CSR
    /// (`CERTIFICATE REQUEST`) or a public key (`PUBLIC KEY`). `source` names it in messages.
    pub fn from_pem(text: &str, source: impl Into<String>) -> Result<Self, KeyError> {
        let source = source.into();
        let unreadable = |why: &str| KeyError::Unreadable(format!("{source}: {why}"));
        let block = pem::parse(text.trim())
            .map_err(|_| unreadable("not PEM (expected a private key, CSR or public key)"))?;
        let spki_der = match block.tag() {
            "PRIVATE KEY" => {
                let pem_text = Zeroizing::new(text.trim().to_string());
                let pair = KeyPair::from_pem(&pem_text)
                    .map_err(|e| unreadable(&format!("not a usable PKCS#8 private key ({e})")))?;
                pair.subject_public_key_info()
            }
            "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => {
                use x509_parser::prelude::FromDer;
                let (_, csr) =
                    x509_parser::certification_request::X509CertificationRequest::from_der(
                        block.contents(),
                    )
                    .map_err(|e| unreadable(&format!("not a PKCS#10 CSR ({e})")))?;
                csr.certification_request_info.subject_pki.raw.to_vec()
            }
            "PUBLIC KEY" => {
                use x509_parser::prelude::FromDer;
                let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(block.contents())
                    .map_err(|e| unreadable(&format!("not a public key ({e})")))?;
                spki.raw.to_vec()
            }
            other => {
                return Err(unreadable(&format!(
                    "a PEM {other:?} block; expected PRIVATE KEY, CERTIFICATE REQUEST or PUBLIC KEY"
                )));
            }
        };
        Ok(Self { spki_der, source })
    }

    /// Reads [`ExpectedKey::from_pem`] from a file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(|e| {
                KeyError::Unreadable(format!("cannot read {}: {}", path.display(), e.kind()))
            })?;
        Self::from_pem(&text, format!("the key in {}", path.display()))
    }

    /// The key beside an output: `DIR/NAME.key` when it exists, else `DIR/NAME.csr`, else
    /// `None` (e.g. a bulk row ordered with its own CSR file elsewhere).
    pub fn beside(dir: &std::path::Path, name: &str) -> Result<Option<Self>, KeyError> {
        for ext in ["key", "csr"] {
            let path = dir.join(format!("{name}.{ext}"));
            if path.exists() {
                return Self::from_file(&path).map(Some);
            }
        }
        Ok(None)
    }

    /// The public key as PEM (`PUBLIC KEY`), e.g. for the order record.
    pub fn public_key_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.spki_der.clone()))
    }
}

/// Checks that the leaf (first certificate) of `chain_pem` carries `expected`'s public key.
/// Call it before writing a certificate or a PKCS#12 file; on [`KeyError::Mismatch`] write
/// nothing.
pub fn check_certificate_key(chain_pem: &str, expected: &ExpectedKey) -> Result<(), KeyError> {
    let leaf = leaf_der(chain_pem)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf)
        .map_err(|e| KeyError::Certificate(e.to_string()))?;
    if cert.public_key().raw == expected.spki_der.as_slice() {
        Ok(())
    } else {
        Err(KeyError::Mismatch {
            expected: expected.source.clone(),
            subject: cert.subject().to_string(),
            serial: cert.raw_serial_as_string(),
        })
    }
}

/// The first `CERTIFICATE` block of a PEM chain (the leaf), DER.
fn leaf_der(chain_pem: &str) -> Result<Vec<u8>, KeyError> {
    let blocks = pem::parse_many(chain_pem).map_err(|e| KeyError::Certificate(e.to_string()))?;
    blocks
        .iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.contents().to_vec())
        .ok_or_else(|| KeyError::Certificate("no CERTIFICATE block".into()))
}

/// What a certificate is about, for people: shown before it is revoked.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CertificateSummary {
    /// The subject's common name (empty when it has none).
    pub common_name: String,
    /// The rfc822Name subject alternative names.
    pub emails: Vec<String>,
    /// The serial number, upper-case hex.
    pub serial_hex: String,
    /// The end of validity (RFC 3339, UTC).
    pub not_after: String,
}

/// Reads the leaf of a PEM chain into a [`CertificateSummary`].
pub fn describe_certificate(chain_pem: &str) -> Result<CertificateSummary, KeyError> {
    let leaf = leaf_der(chain_pem)?;
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf)
        .map_err(|e| KeyError::Certificate(e.to_string()))?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_string();
    let emails = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    x509_parser::extensions::GeneralName::RFC822Name(email) => {
                        Some(email.to_string())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let not_after = chrono::DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    Ok(CertificateSummary {
        common_name,
        emails,
        serial_hex: cert.raw_serial_as_string().replace(':', "").to_uppercase(),
        not_after,
    })
}

/// The key types DigiCert accepts for client certificates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    /// RSA 2048 bits: the most compatible with mail clients (the default).
    #[default]
    Rsa2048,
    /// RSA 3072 bits.
    Rsa3072,
    /// RSA 4096 bits (slow to generate).
    Rsa4096,
    /// ECDSA on NIST P-256.
    P256,
    /// ECDSA on NIST P-384.
    P384,
}

impl KeyType {
    /// Every key type, in the order `--key-type` lists them.
    pub const ALL: [KeyType; 5] = [
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
        KeyType::P256,
        KeyType::P384,
    ];

    /// The name used on the command line (`rsa2048`, `p256`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "rsa2048",
            KeyType::Rsa3072 => "rsa3072",
            KeyType::Rsa4096 => "rsa4096",
            KeyType::P256 => "p256",
            KeyType::P384 => "p384",
        }
    }

    fn rsa_bits(self) -> Option<usize> {
        match self {
            KeyType::Rsa2048 => Some(2048),
            KeyType::Rsa3072 => Some(3072),
            KeyType::Rsa4096 => Some(4096),
            KeyType::P256 | KeyType::P384 => None,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A freshly generated key pair and its CSR.
pub struct KeyAndCsr {
    /// The private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub private_key_pem: SecretString,
    /// The private key, PKCS#8 DER (for PKCS#12).
    pub private_key_der: Zeroizing<Vec<u8>>,
    /// The CSR, PEM (`-----BEGIN CERTIFICATE REQUEST-----`).
    pub csr_pem: String,
    /// The public key, DER `SubjectPublicKeyInfo`.
    pub public_key_der: Vec<u8>,
}

impl fmt::Debug for KeyAndCsr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyAndCsr")
            .field("private_key", &"[redacted]")
            .field("csr_pem", &self.csr_pem)
            .finish()
    }
}

/// Generates a key pair of `key_type` and a CSR for `common_name` with `emails` as
/// `rfc822Name` subject alternative names.
pub fn generate(
    key_type: KeyType,
    common_name: &str,
    emails: &[String],
) -> Result<KeyAndCsr, KeyError> {
    let crypto = |e: rcgen::Error| KeyError::Crypto(e.to_string());
    let key_pair = match key_type.rsa_bits() {
        Some(bits) => {
            use rsa::pkcs8::EncodePrivateKey;
            // rsa 0.9 takes a rand_core 0.6 generator: its own re-export of the OS source.
            let mut rng = rsa::rand_core::OsRng;
            let key = rsa::RsaPrivateKey::new(&mut rng, bits)
                .map_err(|e| KeyError::Crypto(e.to_string()))?;
            let pem = key
                .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                .map_err(|e| KeyError::Crypto(e.to_string()))?;
            KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).map_err(crypto)?
        }
        None => {
            let alg: &'static SignatureAlgorithm = if key_type == KeyType::P256 {
                &rcgen::PKCS_ECDSA_P256_SHA256
            } else {
                &rcgen::PKCS_ECDSA_P384_SHA384
            };
            KeyPair::generate_for(alg).map_err(crypto)?
        }
    };
    let csr_pem = csr_for(&key_pair, common_name, emails)?;
    Ok(KeyAndCsr {
        private_key_pem: SecretString::from(Zeroizing::new(key_pair.serialize_pem()).as_str()),
        private_key_der: Zeroizing::new(key_pair.serialize_der()),
        public_key_der: key_pair.subject_public_key_info(),
        csr_pem,
    })
}

fn csr_for(key_pair: &KeyPair, common_name: &str, emails: &[String]) -> Result<String, KeyError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.subject_alt_names = emails
        .iter()
        .map(|email| {
            email
                .as_str()
                .try_into()
                .map(SanType::Rfc822Name)
                .map_err(|_| KeyError::Subject(format!("email {email:?} is not ASCII")))
        })
        .collect::<Result<_, _>>()?;
    let csr = params
        .serialize_request(key_pair)
        .map_err(|e| KeyError::Crypto(e.to_string()))?;
    csr.pem().map_err(|e| KeyError::Crypto(e.to_string()))
}

/// Returns the private key PEM as bytes to write to the key file.
pub fn key_file_bytes(key: &KeyAndCsr) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(key.private_key_pem.expose_secret().as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use certcentral_validate::{KeyAlgorithm, inspect_csr};

    /// The key types offered are exactly the catalog's key policy of every product.
    /// `--key-type`'s values are [`KeyType::ALL`].
    #[test]
    #[cfg(feature = "clap")]
    fn clap_values_are_all_key_types() {
        use clap::ValueEnum;
        assert_eq!(KeyType::value_variants(), KeyType::ALL);
    }

    #[test]
    fn key_types_are_the_catalog_key_policy() {
        use certcentral_types::catalog::{EcdsaCurve, PRODUCTS};
        for product in PRODUCTS {
            let policy = product.profile.key_policy;
            for key_type in &KeyType::ALL {
                let allowed = match (key_type.rsa_bits(), key_type) {
                    (Some(bits), _) => u32::try_from(bits).is_ok_and(|b| policy.allows_rsa(b)),
                    (None, KeyType::P256) => policy.allows_ecdsa(EcdsaCurve::P256),
                    (None, _) => policy.allows_ecdsa(EcdsaCurve::P384),
                };
                assert!(allowed, "{} does not allow {key_type:?}", product.id);
            }
            assert_eq!(
                KeyType::ALL.len(),
                policy.rsa_bits.len() + policy.ecdsa_curves.len(),
                "{}: {}",
                product.id,
                policy.allowed()
            );
        }
    }

    fn check(key_type: KeyType, expected: KeyAlgorithm) {
        let k = generate(key_type, "Locke Cole", &["locke.cole@example.com".into()]).unwrap();
        assert!(k.csr_pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        assert!(
            k.private_key_pem
                .expose_secret()
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        // The self-signature verifies and the CSR carries the generated public key.
        let info = inspect_csr(&k.csr_pem).unwrap();
        assert_eq!(info.key, expected);
        assert_eq!(info.spki_der, k.public_key_der);
        assert!(info.subject.contains("Locke Cole"), "{}", info.subject);
    }

    #[test]
    fn p256_and_p384_csrs_verify() {
        check(KeyType::P256, KeyAlgorithm::EcdsaP256);
        check(KeyType::P384, KeyAlgorithm::EcdsaP384);
    }

    #[test]
    fn rsa2048_csr_verifies() {
        check(KeyType::Rsa2048, KeyAlgorithm::Rsa { bits: 2048 });
    }

    #[test]
    fn debug_hides_the_key() {
        let k = generate(KeyType::P256, "A", &[]).unwrap();
        let dbg = format!("{k:?}");
        assert!(!dbg.contains("PRIVATE KEY"), "{dbg}");
    }

    fn self_signed(key: &KeyPair, cn: &str) -> String {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.self_signed(key).unwrap().pem()
    }

    #[test]
    fn certificate_must_carry_the_local_key() {
        let mine = generate(KeyType::P256, "Cross Two", &[]).unwrap();
        let from_key = ExpectedKey::from_pem(
            mine.private_key_pem.expose_secret(),
            "the key cross-two.key",
        )
        .unwrap();
        let from_csr = ExpectedKey::from_pem(&mine.csr_pem, "the CSR").unwrap();
        assert_eq!(from_key.spki_der, mine.public_key_der);
        assert_eq!(from_csr.spki_der, mine.public_key_der);
        let from_pub = ExpectedKey::from_pem(&from_key.public_key_pem(), "record").unwrap();
        assert_eq!(from_pub.spki_der, mine.public_key_der);

        let my_pair = KeyPair::from_pem(mine.private_key_pem.expose_secret()).unwrap();
        assert!(check_certificate_key(&self_signed(&my_pair, "Cross Two"), &from_key).is_ok());

        let other = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let err =
            check_certificate_key(&self_signed(&other, "Alice Adams"), &from_key).unwrap_err();
        assert!(matches!(err, KeyError::Mismatch { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("CN=Alice Adams"), "{text}");
        assert!(text.contains("the key cross-two.key"), "{text}");
        assert!(text.contains("nothing was written"), "{text}");

        assert!(matches!(
            check_certificate_key("garbage", &from_key),
            Err(KeyError::Certificate(_))
        ));
        assert!(ExpectedKey::from_pem("nope", "x").is_err());
    }

    #[test]
    fn the_key_beside_an_output_is_found() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ExpectedKey::beside(dir.path(), "row").unwrap(), None);
        let k = generate(KeyType::P256, "Row", &[]).unwrap();
        std::fs::write(dir.path().join("row.csr"), &k.csr_pem).unwrap();
        let found = ExpectedKey::beside(dir.path(), "row").unwrap().unwrap();
        assert_eq!(found.spki_der, k.public_key_der);
        assert!(found.source.contains("row.csr"), "{}", found.source);
        std::fs::write(dir.path().join("row.key"), "not a key").unwrap();
        assert!(ExpectedKey::beside(dir.path(), "row").is_err());
    }

    #[test]
    fn rsa_private_key_gives_its_public_key() {
        let k = generate(KeyType::Rsa2048, "A", &[]).unwrap();
        let e = ExpectedKey::from_pem(k.private_key_pem.expose_secret(), "k").unwrap();
        assert_eq!(e.spki_der, k.public_key_der);
    }

    #[test]
    fn non_ascii_email_is_an_error() {
        let err = generate(KeyType::P256, "A", &["jos\u{e9}@example.com".into()]).unwrap_err();
        assert!(err.to_string().contains("not ASCII"), "{err}");
    }
}
