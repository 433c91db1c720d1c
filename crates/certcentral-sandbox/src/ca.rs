//! The in-memory test CA: a root and an intermediate generated at start, issuing real X.509
//! client certificates over the public key of an order's CSR.

use certcentral_types::catalog::KeyPolicy;
use chrono::{DateTime, NaiveDate, Utc};
use cms::cert::x509::Certificate as CmsCertificate;
use cms::content_info::ContentInfo;
use der::asn1::{Any, SetOfVec, Utf8StringRef};
use der::{Decode, Encode};
use rand::Rng;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, SerialNumber, SigningKey,
    SubjectPublicKeyInfo,
};
use x509_parser::prelude::FromDer;

/// certificatePolicies.
const OID_CERTIFICATE_POLICIES: &[u64] = &[2, 5, 29, 32];
/// authorityInfoAccess.
const OID_AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
/// id-ad-caIssuers.
const OID_CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";

/// Why a CSR cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CsrError {
    /// Not PEM, not PKCS#10, or a bad self-signature.
    CannotParse(String),
    /// A key type or size DigiCert does not accept.
    UnsupportedKey(String),
}

/// The public key taken from a CSR (DigiCert uses nothing else from it).
#[derive(Clone, Debug)]
pub(crate) struct CsrKey {
    spki: SubjectPublicKeyInfo,
    /// Whether the key is RSA (key encipherment) rather than EC (key agreement).
    rsa: bool,
}

/// Parses a PEM PKCS#10 CSR, verifies its self-signature and extracts the public key.
pub(crate) fn parse_csr(pem_text: &str, policy: &KeyPolicy) -> Result<CsrKey, CsrError> {
    let allowed = policy.allowed();
    let block = pem::parse(pem_text.trim())
        .map_err(|err| CsrError::CannotParse(format!("the csr is not PEM: {err}")))?;
    if block.tag() != "CERTIFICATE REQUEST" && block.tag() != "NEW CERTIFICATE REQUEST" {
        return Err(CsrError::CannotParse(format!(
            "the csr PEM block is labelled {:?}, expected \"CERTIFICATE REQUEST\"",
            block.tag()
        )));
    }
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(block.contents())
            .map_err(|err| CsrError::CannotParse(format!("the csr is not PKCS#10: {err}")))?;
    csr.verify_signature().map_err(|err| {
        CsrError::CannotParse(format!("the csr self-signature does not verify: {err}"))
    })?;
    let spki_info = &csr.certification_request_info.subject_pki;
    let parsed = spki_info
        .parsed()
        .map_err(|err| CsrError::CannotParse(format!("the csr public key is unreadable: {err}")))?;
    let rsa = match &parsed {
        x509_parser::public_key::PublicKey::RSA(key) => {
            let bits = key.key_size();
            if !u32::try_from(bits).is_ok_and(|bits| policy.allows_rsa(bits)) {
                return Err(CsrError::UnsupportedKey(format!(
                    "the csr has an RSA key of {bits} bits; allowed: {allowed}"
                )));
            }
            true
        }
        x509_parser::public_key::PublicKey::EC(point) => {
            let bits = point.key_size();
            if policy.ecdsa_curve_of_size(bits).is_none() {
                return Err(CsrError::UnsupportedKey(format!(
                    "the csr has an EC key of {bits} bits; allowed: {allowed}"
                )));
            }
            false
        }
        _ => {
            return Err(CsrError::UnsupportedKey(format!(
                "the csr key is neither RSA nor ECDSA; allowed: {allowed}"
            )));
        }
    };
    let spki = SubjectPublicKeyInfo::from_der(spki_info.raw).map_err(|err| {
        CsrError::UnsupportedKey(format!(
            "the csr key algorithm is not supported ({err}); allowed: {allowed}"
        ))
    })?;
    Ok(CsrKey { spki, rsa })
}

/// A subject attribute the sandbox writes (each in its own RDN, UTF8String).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum SubjectAttr {
    CommonName,
    Organization,
    OrganizationalUnit,
    /// `organizationIdentifier` (2.5.4.97).
    OrganizationIdentifier,
    GivenName,
    Surname,
    Pseudonym,
}

