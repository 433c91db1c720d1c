//! CSR inspection: PEM PKCS#10, self-signature, key type and size; the schema's `x-csr`
//! keyword, whose value lists the accepted keys (`{"rsa_bits": [...], "ec_curves": [...]}`).

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_PKCS1_RSAENCRYPTION, Oid,
};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use std::sync::LazyLock;

use jsonschema::{Keyword, ValidationError, paths::Location};
use serde_json::{Map, Value};

use crate::codes;
use crate::engine::{SCHEMA, custom_error};

/// The keys the schema's `x-csr` accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    rsa_bits: Vec<u32>,
    ec_curves: Vec<String>,
}

impl Policy {
    fn from_value(value: &Value) -> Option<Policy> {
        let rsa_bits = value
            .get("rsa_bits")?
            .as_array()?
            .iter()
            .map(|b| b.as_u64().and_then(|b| u32::try_from(b).ok()))
            .collect::<Option<Vec<u32>>>()?;
        let ec_curves = value
            .get("ec_curves")?
            .as_array()?
            .iter()
            .map(|c| c.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()?;
        Some(Policy {
            rsa_bits,
            ec_curves,
        })
    }

    /// "RSA 2048, 3072 or 4096 bits, ECDSA P-256 or P-384".
    fn allowed(&self) -> String {
        let or = |items: Vec<String>| match items.split_last() {
            None => "none".to_owned(),
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        };
        let rsa = or(self.rsa_bits.iter().map(u32::to_string).collect());
        let ec = or(self.ec_curves.clone());
        format!("RSA {rsa} bits, ECDSA {ec}")
    }
}

/// The `x-csr` policy of the order schema's `csr` member.
static POLICY: LazyLock<Policy> = LazyLock::new(|| {
    SCHEMA
        .pointer("/$defs/CertificateRequest/properties/csr/x-csr")
        .and_then(Policy::from_value)
        .unwrap_or_else(|| panic!("the order schema's csr has no valid `x-csr` policy"))
});

/// `x-csr`, registered with the engine.
struct CsrKeyword {
    policy: Policy,
}

impl<'i> Keyword<'i> for CsrKeyword {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        match instance.as_str().map(|pem| inspect_with(pem, &self.policy)) {
            Some(Err(err)) => Err(custom_error("", err.code(), &err.to_string())),
            _ => Ok(()),
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        instance
            .as_str()
            .is_none_or(|pem| inspect_with(pem, &self.policy).is_ok())
    }

    fn iter_errors(
        &self,
        instance: &'i Value,
    ) -> Box<dyn Iterator<Item = ValidationError<'i>> + 'i> {
        crate::engine::one_error(self.validate(instance))
    }
}

/// The factory of the `x-csr` keyword.
pub(crate) fn keyword<'a>(
    _: &'a Map<String, Value>,
    value: &'a Value,
    _: Location,
) -> Result<Box<dyn for<'i> Keyword<'i>>, ValidationError<'a>> {
    match Policy::from_value(value) {
        Some(policy) => Ok(Box::new(CsrKeyword { policy })),
        None => Err(ValidationError::schema(
            "x-csr must be {\"rsa_bits\": [integers], \"ec_curves\": [curve names]}",
        )),
    }
}

/// The key of a CSR, among those DigiCert accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSA with a 2048, 3072 or 4096-bit modulus.
    Rsa {
        /// Modulus size in bits.
        bits: u32,
    },
    /// ECDSA on NIST P-256 (secp256r1).
    EcdsaP256,
    /// ECDSA on NIST P-384 (secp384r1).
    EcdsaP384,
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyAlgorithm::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyAlgorithm::EcdsaP384 => f.write_str("ECDSA P-384"),
        }
    }
}

/// What an acceptable CSR holds that matters to an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsrInfo {
    /// The key algorithm and size.
    pub key: KeyAlgorithm,
    /// The public key as a DER `SubjectPublicKeyInfo`: the only part of the CSR DigiCert uses.
    pub spki_der: Vec<u8>,
    /// The CSR's subject as text (RFC 4514 style), for display only.
    pub subject: String,
}

