//! The in-memory test CA: a root and an intermediate generated at start, issuing real X.509
//! client certificates over the public key of an order's CSR.

use certcentral_types::ProductId;
use certcentral_types::catalog::KeyPolicy;
use chrono::{DateTime, NaiveDate, Utc};
use cms::cert::x509::Certificate as CmsCertificate;
use cms::content_info::ContentInfo;
use der::asn1::{Any, SetOfVec, Utf8StringRef};
use der::{Decode, Encode};
use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, SerialNumber, SigningKey,
    SubjectPublicKeyInfo,
};
use x509_parser::prelude::FromDer;

/// OIDs of the subject attributes the sandbox writes.
const OID_CN: &str = "2.5.4.3";
const OID_O: &str = "2.5.4.10";
const OID_OU: &str = "2.5.4.11";

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

/// What goes into a leaf certificate.
#[derive(Clone, Debug)]
pub(crate) struct LeafSpec {
    pub product: ProductId,
    pub common_name: String,
    pub organization_units: Vec<String>,
    pub organization_id: u64,
    pub emails: Vec<String>,
    pub not_before: DateTime<Utc>,
    /// The last valid day; the certificate ends at 23:59:59 UTC that day.
    pub last_day: NaiveDate,
}

/// An issued leaf certificate.
#[derive(Clone, Debug)]
pub(crate) struct IssuedCert {
    pub der: Vec<u8>,
    pub serial_hex: String,
    pub valid_from: NaiveDate,
    pub valid_till: NaiveDate,
}

/// The sandbox's certificate authority.
pub(crate) struct TestCa {
    root_der: Vec<u8>,
    intermediate_der: Vec<u8>,
    intermediate: CertifiedIssuer<'static, KeyPair>,
    /// The intermediate as an issuer whose "signature" is a placeholder: rcgen builds the
    /// leaf's to-be-signed part with it, [`replace_subject`] then signs once, for real.
    draft_issuer: rcgen::Issuer<'static, DraftKey>,
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
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

impl TestCa {
    /// Generates a fresh root and intermediate (ECDSA P-256, 10 years).
    pub(crate) fn generate() -> Result<Self, rcgen::Error> {
        let now = Utc::now();
        let not_before = to_offset(now - chrono::Duration::days(1))?;
        let not_after = to_offset(now + chrono::Duration::days(3650))?;

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
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
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
        let int_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let draft_issuer = rcgen::Issuer::new(
            int_params.clone(),
            DraftKey {
                public_key: rcgen::PublicKeyData::der_bytes(&int_key).to_vec(),
                algorithm: rcgen::PublicKeyData::algorithm(&int_key),
            },
        );
        let intermediate = CertifiedIssuer::signed_by(int_params, int_key, &root)?;

        Ok(Self {
            root_der: root.der().to_vec(),
            intermediate_der: intermediate.der().to_vec(),
            intermediate,
            draft_issuer,
        })
    }

    /// The root certificate, PEM.
    pub(crate) fn root_pem(&self) -> String {
        pem_cert(&self.root_der)
    }

