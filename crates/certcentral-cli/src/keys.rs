//! Local key generation and PKCS#10 CSRs.
//!
//! RSA keys are generated with the `rsa` crate (ring cannot generate RSA keys) and ECDSA keys
//! with `rcgen` (ring); rcgen then builds and self-signs the CSR with the subject's common
//! name and email addresses. The private key never leaves the machine: only the CSR (which
//! holds the public key) is sent to DigiCert.

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
}

/// The key types DigiCert accepts for client certificates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
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
            let mut rng = rand::rngs::OsRng;
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
    #[test]
    fn key_types_are_the_catalog_key_policy() {
        use certcentral_types::catalog::{EcdsaCurve, PRODUCTS};
        use clap::ValueEnum;
        for product in PRODUCTS {
            let policy = product.profile.key_policy;
            for key_type in KeyType::value_variants() {
                let allowed = match (key_type.rsa_bits(), key_type) {
                    (Some(bits), _) => u32::try_from(bits).is_ok_and(|b| policy.allows_rsa(b)),
                    (None, KeyType::P256) => policy.allows_ecdsa(EcdsaCurve::P256),
                    (None, _) => policy.allows_ecdsa(EcdsaCurve::P384),
                };
                assert!(allowed, "{} does not allow {key_type:?}", product.id);
            }
            assert_eq!(
                KeyType::value_variants().len(),
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

    #[test]
    fn non_ascii_email_is_an_error() {
        let err = generate(KeyType::P256, "A", &["jos\u{e9}@example.com".into()]).unwrap_err();
        assert!(err.to_string().contains("not ASCII"), "{err}");
    }
}