impl SubjectAttr {
    /// The attribute type's OID.
    pub(crate) fn oid(self) -> &'static str {
        match self {
            Self::CommonName => "2.5.4.3",
            Self::Organization => "2.5.4.10",
            Self::OrganizationalUnit => "2.5.4.11",
            Self::OrganizationIdentifier => "2.5.4.97",
            Self::GivenName => "2.5.4.42",
            Self::Surname => "2.5.4.4",
            Self::Pseudonym => "2.5.4.65",
        }
    }
}

/// Key usage, independent of the key type: `key_management` becomes keyEncipherment for an
/// RSA key and keyAgreement for an EC key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct KeyUse {
    pub digital_signature: bool,
    pub non_repudiation: bool,
    pub key_management: bool,
}

/// What a leaf certificate holds apart from its dates and key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct CertContents {
    /// The subject attributes, in order.
    pub subject: Vec<(SubjectAttr, String)>,
    /// The rfc822Name SANs.
    pub emails: Vec<String>,
    pub key_use: KeyUse,
    /// EKU id-kp-emailProtection.
    pub email_protection: bool,
    /// EKU id-kp-clientAuth.
    pub client_auth: bool,
    /// The certificate policy OID (dotted), if any.
    pub policy: Option<String>,
}

impl CertContents {
    /// The first value of `attr` in the subject.
    pub(crate) fn first(&self, attr: SubjectAttr) -> Option<&str> {
        self.subject
            .iter()
            .find(|(a, _)| *a == attr)
            .map(|(_, value)| value.as_str())
    }
}

/// What goes into a leaf certificate.
#[derive(Clone, Debug)]
pub(crate) struct LeafSpec {
    pub contents: CertContents,
    pub not_before: DateTime<Utc>,
    /// The last valid day; the certificate ends at 23:59:59 UTC that day.
    pub last_day: NaiveDate,
}

/// Where relying parties find the issuing CA's certificate and CRL. The sandbox serves both
/// paths itself (`/_sandbox/ca/...`); the host in the certificates is [`PKI_ORIGIN`], not the
/// sandbox's loopback address, because the SBR (and pkilint) refuse internal names there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CaUrls {
    /// The intermediate's certificate, DER (AIA caIssuers).
    pub ca_issuers: String,
    /// The intermediate's CRL, DER (CRL distribution point).
    pub crl: String,
}

impl CaUrls {
    /// The URLs under `origin` ([`PKI_ORIGIN`]).
    pub(crate) fn under(origin: &str) -> Self {
        Self {
            ca_issuers: format!("{origin}{CA_ISSUERS_PATH}"),
            crl: format!("{origin}{CRL_PATH}"),
        }
    }
}

/// The origin written in the certificates' AIA and CRL distribution point URLs: a public
/// name reserved for documentation (RFC 2606), so that certificates pass pkilint.
pub(crate) const PKI_ORIGIN: &str = "http://pki.sandbox.example.com";

/// Path of the intermediate's certificate.
pub(crate) const CA_ISSUERS_PATH: &str = "/_sandbox/ca/intermediate.crt";
/// Path of the intermediate's CRL.
pub(crate) const CRL_PATH: &str = "/_sandbox/ca/intermediate.crl";

/// An issued leaf certificate.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct IssuedCert {
    #[serde(with = "der_text")]
    pub der: Vec<u8>,
    pub serial_hex: String,
    pub valid_from: NaiveDate,
    pub valid_till: NaiveDate,
}

/// DER in a state file: written as one base64 string; read from one, or from the array of
/// numbers the first state files held.
mod der_text {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    pub(super) fn serialize<S: serde::Serializer>(der: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(der))
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Der;
        impl<'de> serde::de::Visitor<'de> for Der {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("DER as a base64 string or an array of bytes")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
                STANDARD.decode(text).map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Vec<u8>, A::Error> {
                let mut der = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(byte) = seq.next_element()? {
                    der.push(byte);
                }
                Ok(der)
            }
        }
        d.deserialize_any(Der)
    }
}

/// The sandbox's certificate authority.
pub(crate) struct TestCa {
    root_der: Vec<u8>,
    intermediate_der: Vec<u8>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
    /// The intermediate as an issuer whose "signature" is a placeholder: rcgen builds the
    /// leaf's to-be-signed part with it, [`replace_subject`] then signs once, for real.
    draft_issuer: rcgen::Issuer<'static, DraftKey>,
    /// Where the intermediate's certificate and CRL are published.
    urls: CaUrls,
    /// The keys (PKCS#8 PEM), kept for [`TestCa::to_parts`].
    root_key_pem: String,
    intermediate_key_pem: String,
}