    /// Issues a leaf certificate for `spec` over `key`.
    pub(crate) fn issue(&self, spec: &LeafSpec, key: &CsrKey) -> Result<IssuedCert, rcgen::Error> {
        let mut params = CertificateParams::default();
        // The subject is written below (rcgen keeps one value per attribute type, and an
        // order may carry several organization units); rcgen gets the CN alone.
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, spec.common_name.as_str());
        params.subject_alt_names = spec
            .emails
            .iter()
            .map(|email| Ok(SanType::Rfc822Name(email.clone().try_into()?)))
            .collect::<Result<Vec<_>, rcgen::Error>>()?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        params.not_before = to_offset(spec.not_before)?;
        params.not_after = to_offset(end_of_day(spec.last_day))?;
        let (key_usages, ekus) = usages(spec.product, key.rsa);
        params.key_usages = key_usages;
        params.extended_key_usages = ekus;

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

/// Key usages and extended key usages for a product.
///
/// - `client_premium_sha2`: email protection + client auth; signature + encipherment/agreement.
/// - `client_email_security_plus`: email protection; signature + encipherment/agreement.
/// - `client_authentication_plus`: client auth; digital signature.
/// - `client_digital_signature_plus_sha2` (document signing): email protection; digital
///   signature + non-repudiation (content commitment), no encipherment.
fn usages(product: ProductId, rsa: bool) -> (Vec<KeyUsagePurpose>, Vec<ExtendedKeyUsagePurpose>) {
    let encipher = if rsa {
        KeyUsagePurpose::KeyEncipherment
    } else {
        KeyUsagePurpose::KeyAgreement
    };
    match product {
        ProductId::ClientPremiumSha2 | ProductId::ClientPremium => (
            vec![KeyUsagePurpose::DigitalSignature, encipher],
            vec![
                ExtendedKeyUsagePurpose::EmailProtection,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        ),
        ProductId::ClientEmailSecurityPlus
        | ProductId::Class1Smime
        | ProductId::SecureEmailMailbox
        | ProductId::SecureEmailSponsor
        | ProductId::SecureEmailOrganization => (
            vec![KeyUsagePurpose::DigitalSignature, encipher],
            vec![ExtendedKeyUsagePurpose::EmailProtection],
        ),
        ProductId::ClientAuthenticationPlus => (
            vec![KeyUsagePurpose::DigitalSignature],
            vec![ExtendedKeyUsagePurpose::ClientAuth],
        ),
        ProductId::ClientDigitalSignaturePlusSha2 | ProductId::ClientDigitalSignaturePlus => (
            vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::ContentCommitment,
            ],
            vec![ExtendedKeyUsagePurpose::EmailProtection],
        ),
    }
}

/// The subject: O (sandbox organization name), every OU in order, CN; UTF8String values.
fn subject_der(spec: &LeafSpec) -> Result<Vec<u8>, der::Error> {
    use cms::cert::x509::attr::AttributeTypeAndValue;
    use cms::cert::x509::name::{RdnSequence, RelativeDistinguishedName};
    use der::oid::ObjectIdentifier;

    let org = format!("Sandbox Organization {}", spec.organization_id);
    let mut attributes: Vec<(&str, &str)> = vec![(OID_O, org.as_str())];
    for unit in &spec.organization_units {
        attributes.push((OID_OU, unit.as_str()));
    }
    attributes.push((OID_CN, spec.common_name.as_str()));

    let mut rdns = Vec::with_capacity(attributes.len());
    for (oid, value) in attributes {
        let atv = AttributeTypeAndValue {
            oid: ObjectIdentifier::new_unwrap(oid),
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

    fn spec(product: ProductId) -> LeafSpec {
        LeafSpec {
            product,
            common_name: "Lock Cole".into(),
            organization_units: vec!["Accounting".into(), "Ops, \"East\"".into()],
            organization_id: 112233,
            emails: vec!["locke.cole@example.com".into(), "lc@example.org".into()],
            not_before: Utc::now(),
            last_day: Utc::now().date_naive() + chrono::Duration::days(365),
        }
    }

    #[test]
    fn issues_a_leaf_with_subject_emails_and_the_csr_key() {
        let ca = TestCa::generate().unwrap();
        let (pem_text, key) = csr_pem(&rcgen::PKCS_ECDSA_P256_SHA256);
        let csr_key = parse_csr(&pem_text, &POLICY).unwrap();
        let issued = ca
            .issue(&spec(ProductId::ClientPremiumSha2), &csr_key)
            .unwrap();
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
        let ca = TestCa::generate().unwrap();
        let (pem_text, _) = csr_pem(&rcgen::PKCS_ECDSA_P384_SHA384);
        let csr_key = parse_csr(&pem_text, &POLICY).unwrap();
        let auth = ca
            .issue(&spec(ProductId::ClientAuthenticationPlus), &csr_key)
            .unwrap();
        let (_, cert) = X509Certificate::from_der(&auth.der).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.email_protection);

        let sign = ca
            .issue(&spec(ProductId::ClientDigitalSignaturePlusSha2), &csr_key)
            .unwrap();
        let (_, cert) = X509Certificate::from_der(&sign.der).unwrap();
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature() && ku.non_repudiation() && !ku.key_agreement());
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.email_protection && !eku.client_auth);
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
