//! CSR inspection: fixtures made with the `openssl` CLI (keys not kept) and CSRs made with
//! rcgen at test time.

#![cfg(feature = "csr")]

use crate::kit::fixture;
use certcentral_validate::{CsrError, KeyAlgorithm, inspect_csr};

fn rcgen_csr(alg: &'static rcgen::SignatureAlgorithm) -> (rcgen::KeyPair, String) {
    let key = certcentral_testkit::key_for(alg);
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Lock Cole");
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    (key, pem)
}

#[test]
fn accepted_keys_from_openssl() {
    for (file, key) in [
        ("rsa2048.csr", KeyAlgorithm::Rsa { bits: 2048 }),
        ("rsa3072.csr", KeyAlgorithm::Rsa { bits: 3072 }),
        ("rsa4096.csr", KeyAlgorithm::Rsa { bits: 4096 }),
        ("prime256v1.csr", KeyAlgorithm::EcdsaP256),
        ("secp384r1.csr", KeyAlgorithm::EcdsaP384),
    ] {
        let info = inspect_csr(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(info.key, key, "{file}");
        assert_eq!(info.subject, "CN=Lock Cole", "{file}");
        assert!(!info.spki_der.is_empty());
    }
}

#[test]
fn accepted_keys_from_rcgen_expose_the_public_key() {
    for (alg, expected) in [
        (&rcgen::PKCS_ECDSA_P256_SHA256, KeyAlgorithm::EcdsaP256),
        (&rcgen::PKCS_ECDSA_P384_SHA384, KeyAlgorithm::EcdsaP384),
    ] {
        let (key, pem) = rcgen_csr(alg);
        let info = inspect_csr(&pem).unwrap();
        assert_eq!(info.key, expected);
        assert_eq!(
            info.spki_der,
            rcgen::PublicKeyData::subject_public_key_info(&key)
        );
    }
}

#[test]
fn unsupported_keys_are_named() {
    for (file, named) in [
        ("rsa1024.csr", "RSA 1024 bits"),
        ("secp521r1.csr", "ECDSA P-521"),
        ("ed25519.csr", "Ed25519"),
    ] {
        match inspect_csr(&fixture(file)) {
            Err(err @ CsrError::UnsupportedKey(_)) => {
                assert!(err.to_string().contains(named), "{file}: {err}");
                assert_eq!(err.code(), "csr_unsupported_key");
            }
            other => panic!("{file}: {other:?}"),
        }
    }
    let (_, pem) = rcgen_csr(&rcgen::PKCS_ED25519);
    assert!(matches!(
        inspect_csr(&pem),
        Err(CsrError::UnsupportedKey(_))
    ));
}

#[test]
fn broken_signatures_are_rejected() {
    let err = inspect_csr(&fixture("rsa2048-bad-signature.csr")).unwrap_err();
    assert!(matches!(err, CsrError::BadSignature(_)), "{err:?}");
    assert_eq!(err.code(), "csr_invalid_signature");

    // Tamper with the signed part of an rcgen CSR: its signature no longer matches.
    let (_, pem) = rcgen_csr(&rcgen::PKCS_ECDSA_P256_SHA256);
    let der = pem::parse(&pem).unwrap().into_contents();
    let needle = b"Lock Cole";
    let at = der.windows(needle.len()).position(|w| w == needle).unwrap();
    let mut tampered = der.clone();
    tampered[at] = b'J';
    let tampered_pem = pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", tampered));
    assert!(matches!(
        inspect_csr(&tampered_pem),
        Err(CsrError::BadSignature(_))
    ));
}

#[test]
fn not_a_csr_cannot_be_parsed() {
    let good = fixture("rsa2048.csr");
    let cases = [
        String::new(),
        "<csr>".to_owned(),
        good.replace("CERTIFICATE REQUEST", "CERTIFICATE"),
        good.replace("CERTIFICATE REQUEST", "PRIVATE KEY"),
        format!("{good}{good}"),
        good.replace("MII", "MIJ"),
        good.lines()
            .filter(|l| !l.starts_with("-----END"))
            .collect::<Vec<_>>()
            .join("\n"),
    ];
    for case in cases {
        let err = inspect_csr(&case).unwrap_err();
        assert!(matches!(err, CsrError::Parse(_)), "{case:?}: {err:?}");
        assert_eq!(err.code(), "csr_invalid_cannot_parse");
    }
    // Surrounding white space and the legacy label are fine.
    assert!(inspect_csr(&format!("\n  {good}\n\n")).is_ok());
    assert!(inspect_csr(&good.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")).is_ok());
}
