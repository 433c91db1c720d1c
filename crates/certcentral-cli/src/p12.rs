//! PKCS#12 (`.p12`) files for importing the key and certificate into mail clients and
//! browsers, and their passwords.
//!
//! There is never a default password: it comes from `--p12-password-file` or is generated
//! ([`generate_password`], 24 random letters and digits) and written to `<name>.p12.pass`
//! with mode 0600.

use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKeyChain};
use rand::RngExt;
use rand::distr::Alphanumeric;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};

/// Length of generated passwords (about 143 bits of entropy).
pub const GENERATED_PASSWORD_LEN: usize = 24;

/// Errors while building a PKCS#12 file.
#[derive(Debug, thiserror::Error)]
pub enum P12Error {
    /// The certificate chain is empty or not PEM certificates.
    #[error("cannot read the certificate chain: {0}")]
    Chain(String),
    /// Encoding failed.
    #[error("cannot build the PKCS#12 file: {0}")]
    Encode(String),
}

/// A random password of [`GENERATED_PASSWORD_LEN`] ASCII letters and digits, from the
/// operating system's random source.
pub fn generate_password() -> SecretString {
    // Built in place at its final size (no reallocation leaves a copy behind) and wiped
    // once copied into the secret.
    let mut password = Zeroizing::new(String::with_capacity(GENERATED_PASSWORD_LEN));
    password.extend(
        UnwrapErr(SysRng)
            .sample_iter(Alphanumeric)
            .take(GENERATED_PASSWORD_LEN)
            .map(char::from),
    );
    SecretString::from(password.as_str())
}

/// Builds a PKCS#12 file holding `private_key_pkcs8_der` and the PEM certificates of
/// `chain_pem` (leaf first), encrypted with `password` (PBES2 AES-256, HMAC-SHA256).
pub fn build(
    private_key_pkcs8_der: &[u8],
    chain_pem: &str,
    alias: &str,
    password: &SecretString,
) -> Result<Vec<u8>, P12Error> {
    let blocks = pem::parse_many(chain_pem).map_err(|e| P12Error::Chain(e.to_string()))?;
    let chain = blocks
        .iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| Certificate::from_der(b.contents()).map_err(|e| P12Error::Chain(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let local_key_id = chain
        .first()
        .map(|c| {
            c.as_der()
                .iter()
                .rev()
                .take(20)
                .copied()
                .collect::<Vec<u8>>()
        })
        .ok_or_else(|| P12Error::Chain("no CERTIFICATE block".into()))?;
    let mut store = KeyStore::new();
    store.add_entry(
        alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(
            private_key_pkcs8_der,
            local_key_id,
            chain,
        )),
    );
    store
        .writer(password.expose_secret())
        .write()
        .map_err(|e| P12Error::Encode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_and_random() {
        let a = generate_password();
        let b = generate_password();
        assert_eq!(a.expose_secret().len(), GENERATED_PASSWORD_LEN);
        assert!(a.expose_secret().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn round_trips_through_p12() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["x.example".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let password = SecretString::from("correct horse battery staple");
        let der = build(&key.serialize_der(), &cert.pem(), "locke-cole", &password).unwrap();
        let store = KeyStore::from_pkcs12(&der, "correct horse battery staple").unwrap();
        let (alias, chain) = store.private_key_chain().unwrap();
        assert_eq!(alias, "locke-cole");
        assert_eq!(chain.key(), key.serialize_der().as_slice());
        assert_eq!(chain.chain()[0].as_der(), cert.der().as_ref());
        assert!(KeyStore::from_pkcs12(&der, "wrong").is_err());
        assert!(matches!(
            build(&key.serialize_der(), "", "a", &password),
            Err(P12Error::Chain(_))
        ));
    }
}