/// Why a CSR is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CsrError {
    /// Not a single PEM `CERTIFICATE REQUEST` block, or its DER does not parse as PKCS#10.
    #[error("cannot parse the CSR: {0}")]
    Parse(String),
    /// The key is not one the schema's `x-csr` lists (RSA 2048/3072/4096, ECDSA P-256/P-384).
    #[error("unsupported CSR key: {0}; allowed: {allowed}", allowed = POLICY.allowed())]
    UnsupportedKey(String),
    /// The CSR's self-signature does not verify with its own public key.
    #[error("the CSR's self-signature does not verify with its public key ({0})")]
    BadSignature(String),
}

impl CsrError {
    /// The stable violation code for this error (see [`crate::codes`]).
    pub fn code(&self) -> &'static str {
        match self {
            CsrError::Parse(_) => codes::CSR_INVALID_CANNOT_PARSE,
            CsrError::UnsupportedKey(_) => codes::CSR_UNSUPPORTED_KEY,
            CsrError::BadSignature(_) => codes::CSR_INVALID_SIGNATURE,
        }
    }
}

/// OID of secp521r1 (named for a precise message only).
const OID_EC_P521: &str = "1.3.132.0.35";
/// OID of Ed25519.
const OID_ED25519: &str = "1.3.101.112";
/// OID of Ed448.
const OID_ED448: &str = "1.3.101.113";

/// Inspects a PEM CSR: one `CERTIFICATE REQUEST` block (the legacy `NEW CERTIFICATE REQUEST`
/// label is accepted too), PKCS#10 DER with nothing after it, a key the schema's `x-csr`
/// accepts, and a self-signature that verifies.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use certcentral_validate::{inspect_csr, CsrError, KeyAlgorithm};
///
/// let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
/// let pem = rcgen::CertificateParams::new(Vec::<String>::new())?
///     .serialize_request(&key)?
///     .pem()?;
/// assert_eq!(inspect_csr(&pem)?.key, KeyAlgorithm::EcdsaP256);
/// assert!(matches!(inspect_csr("not a csr"), Err(CsrError::Parse(_))));
/// # Ok(())
/// # }
/// ```
pub fn inspect_csr(pem: &str) -> Result<CsrInfo, CsrError> {
    inspect_with(pem, &POLICY)
}

fn inspect_with(pem: &str, policy: &Policy) -> Result<CsrInfo, CsrError> {
    let der = pem_contents(pem)?;
    let (rest, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|err| CsrError::Parse(format!("the PKCS#10 structure is invalid: {err}")))?;
    if !rest.is_empty() {
        return Err(CsrError::Parse(format!(
            "{} unexpected byte(s) after the PKCS#10 structure",
            rest.len()
        )));
    }
    let info = &csr.certification_request_info;
    let spki = &info.subject_pki;
    let key = key_algorithm(spki, policy)?;
    csr.verify_signature().map_err(|err| {
        CsrError::BadSignature(format!(
            "signature algorithm {}: {err}",
            csr.signature_algorithm.algorithm
        ))
    })?;
    Ok(CsrInfo {
        key,
        spki_der: spki.raw.to_vec(),
        subject: info.subject.to_string(),
    })
}

/// The key of a CSR the `x-csr` keyword already accepted, without verifying the signature
/// again (for the `csr_public_key_only` warning).
pub(crate) fn key_of(pem: &str) -> Option<KeyAlgorithm> {
    let der = pem_contents(pem).ok()?;
    let (_, csr) = X509CertificationRequest::from_der(&der).ok()?;
    key_algorithm(&csr.certification_request_info.subject_pki, &POLICY).ok()
}