/// A test CA as stored in a state file: both certificates and both keys.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct CaParts {
    #[serde(with = "der_text")]
    pub root_der: Vec<u8>,
    #[serde(with = "der_text")]
    pub intermediate_der: Vec<u8>,
    pub root_key_pem: String,
    pub intermediate_key_pem: String,
}

/// The intermediate's public key with a placeholder signer (see `TestCa::draft_issuer`).
struct DraftKey {
    public_key: Vec<u8>,
    algorithm: &'static rcgen::SignatureAlgorithm,
}

impl rcgen::PublicKeyData for DraftKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.algorithm
    }
}

impl SigningKey for DraftKey {
    fn sign(&self, _msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(Vec::new())
    }
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

fn to_offset(at: DateTime<Utc>) -> Result<time::OffsetDateTime, rcgen::Error> {
    time::OffsetDateTime::from_unix_timestamp(at.timestamp())
        .map_err(|err| rcgen::Error::X509(format!("date out of range: {err}")))
}

fn end_of_day(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(23, 59, 59)
        .map(|at| at.and_utc())
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

impl TestCa {
    /// Generates a fresh root and intermediate (ECDSA P-256, 10 years) publishing their
    /// certificate and CRL at `urls`.
    pub(crate) fn generate(urls: CaUrls) -> Result<Self, rcgen::Error> {
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let int_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        Self::build(root_key, int_key, None, urls)
    }

    /// The CA of a state file: the stored certificates are served as they are; the keys sign.
    pub(crate) fn from_parts(parts: &CaParts, urls: CaUrls) -> Result<Self, rcgen::Error> {
        let root_key = KeyPair::from_pem(&parts.root_key_pem)?;
        let int_key = KeyPair::from_pem(&parts.intermediate_key_pem)?;
        Self::build(root_key, int_key, Some(parts), urls)
    }

    /// What a state file keeps of this CA.
    pub(crate) fn to_parts(&self) -> CaParts {
        CaParts {
            root_der: self.root_der.clone(),
            intermediate_der: self.intermediate_der.clone(),
            root_key_pem: self.root_key_pem.clone(),
            intermediate_key_pem: self.intermediate_key_pem.clone(),
        }
    }

    /// The root and intermediate over the given keys; `stored` certificates replace the
    /// freshly signed ones (same names and keys, so every leaf issued before still chains).
    fn build(
        root_key: KeyPair,
        int_key: KeyPair,
        stored: Option<&CaParts>,
        urls: CaUrls,
    ) -> Result<Self, rcgen::Error> {
        let now = Utc::now();
        let not_before = to_offset(now - chrono::Duration::days(1))?;
        let not_after = to_offset(now + chrono::Duration::days(3650))?;
        let root_key_pem = root_key.serialize_pem();
        let intermediate_key_pem = int_key.serialize_pem();

        let mut root_params = CertificateParams::default();
        root_params.distinguished_name = DistinguishedName::new();
        root_params
            .distinguished_name
            .push(DnType::OrganizationName, "certcentral sandbox");
        root_params
            .distinguished_name
            .push(DnType::CommonName, "certcentral Sandbox Test Root CA");
        root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        root_params.not_before = not_before;
        root_params.not_after = not_after;
        root_params.serial_number = Some(random_serial());
        let root = CertifiedIssuer::self_signed(root_params, root_key)?;

        let mut int_params = CertificateParams::default();
        int_params.distinguished_name = DistinguishedName::new();
        int_params
            .distinguished_name
            .push(DnType::OrganizationName, "certcentral sandbox");
        int_params
            .distinguished_name
            .push(DnType::CommonName, "certcentral Sandbox Test Client CA");
        int_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        int_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        int_params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::EmailProtection,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        int_params.use_authority_key_identifier_extension = true;
        int_params.not_before = not_before;
        int_params.not_after = not_after;
        int_params.serial_number = Some(random_serial());
        let draft_issuer = rcgen::Issuer::new(
            int_params.clone(),
            DraftKey {
                public_key: rcgen::PublicKeyData::der_bytes(&int_key).to_vec(),
                algorithm: rcgen::PublicKeyData::algorithm(&int_key),
            },
        );
        let intermediate = CertifiedIssuer::signed_by(int_params, int_key, &root)?;

        let (root_der, intermediate_der) = match stored {
            Some(parts) => (parts.root_der.clone(), parts.intermediate_der.clone()),
            None => (root.der().to_vec(), intermediate.der().to_vec()),
        };
        Ok(Self {
            root_der,
            intermediate_der,
            intermediate,
            draft_issuer,
            urls,
            root_key_pem,
            intermediate_key_pem,
        })
    }

    /// The intermediate certificate, DER (served at the AIA caIssuers URL).
    pub(crate) fn intermediate_der(&self) -> &[u8] {
        &self.intermediate_der
    }

    /// The root certificate, PEM.
    pub(crate) fn root_pem(&self) -> String {
        pem_cert(&self.root_der)
    }

    /// Issues a leaf certificate for `spec` over `key`.
    pub(crate) fn issue(&self, spec: &LeafSpec, key: &CsrKey) -> Result<IssuedCert, rcgen::Error> {
        let contents = &spec.contents;
        let mut params = CertificateParams::default();
        // The subject is written below (rcgen keeps one value per attribute type, and an
        // order may carry several organization units); rcgen gets the CN alone.
        params.distinguished_name = DistinguishedName::new();
        if let Some(cn) = contents.first(SubjectAttr::CommonName) {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        params.subject_alt_names = contents
            .emails
            .iter()
            .map(|email| Ok(SanType::Rfc822Name(email.clone().try_into()?)))
            .collect::<Result<Vec<_>, rcgen::Error>>()?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        params.not_before = to_offset(spec.not_before)?;
        params.not_after = to_offset(end_of_day(spec.last_day))?;
        params.key_usages = key_usages(contents.key_use, key.rsa);
        params.extended_key_usages = [
            (
                contents.email_protection,
                ExtendedKeyUsagePurpose::EmailProtection,
            ),
            (contents.client_auth, ExtendedKeyUsagePurpose::ClientAuth),
        ]
        .into_iter()
        .filter_map(|(wanted, purpose)| wanted.then_some(purpose))
        .collect();
        params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
            uris: vec![self.urls.crl.clone()],
        }];
        let mut aia = der_wrap(0x06, &oid_der(OID_CA_ISSUERS)?);
        aia.extend_from_slice(&der_wrap(0x86, self.urls.ca_issuers.as_bytes()));
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                OID_AUTHORITY_INFO_ACCESS,
                der_wrap(0x30, &der_wrap(0x30, &aia)),
            ));
        if let Some(policy) = &contents.policy {
            let info = der_wrap(0x30, &der_wrap(0x06, &oid_der(policy)?));
            params
                .custom_extensions
                .push(rcgen::CustomExtension::from_oid_content(
                    OID_CERTIFICATE_POLICIES,
                    der_wrap(0x30, &info),
                ));
        }

        let draft = params.signed_by(&key.spki, &self.draft_issuer)?;
        let subject = subject_der(spec)
            .map_err(|err| rcgen::Error::X509(format!("cannot encode the subject: {err}")))?;
        let der = replace_subject(draft.der(), &subject, self.intermediate.key())?;
        let serial_hex = params
            .serial_number
            .as_ref()
            .map(|serial| {
                serial
                    .to_bytes()
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect::<String>()
            })
            .unwrap_or_default();
        Ok(IssuedCert {
            der,
            serial_hex,
            valid_from: spec.not_before.date_naive(),
            valid_till: spec.last_day,
        })
    }

    /// The chain for a download format: leaf first.
    pub(crate) fn chain<'a>(
        &'a self,
        leaf: &'a [u8],
        with_int: bool,
        with_root: bool,
    ) -> Vec<&'a [u8]> {
        let mut chain = vec![leaf];
        if with_int {
            chain.push(&self.intermediate_der);
        }
        if with_root {
            chain.push(&self.root_der);
        }
        chain
    }

    /// The full chain (leaf, intermediate, root), each with its subject's common name.
    pub(crate) fn named_chain<'a>(&'a self, leaf: &'a [u8]) -> Vec<(Option<String>, &'a [u8])> {
        self.chain(leaf, true, true)
            .into_iter()
            .map(|der| {
                let cn = x509_parser::certificate::X509Certificate::from_der(der)
                    .ok()
                    .and_then(|(_, cert)| {
                        cert.subject()
                            .iter_common_name()
                            .next()
                            .and_then(|cn| cn.as_str().ok())
                            .map(str::to_owned)
                    });
                (cn, der)
            })
            .collect()
    }

    /// A degenerate PKCS#7 SignedData (certs only) holding leaf, intermediate and root, DER.
    pub(crate) fn p7b(&self, leaf: &[u8]) -> Result<Vec<u8>, der::Error> {
        let certs = self
            .chain(leaf, true, true)
            .into_iter()
            .map(CmsCertificate::from_der)
            .collect::<Result<Vec<_>, _>>()?;
        let info = ContentInfo::try_from(certs)?;
        info.to_der()
    }
}