fn pem_contents(pem: &str) -> Result<Vec<u8>, CsrError> {
    let text = pem.trim();
    if !text.starts_with("-----BEGIN ") {
        return Err(CsrError::Parse(
            "expected a PEM block starting with `-----BEGIN CERTIFICATE REQUEST-----`".to_owned(),
        ));
    }
    let mut blocks = x509_parser::pem::Pem::iter_from_buffer(text.as_bytes());
    let first = match blocks.next() {
        Some(Ok(block)) => block,
        Some(Err(err)) => return Err(CsrError::Parse(format!("invalid PEM: {err}"))),
        None => return Err(CsrError::Parse("no PEM block found".to_owned())),
    };
    if first.label != "CERTIFICATE REQUEST" && first.label != "NEW CERTIFICATE REQUEST" {
        return Err(CsrError::Parse(format!(
            "the PEM block is a `{}`, expected a `CERTIFICATE REQUEST`",
            first.label.escape_debug()
        )));
    }
    if blocks.next().is_some() {
        return Err(CsrError::Parse(
            "expected exactly one PEM block, found more".to_owned(),
        ));
    }
    Ok(first.contents)
}

fn key_algorithm(
    spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>,
    policy: &Policy,
) -> Result<KeyAlgorithm, CsrError> {
    let algorithm = &spki.algorithm.algorithm;
    if *algorithm == OID_PKCS1_RSAENCRYPTION {
        let Ok(PublicKey::RSA(rsa)) = spki.parsed() else {
            return Err(CsrError::Parse(
                "the RSA public key does not parse".to_owned(),
            ));
        };
        let bits = modulus_bits(rsa.modulus);
        return if policy.rsa_bits.contains(&bits) {
            Ok(KeyAlgorithm::Rsa { bits })
        } else {
            Err(CsrError::UnsupportedKey(format!("RSA {bits} bits")))
        };
    }
    if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve: Option<Oid<'_>> = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        let allowed = |name: &str| policy.ec_curves.iter().any(|c| c == name);
        return match curve {
            Some(c) if c == OID_EC_P256 && allowed("P-256") => Ok(KeyAlgorithm::EcdsaP256),
            Some(c) if c == OID_NIST_EC_P384 && allowed("P-384") => Ok(KeyAlgorithm::EcdsaP384),
            Some(c) if c == OID_EC_P256 => Err(CsrError::UnsupportedKey("ECDSA P-256".to_owned())),
            Some(c) if c == OID_NIST_EC_P384 => {
                Err(CsrError::UnsupportedKey("ECDSA P-384".to_owned()))
            }
            Some(c) if c.to_id_string() == OID_EC_P521 => {
                Err(CsrError::UnsupportedKey("ECDSA P-521".to_owned()))
            }
            Some(c) => Err(CsrError::UnsupportedKey(format!("ECDSA on curve {c}"))),
            None => Err(CsrError::UnsupportedKey(
                "ECDSA without a named curve".to_owned(),
            )),
        };
    }
    let name = match algorithm.to_id_string().as_str() {
        OID_ED25519 => "Ed25519".to_owned(),
        OID_ED448 => "Ed448".to_owned(),
        other => format!("algorithm {other}"),
    };
    Err(CsrError::UnsupportedKey(name))
}

/// Bit length of a big-endian unsigned modulus (leading zero bytes ignored).
fn modulus_bits(modulus: &[u8]) -> u32 {
    let significant: &[u8] = match modulus.iter().position(|b| *b != 0) {
        Some(first) => &modulus[first..],
        None => &[],
    };
    match significant.first() {
        Some(first) => {
            let len = u32::try_from(significant.len()).unwrap_or(u32::MAX / 16);
            len.saturating_mul(8) - first.leading_zeros()
        }
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modulus_bits_ignores_leading_zeros() {
        assert_eq!(modulus_bits(&[0, 0x80, 0]), 16);
        assert_eq!(modulus_bits(&[0x01, 0]), 9);
        assert_eq!(modulus_bits(&[]), 0);
        assert_eq!(modulus_bits(&[0, 0]), 0);
    }

    #[test]
    fn the_policy_comes_from_the_schema() {
        assert_eq!(
            POLICY.allowed(),
            "RSA 2048, 3072 or 4096 bits, ECDSA P-256 or P-384"
        );
    }

    #[test]
    fn rejects_non_pem() {
        for bad in [
            "",
            "<csr>",
            "-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----",
        ] {
            assert!(matches!(inspect_csr(bad), Err(CsrError::Parse(_))), "{bad}");
        }
    }
}