/// One revoked certificate for [`TestCa::crl`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RevokedSerial {
    /// The serial number, upper-case hex as in `IssuedCert::serial_hex`.
    pub serial_hex: String,
    /// When the revocation took effect.
    pub revoked_at: DateTime<Utc>,
}

impl TestCa {
    /// A CRL (DER) signed by the intermediate, the issuer of every leaf: `revoked` listed,
    /// `this_update` at `now`, `next_update` a day later, CRL number `number`.
    pub(crate) fn crl(
        &self,
        revoked: &[RevokedSerial],
        now: DateTime<Utc>,
        number: u64,
    ) -> Result<Vec<u8>, rcgen::Error> {
        let revoked_certs = revoked
            .iter()
            .map(|r| {
                let bytes = hex_bytes(&r.serial_hex).ok_or_else(|| {
                    rcgen::Error::X509(format!("serial {:?} is not hex", r.serial_hex))
                })?;
                Ok(rcgen::RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&bytes),
                    revocation_time: to_offset(r.revoked_at)?,
                    reason_code: None,
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, rcgen::Error>>()?;
        let params = rcgen::CertificateRevocationListParams {
            this_update: to_offset(now)?,
            next_update: to_offset(now + chrono::Duration::days(1))?,
            crl_number: SerialNumber::from(number.max(1)),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.intermediate)?.der().to_vec())
    }
}

/// Decodes upper- or lower-case hex (an even number of digits).
fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The key usage bits: digitalSignature, nonRepudiation (contentCommitment), and for key
/// management keyEncipherment (RSA) or keyAgreement (EC).
fn key_usages(key_use: KeyUse, rsa: bool) -> Vec<KeyUsagePurpose> {
    let management = if rsa {
        KeyUsagePurpose::KeyEncipherment
    } else {
        KeyUsagePurpose::KeyAgreement
    };
    [
        (key_use.digital_signature, KeyUsagePurpose::DigitalSignature),
        (key_use.non_repudiation, KeyUsagePurpose::ContentCommitment),
        (key_use.key_management, management),
    ]
    .into_iter()
    .filter_map(|(wanted, usage)| wanted.then_some(usage))
    .collect()
}

/// The content octets of a dotted OID.
fn oid_der(dotted: &str) -> Result<Vec<u8>, rcgen::Error> {
    let oid = der::oid::ObjectIdentifier::new(dotted)
        .map_err(|err| rcgen::Error::X509(format!("bad OID {dotted}: {err}")))?;
    Ok(oid.as_bytes().to_vec())
}

/// The subject: every attribute in order, one per RDN, UTF8String values.
fn subject_der(spec: &LeafSpec) -> Result<Vec<u8>, der::Error> {
    use cms::cert::x509::attr::AttributeTypeAndValue;
    use cms::cert::x509::name::{RdnSequence, RelativeDistinguishedName};
    use der::oid::ObjectIdentifier;

    let mut rdns = Vec::with_capacity(spec.contents.subject.len());
    for (attr, value) in &spec.contents.subject {
        let atv = AttributeTypeAndValue {
            oid: ObjectIdentifier::new(attr.oid())?,
            value: Any::from(Utf8StringRef::new(value)?),
        };
        rdns.push(RelativeDistinguishedName(SetOfVec::try_from(vec![atv])?));
    }
    RdnSequence(rdns).to_der()
}

/// Rebuilds `cert` with `subject` in place of its subject and signs it with `key` (the
/// signature `cert` carries is ignored).
fn replace_subject(cert: &[u8], subject: &[u8], key: &KeyPair) -> Result<Vec<u8>, rcgen::Error> {
    let bad = |what: &str| rcgen::Error::X509(format!("cannot rebuild the certificate: {what}"));
    let (_, parsed) =
        x509_parser::certificate::X509Certificate::from_der(cert).map_err(|_| bad("parse"))?;
    let tbs = parsed.tbs_certificate.as_ref();
    let old_subject = parsed.tbs_certificate.subject.as_raw();
    let base = cert.as_ptr() as usize;
    let tbs_start = (tbs.as_ptr() as usize)
        .checked_sub(base)
        .ok_or_else(|| bad("tbs offset"))?;
    let tbs_end = tbs_start + tbs.len();
    let subject_start = (old_subject.as_ptr() as usize)
        .checked_sub(base)
        .ok_or_else(|| bad("subject offset"))?;
    let subject_end = subject_start + old_subject.len();
    let tbs_header = der_header_len(tbs).ok_or_else(|| bad("tbs header"))?;
    if subject_start < tbs_start + tbs_header || subject_end > tbs_end {
        return Err(bad("subject outside tbs"));
    }
    let mut tbs_body = Vec::with_capacity(tbs.len() + subject.len());
    tbs_body.extend_from_slice(&cert[tbs_start + tbs_header..subject_start]);
    tbs_body.extend_from_slice(subject);
    tbs_body.extend_from_slice(&cert[subject_end..tbs_end]);
    let new_tbs = der_wrap(0x30, &tbs_body);

    // signatureAlgorithm follows the TBS in the outer SEQUENCE; keep it as is.
    let rest = &cert[tbs_end..];
    let alg_len = der_element_len(rest).ok_or_else(|| bad("signature algorithm"))?;
    let algorithm = &rest[..alg_len];
    let signature = key.sign(&new_tbs)?;
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0);
    bits.extend_from_slice(&signature);

    let mut body = new_tbs;
    body.extend_from_slice(algorithm);
    body.extend_from_slice(&der_wrap(0x03, &bits));
    Ok(der_wrap(0x30, &body))
}

/// Length of a DER header (tag + length octets) at the start of `bytes`.
fn der_header_len(bytes: &[u8]) -> Option<usize> {
    let first = *bytes.get(1)?;
    if first < 0x80 {
        Some(2)
    } else {
        Some(2 + usize::from(first & 0x7f))
    }
}

/// Total length (header + content) of the DER element at the start of `bytes`.
fn der_element_len(bytes: &[u8]) -> Option<usize> {
    let header = der_header_len(bytes)?;
    let first = *bytes.get(1)?;
    let content = if first < 0x80 {
        usize::from(first)
    } else {
        bytes
            .get(2..header)?
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    let total = header.checked_add(content)?;
    (total <= bytes.len()).then_some(total)
}

/// `tag || length || content` in DER.
fn der_wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// PEM text of one certificate.
pub(crate) fn pem_cert(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use certcentral_types::catalog::KEY_POLICY_RSA_OR_ECDSA as POLICY;
    use x509_parser::prelude::*;

    fn csr_pem(alg: &'static rcgen::SignatureAlgorithm) -> (String, KeyPair) {
        let key = KeyPair::generate_for(alg).unwrap();
        let params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let csr = params.serialize_request(&key).unwrap();
        (csr.pem().unwrap(), key)
    }

    fn spec(product: &str) -> LeafSpec {
        let body = serde_json::json!({
            "certificate": {
                "common_name": "Lock Cole",
                "organization_units": ["Accounting", "Ops, \"East\""],
                "emails": ["locke.cole@example.com", "lc@example.org"],
            },
            "organization": {"id": 112233},
        });
        LeafSpec {
            contents: crate::smime::contents(product, &body),
            not_before: Utc::now(),
            last_day: Utc::now().date_naive() + chrono::Duration::days(365),
        }
    }

    fn test_ca() -> TestCa {
        TestCa::generate(CaUrls::under(PKI_ORIGIN)).unwrap()
    }

    #[test]
    fn issues_a_leaf_with_subject_emails_and_the_csr_key() {
        let ca = test_ca();
        let (pem_text, key) = csr_pem(&rcgen::PKCS_ECDSA_P256_SHA256);
        let csr_key = parse_csr(&pem_text, &POLICY).unwrap();
        let issued = ca.issue(&spec("client_premium_sha2"), &csr_key).unwrap();
        let (_, cert) = X509Certificate::from_der(&issued.der).unwrap();

        let cns: Vec<_> = cert
            .subject()
            .iter_common_name()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(cns, ["Lock Cole"]);
        let ous: Vec<_> = cert
            .subject()
            .iter_organizational_unit()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(ous, ["Accounting", "Ops, \"East\""]);
        assert_eq!(
            cert.public_key().subject_public_key.data.as_ref(),
            key.public_key_raw()
        );
        let san = cert.subject_alternative_name().unwrap().unwrap();
        let emails: Vec<_> = san
            .value
            .general_names
            .iter()
            .map(|name| match name {
                GeneralName::RFC822Name(email) => *email,
                other => panic!("unexpected SAN {other:?}"),
            })
            .collect();
        assert_eq!(emails, ["locke.cole@example.com", "lc@example.org"]);
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.email_protection && eku.client_auth && !eku.server_auth);
        assert_eq!(cert.validity().not_after.to_datetime().hour(), 23);
        assert_eq!(cert.validity().not_after.to_datetime().second(), 59);

        // Signed by the intermediate, which is signed by the root.
        let (_, int) = X509Certificate::from_der(&ca.intermediate_der).unwrap();
        let (_, root) = X509Certificate::from_der(&ca.root_der).unwrap();
        cert.verify_signature(Some(int.public_key())).unwrap();
        int.verify_signature(Some(root.public_key())).unwrap();
        assert_eq!(cert.issuer(), int.subject());
    }

    #[test]
    fn usages_fit_the_product() {
        let ca = test_ca();
        let (pem_text, _) = csr_pem(&rcgen::PKCS_ECDSA_P384_SHA384);
        let csr_key = parse_csr(&pem_text, &POLICY).unwrap();
        let auth = ca
            .issue(&spec("client_authentication_plus"), &csr_key)
            .unwrap();
        let (_, cert) = X509Certificate::from_der(&auth.der).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.email_protection);

        let sign = ca
            .issue(&spec("client_digital_signature_plus_sha2"), &csr_key)
            .unwrap();
        let (_, cert) = X509Certificate::from_der(&sign.der).unwrap();
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && ku.non_repudiation() && !ku.key_agreement());
        // A legacy S/MIME product: the multipurpose profile since 2025-07-10.
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.email_protection && eku.client_auth);
    }

    #[test]
    fn rejects_bad_csrs() {
        assert!(matches!(
            parse_csr("hello", &POLICY),
            Err(CsrError::CannotParse(_))
        ));
        let not_csr = ::pem::encode(&::pem::Pem::new(
            "CERTIFICATE REQUEST",
            vec![0x30, 0x03, 1, 2, 3],
        ));
        assert!(matches!(
            parse_csr(&not_csr, &POLICY),
            Err(CsrError::CannotParse(_))
        ));
        let (pem_text, _) = csr_pem(&rcgen::PKCS_ED25519);
        assert!(matches!(
            parse_csr(&pem_text, &POLICY),
            Err(CsrError::UnsupportedKey(_))
        ));
    }

    #[test]
    fn der_helpers_round_trip() {
        for len in [0usize, 5, 127, 128, 255, 256, 70_000] {
            let content = vec![7u8; len];
            let wrapped = der_wrap(0x04, &content);
            assert_eq!(der_element_len(&wrapped), Some(wrapped.len()));
        }
        assert_eq!(der_element_len(&[0x30, 0x05, 1]), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn der_wrap_then_measure(len in 0usize..70_000, tag in 0u8..=255) {
            let wrapped = der_wrap(tag, &vec![0u8; len]);
            proptest::prop_assert_eq!(der_element_len(&wrapped), Some(wrapped.len()));
            proptest::prop_assert_eq!(der_header_len(&wrapped), Some(wrapped.len() - len));
        }

        #[test]
        fn der_measure_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..16)) {
            if let Some(len) = der_element_len(&bytes) {
                proptest::prop_assert!(len <= bytes.len());
            }
        }
    }
}
