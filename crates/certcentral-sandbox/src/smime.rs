//! What an issued certificate holds, per product and order: the CA/B Forum S/MIME Baseline
//! Requirements profiles as the contract's section 5 (`secure-email-and-2025-changes.md`)
//! describes them.
//!
//! The order members read here (`common_name_indicator`, `individual`, `usage_designation`,
//! `profile_type`) are read leniently from the request JSON: the body was validated before it
//! got here, and a member of an unexpected shape is treated as absent rather than refused.

use std::str::FromStr;

use certcentral_types::ProductId;
use certcentral_types::catalog::Family;
use serde_json::Value;

use crate::ca::{CertContents, KeyUse, SubjectAttr};

/// Which generation an S/MIME product's certificates get, from the catalog
/// (`smime.generation`: the order's `profile_type`, or always multipurpose).
pub(crate) use certcentral_types::catalog::SmimeGeneration;
/// The validation type of an S/MIME certificate (the `V` of the reserved policy OID
/// `2.23.140.1.5.V.G`), from the catalog (`smime.validation` of a product in
/// `schema/catalog.json`).
pub(crate) use certcentral_types::catalog::SmimeValidation as ValidationType;

/// The generation of an issued S/MIME certificate profile (the `G` of `2.23.140.1.5.V.G`).
/// The legacy generation (`G` = 1) is no longer issued (contract section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Generation {
    /// Email protection, may add client authentication.
    Multipurpose,
    /// Email protection only.
    Strict,
}

/// The reserved CA/B Forum certificate policy OID of a validation type and generation.
pub(crate) fn policy_oid(validation: ValidationType, generation: Generation) -> String {
    let v = match validation {
        ValidationType::Mailbox => 1,
        ValidationType::Organization => 2,
        ValidationType::Sponsored => 3,
    };
    let g = match generation {
        Generation::Multipurpose => 2,
        Generation::Strict => 3,
    };
    format!("2.23.140.1.5.{v}.{g}")
}

/// The validation type and generation rule of an S/MIME product (its `product_name_id`), as
/// the catalog describes it; `None` for a product that is not S/MIME (or not in the catalog).
pub(crate) fn smime_product(product: &str) -> Option<(ValidationType, SmimeGeneration)> {
    let smime = ProductId::from_str(product).ok()?.spec().smime?;
    Some((smime.validation, smime.generation))
}

/// Every S/MIME `product_name_id` of the catalog (for tests).
#[cfg(test)]
pub(crate) fn smime_product_ids() -> impl Iterator<Item = &'static str> {
    ProductId::ALL
        .iter()
        .filter(|p| p.spec().smime.is_some())
        .map(|p| p.as_str())
}

/// `certificate.common_name_indicator`: where the subject CN comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Indicator {
    EmailAddress,
    GivenNameSurname,
    Pseudonym,
    OrganizationName,
}

impl FromStr for Indicator {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "email_address" => Ok(Self::EmailAddress),
            "given_name_surname" => Ok(Self::GivenNameSurname),
            "pseudonym" => Ok(Self::Pseudonym),
            "organization_name" => Ok(Self::OrganizationName),
            _ => Err(()),
        }
    }
}

/// The person in a sponsor-validated subject: a name or a pseudonym, never both (SBR).
enum Person {
    Name {
        given: Option<String>,
        surname: Option<String>,
    },
    Pseudonym(String),
}

impl Person {
    fn name(given: Option<String>, surname: Option<String>) -> Option<Self> {
        (given.is_some() || surname.is_some()).then_some(Self::Name { given, surname })
    }

    /// `given surname`, or whichever is present.
    fn display(&self) -> String {
        match self {
            Self::Name { given, surname } => [given.as_deref(), surname.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
            Self::Pseudonym(pseudonym) => pseudonym.clone(),
        }
    }

    fn attributes(&self) -> Vec<(SubjectAttr, String)> {
        match self {
            Self::Name { given, surname } => [
                (SubjectAttr::GivenName, given),
                (SubjectAttr::Surname, surname),
            ]
            .into_iter()
            .filter_map(|(attr, value)| value.clone().map(|v| (attr, v)))
            .collect(),
            Self::Pseudonym(pseudonym) => vec![(SubjectAttr::Pseudonym, pseudonym.clone())],
        }
    }
}

/// A non-empty, trimmed string at `pointer`.
fn text_at(body: &Value, pointer: &str) -> Option<String> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// The strings of an array at `pointer` (other members ignored).
fn texts_at(body: &Value, pointer: &str) -> Vec<String> {
    body.pointer(pointer)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A seed-style `common_name` read as a person's name: the last word is the surname, the
/// words before it the given name. Used only when a sponsor-validated order names no
/// `individual` (the seed's body, which DigiCert no longer accepts for S/MIME products).
fn name_from_common_name(common_name: &str) -> Option<Person> {
    let words: Vec<&str> = common_name.split_whitespace().collect();
    let (surname, given) = words.split_last()?;
    let given = (!given.is_empty()).then(|| given.join(" "));
    Person::name(given, Some((*surname).to_owned()))
}

/// The sandbox organization's display name.
pub(crate) fn organization_name(id: u64) -> String {
    format!("Sandbox Organization {id}")
}

/// The sandbox organization's `organizationIdentifier` (SBR 7.1.4.2.2 (d): scheme, country,
/// `-`, registration reference).
pub(crate) fn organization_identifier(id: u64) -> String {
    format!("NTRUS-{id}")
}

/// What the certificate for an order of `product` (its `product_name_id`) with `body` (the
/// validated request JSON) holds, apart from dates.
pub(crate) fn contents(product: &str, body: &Value) -> CertContents {
    let order = OrderText::read(body);
    let Some((validation, line)) = smime_product(product) else {
        return order.client_auth_contents();
    };
    let generation = match (line, text_at(body, "/certificate/profile_type").as_deref()) {
        (SmimeGeneration::Multipurpose, _) | (SmimeGeneration::AsOrdered, Some("multipurpose")) => {
            Generation::Multipurpose
        }
        // Absent: the account's default, strict out of the box.
        (SmimeGeneration::AsOrdered, _) => Generation::Strict,
    };
    let family = ProductId::from_str(product)
        .ok()
        .map(|product| product.spec().family);
    CertContents {
        subject: order.smime_subject(validation),
        key_use: key_use(body, family),
        emails: order.emails,
        email_protection: true,
        client_auth: generation == Generation::Multipurpose,
        policy: Some(policy_oid(validation, generation)),
    }
}

/// The parts of an order body every subject is made of.
struct OrderText<'a> {
    body: &'a Value,
    emails: Vec<String>,
    /// The first email address (empty when there is none).
    first_email: String,
    organization_id: u64,
    common_name: Option<String>,
    units: Vec<String>,
}

impl<'a> OrderText<'a> {
    fn read(body: &'a Value) -> Self {
        let emails = texts_at(body, "/certificate/emails");
        Self {
            body,
            first_email: emails.first().cloned().unwrap_or_default(),
            emails,
            organization_id: body
                .pointer("/organization/id")
                .and_then(Value::as_u64)
                .unwrap_or_default(),
            common_name: text_at(body, "/certificate/common_name"),
            units: texts_at(body, "/certificate/organization_units"),
        }
    }

    /// Not S/MIME (client authentication): the seed's subject, client authentication only.
    fn client_auth_contents(self) -> CertContents {
        let mut subject = vec![(
            SubjectAttr::Organization,
            organization_name(self.organization_id),
        )];
        subject.extend(
            self.units
                .into_iter()
                .map(|unit| (SubjectAttr::OrganizationalUnit, unit)),
        );
        subject.push((
            SubjectAttr::CommonName,
            self.common_name.unwrap_or(self.first_email),
        ));
        CertContents {
            subject,
            emails: self.emails,
            key_use: KeyUse {
                digital_signature: true,
                non_repudiation: false,
                key_management: false,
            },
            email_protection: false,
            client_auth: true,
            policy: None,
        }
    }

    /// The organization's attributes of an organization- or sponsor-validated subject.
    fn organization(&self) -> Vec<(SubjectAttr, String)> {
        let mut attributes = vec![
            (
                SubjectAttr::Organization,
                organization_name(self.organization_id),
            ),
            (
                SubjectAttr::OrganizationIdentifier,
                organization_identifier(self.organization_id),
            ),
        ];
        attributes.extend(
            self.units
                .iter()
                .map(|unit| (SubjectAttr::OrganizationalUnit, unit.clone())),
        );
        attributes
    }

    /// The subject of an S/MIME certificate of `validation`.
    fn smime_subject(&self, validation: ValidationType) -> Vec<(SubjectAttr, String)> {
        let indicator = text_at(self.body, "/certificate/common_name_indicator")
            .and_then(|text| text.parse::<Indicator>().ok());
        match validation {
            ValidationType::Mailbox => vec![(SubjectAttr::CommonName, self.first_email.clone())],
            ValidationType::Organization => {
                let cn = match indicator {
                    Some(Indicator::OrganizationName) => organization_name(self.organization_id),
                    _ => self.first_email.clone(),
                };
                let mut subject = self.organization();
                subject.push((SubjectAttr::CommonName, cn));
                subject
            }
            ValidationType::Sponsored => self.sponsored_subject(indicator),
        }
    }

    /// The subject of a sponsor-validated certificate: the organization, the person (by name
    /// or pseudonym, as the indicator prefers) and a common name.
    fn sponsored_subject(&self, indicator: Option<Indicator>) -> Vec<(SubjectAttr, String)> {
        let body = self.body;
        let names = Person::name(
            text_at(body, "/certificate/individual/first_name"),
            text_at(body, "/certificate/individual/last_name"),
        );
        let pseudonym = text_at(body, "/certificate/individual/pseudonym").map(Person::Pseudonym);
        let person = match indicator {
            Some(Indicator::Pseudonym) => pseudonym.or(names),
            _ => names.or(pseudonym),
        }
        .or_else(|| self.common_name.as_deref().and_then(name_from_common_name));
        let cn = match (indicator, &person) {
            (Some(Indicator::EmailAddress), _) | (_, None) => self.first_email.clone(),
            // The seed's body: its common name as written.
            (None, Some(_)) if self.common_name.is_some() && !has_individual(body) => {
                self.common_name.clone().unwrap_or_default()
            }
            (_, Some(person)) => person.display(),
        };
        let mut subject = self.organization();
        if let Some(person) = &person {
            subject.extend(person.attributes());
        }
        subject.push((SubjectAttr::CommonName, cn));
        subject
    }
}

/// The key usage of an S/MIME certificate: as the usage designation asks, else by the
/// product's family.
fn key_use(body: &Value, family: Option<Family>) -> KeyUse {
    let primary = text_at(body, "/certificate/usage_designation/primary_usage");
    let additional = texts_at(body, "/certificate/usage_designation/additional_usages");
    let asks_non_repudiation = additional.iter().any(|usage| usage == "non_repudiation");
    match primary.as_deref() {
        Some("signing") => KeyUse {
            digital_signature: true,
            non_repudiation: asks_non_repudiation,
            key_management: false,
        },
        Some("key_management") => KeyUse {
            digital_signature: false,
            non_repudiation: false,
            key_management: true,
        },
        Some("dual_use") => KeyUse {
            digital_signature: true,
            non_repudiation: asks_non_repudiation,
            key_management: true,
        },
        // No usage designation: a document-signing product signs (with non-repudiation),
        // every other product signs and encrypts mail.
        _ if family == Some(Family::DocumentSigning) => KeyUse {
            digital_signature: true,
            non_repudiation: true,
            key_management: false,
        },
        _ => KeyUse {
            digital_signature: true,
            non_repudiation: asks_non_repudiation,
            key_management: true,
        },
    }
}

/// Whether the order names an `individual` with any member.
fn has_individual(body: &Value) -> bool {
    body.pointer("/certificate/individual")
        .and_then(Value::as_object)
        .is_some_and(|individual| !individual.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::{CaUrls, LeafSpec, TestCa, parse_csr};
    use certcentral_types::catalog::KEY_POLICY_RSA_OR_ECDSA as POLICY;
    use chrono::Utc;
    use serde_json::json;
    use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
    use x509_parser::prelude::{FromDer, X509Certificate};

    const EMAILS: [&str; 2] = ["locke.cole@example.com", "lc@example.org"];
    const ORG: &str = "Sandbox Organization 112233";
    const ORG_ID: &str = "NTRUS-112233";
    const CN: &str = "2.5.4.3";
    const O: &str = "2.5.4.10";
    const OU: &str = "2.5.4.11";
    const ORG_IDENTIFIER: &str = "2.5.4.97";
    const GIVEN_NAME: &str = "2.5.4.42";
    const SURNAME: &str = "2.5.4.4";
    const PSEUDONYM: &str = "2.5.4.65";

    /// One order of the matrix: product x profile x indicator (usage and key vary along).
    #[derive(Clone, Debug)]
    struct Case {
        product: &'static str,
        profile: Option<&'static str>,
        indicator: Option<&'static str>,
        usage: Option<&'static str>,
        key: Key,
    }

    /// The CSR key of a case.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Key {
        P256,
        P384,
        Rsa2048,
    }

    impl Key {
        /// A fresh EC key, or the one RSA key of the test run (RSA generation is slow).
        fn pair(self) -> rcgen::KeyPair {
            static RSA: std::sync::OnceLock<String> = std::sync::OnceLock::new();
            match self {
                Self::P256 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
                Self::P384 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
                Self::Rsa2048 => {
                    let pem = RSA.get_or_init(|| {
                        use rsa::pkcs8::EncodePrivateKey;
                        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                            .unwrap()
                            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                            .unwrap()
                            .to_string()
                    });
                    rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(pem, &rcgen::PKCS_RSA_SHA256)
                }
            }
            .unwrap()
        }
    }

    impl Case {
        fn validation(&self) -> ValidationType {
            smime_product(self.product).unwrap().0
        }

        fn legacy(&self) -> bool {
            smime_product(self.product).unwrap().1 == SmimeGeneration::Multipurpose
        }

        fn body(&self) -> Value {
            let mut certificate = json!({
                "emails": EMAILS,
                "signature_hash": "sha256",
                "organization_units": ["Accounting"],
            });
            if self.legacy() && self.validation() == ValidationType::Sponsored {
                certificate["common_name"] = json!("Lock Cole");
            }
            if let Some(indicator) = self.indicator {
                certificate["common_name_indicator"] = json!(indicator);
            }
            if self.validation() == ValidationType::Sponsored {
                match self.indicator {
                    Some("pseudonym") => {
                        certificate["individual"] = json!({"pseudonym": "Blackjack"});
                    }
                    Some(_) => {
                        certificate["individual"] =
                            json!({"first_name": "Locke", "last_name": "Cole"});
                    }
                    None => {}
                }
            }
            if let Some(usage) = self.usage {
                certificate["usage_designation"] = json!({"primary_usage": usage});
                if usage == "signing" {
                    certificate["usage_designation"]["additional_usages"] =
                        json!(["non_repudiation"]);
                }
            }
            if let Some(profile) = self.profile {
                certificate["profile_type"] = json!(profile);
            }
            json!({"certificate": certificate, "organization": {"id": 112233}, "validity_years": 1})
        }

        fn multipurpose(&self) -> bool {
            self.legacy() || self.profile == Some("multipurpose")
        }

        fn policy(&self) -> String {
            let v = match self.validation() {
                ValidationType::Mailbox => 1,
                ValidationType::Organization => 2,
                ValidationType::Sponsored => 3,
            };
            format!(
                "2.23.140.1.5.{v}.{}",
                if self.multipurpose() { 2 } else { 3 }
            )
        }

        /// (digitalSignature, nonRepudiation, key management: keyEncipherment for RSA,
        /// keyAgreement for EC).
        fn key_usage(&self) -> (bool, bool, bool) {
            // The catalog's family decides the default (a product the catalog does not list
            // yet signs and encrypts).
            let document_signing = ProductId::from_str(self.product)
                .is_ok_and(|product| product.spec().family == Family::DocumentSigning);
            match self.usage {
                Some("signing") => (true, true, false),
                Some("key_management") => (false, false, true),
                Some("dual_use") => (true, false, true),
                _ if document_signing => (true, true, false),
                _ => (true, false, true),
            }
        }

        /// The subject, attribute by attribute (OID, value).
        fn subject(&self) -> Vec<(&'static str, &'static str)> {
            let org = [(O, ORG), (ORG_IDENTIFIER, ORG_ID), (OU, "Accounting")];
            match (self.validation(), self.indicator) {
                (ValidationType::Mailbox, _) => vec![(CN, EMAILS[0])],
                (ValidationType::Organization, Some("organization_name")) => {
                    [&org[..], &[(CN, ORG)]].concat()
                }
                (ValidationType::Organization, _) => [&org[..], &[(CN, EMAILS[0])]].concat(),
                (ValidationType::Sponsored, Some("pseudonym")) => {
                    [&org[..], &[(PSEUDONYM, "Blackjack"), (CN, "Blackjack")]].concat()
                }
                (ValidationType::Sponsored, Some("email_address")) => [
                    &org[..],
                    &[(GIVEN_NAME, "Locke"), (SURNAME, "Cole"), (CN, EMAILS[0])],
                ]
                .concat(),
                (ValidationType::Sponsored, Some(_)) => [
                    &org[..],
                    &[(GIVEN_NAME, "Locke"), (SURNAME, "Cole"), (CN, "Locke Cole")],
                ]
                .concat(),
                // The seed's body: its common name read as given name and surname.
                (ValidationType::Sponsored, None) => [
                    &org[..],
                    &[(GIVEN_NAME, "Lock"), (SURNAME, "Cole"), (CN, "Lock Cole")],
                ]
                .concat(),
            }
        }
    }

    /// Every product x profile (absent, strict, multipurpose) x indicator the product takes;
    /// primary usage and key type (P-256, RSA 2048, P-384) rotate along the matrix.
    fn matrix() -> Vec<Case> {
        let usages = [
            None,
            Some("signing"),
            Some("key_management"),
            Some("dual_use"),
        ];
        let mut cases = Vec::new();
        for product in smime_product_ids() {
            let (validation, line) = smime_product(product).unwrap();
            let indicators: &[Option<&'static str>] = match (validation, line) {
                (ValidationType::Mailbox, _) => &[None],
                (ValidationType::Organization, _) => {
                    &[Some("email_address"), Some("organization_name")]
                }
                (ValidationType::Sponsored, SmimeGeneration::AsOrdered) => &[
                    Some("given_name_surname"),
                    Some("pseudonym"),
                    Some("email_address"),
                ],
                (ValidationType::Sponsored, SmimeGeneration::Multipurpose) => {
                    &[None, Some("given_name_surname"), Some("pseudonym")]
                }
            };
            for profile in [None, Some("strict"), Some("multipurpose")] {
                for indicator in indicators {
                    let n = cases.len();
                    cases.push(Case {
                        product,
                        profile,
                        indicator: *indicator,
                        usage: usages[n % usages.len()],
                        key: [Key::P256, Key::Rsa2048, Key::P384][n % 3],
                    });
                }
            }
        }
        cases
    }

    fn issue(ca: &TestCa, case: &Case) -> Vec<u8> {
        let key = case.key.pair();
        let csr = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let spec = LeafSpec {
            contents: contents(case.product, &case.body()),
            not_before: Utc::now(),
            last_day: Utc::now().date_naive() + chrono::Duration::days(365),
        };
        ca.issue(&spec, &parse_csr(&csr, &POLICY).unwrap())
            .unwrap()
            .der
    }

    fn test_ca() -> TestCa {
        TestCa::generate(CaUrls::under(crate::ca::PKI_ORIGIN)).unwrap()
    }

    #[test]
    fn every_combination_holds_what_its_profile_says() {
        let ca = test_ca();
        let cases = matrix();
        assert!(cases.len() > 50, "{} cases", cases.len());
        for case in &cases {
            let der = issue(&ca, case);
            let (_, cert) = X509Certificate::from_der(&der).unwrap();
            check_subject(&cert, case);
            check_usages(&cert, case);
            check_policy_and_ca_urls(&cert, case);
            check_san(&cert, case);
        }
    }

    /// The subject holds what the case's profile says, in order.
    fn check_subject(cert: &X509Certificate<'_>, case: &Case) {
        let subject = certcentral_testkit::subject_of(cert);
        let expected: Vec<(String, String)> = case
            .subject()
            .into_iter()
            .map(|(oid, value)| (oid.to_owned(), value.to_owned()))
            .collect();
        assert_eq!(subject, expected, "{case:?}");
    }

    /// Extended key usage by generation; key usage by the key and the usage designation.
    fn check_usages(cert: &X509Certificate<'_>, case: &Case) {
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.email_protection, "{case:?}");
        assert_eq!(eku.client_auth, case.multipurpose(), "{case:?}");
        assert!(
            !eku.server_auth && !eku.code_signing && !eku.any,
            "{case:?}"
        );

        let ku = cert.key_usage().unwrap().unwrap().value;
        let (management, other) = if case.key == Key::Rsa2048 {
            (ku.key_encipherment(), ku.key_agreement())
        } else {
            (ku.key_agreement(), ku.key_encipherment())
        };
        assert_eq!(
            (ku.digital_signature(), ku.non_repudiation(), management),
            case.key_usage(),
            "{case:?}"
        );
        assert!(
            !other && !ku.data_encipherment() && !ku.key_cert_sign(),
            "{case:?}"
        );
    }

    /// The case's policy OID, and the sandbox's CRL and CA issuer URLs.
    fn check_policy_and_ca_urls(cert: &X509Certificate<'_>, case: &Case) {
        let mut policies = Vec::new();
        let mut crl = Vec::new();
        let mut ca_issuers = Vec::new();
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::CertificatePolicies(list) => {
                    policies.extend(list.iter().map(|p| p.policy_id.to_id_string()));
                }
                ParsedExtension::CRLDistributionPoints(points) => {
                    for point in points.iter() {
                        if let Some(DistributionPointName::FullName(names)) =
                            &point.distribution_point
                        {
                            crl.extend(names.iter().map(|n| format!("{n:?}")));
                        }
                    }
                }
                ParsedExtension::AuthorityInfoAccess(aia) => {
                    for access in aia.iter() {
                        assert_eq!(access.access_method.to_id_string(), "1.3.6.1.5.5.7.48.2");
                        if let GeneralName::URI(uri) = &access.access_location {
                            ca_issuers.push(uri.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        assert_eq!(policies, [case.policy()], "{case:?}");
        assert_eq!(
            crl,
            ["URI(\"http://pki.sandbox.example.com/_sandbox/ca/intermediate.crl\")"],
            "{case:?}"
        );
        assert_eq!(
            ca_issuers,
            ["http://pki.sandbox.example.com/_sandbox/ca/intermediate.crt"],
            "{case:?}"
        );
    }

    /// The subjectAltName holds the order's email addresses and nothing else.
    fn check_san(cert: &X509Certificate<'_>, case: &Case) {
        let san: Vec<String> = cert
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|name| match name {
                GeneralName::RFC822Name(email) => email.to_string(),
                other => panic!("unexpected SAN {other:?}"),
            })
            .collect();
        assert_eq!(san, EMAILS, "{case:?}");
    }

    #[test]
    fn policy_oids_follow_validation_type_and_generation() {
        use Generation::*;
        use ValidationType::*;
        assert_eq!(policy_oid(Mailbox, Strict), "2.23.140.1.5.1.3");
        assert_eq!(policy_oid(Organization, Multipurpose), "2.23.140.1.5.2.2");
        assert_eq!(policy_oid(Sponsored, Strict), "2.23.140.1.5.3.3");
    }

    #[test]
    fn every_smime_product_of_the_catalog_has_a_validation_type() {
        for product in ProductId::ALL {
            let spec = product.spec();
            let smime = smime_product(product.as_str());
            match spec.family {
                Family::Smime | Family::DocumentSigning => assert!(
                    smime.is_some(),
                    "{product}: give it `smime` in schema/catalog.json"
                ),
                Family::ClientAuthentication => assert!(smime.is_none(), "{product}"),
            }
            if let (certcentral_types::catalog::Status::Deprecated { .. }, Some((_, line))) =
                (spec.status, smime)
            {
                assert_eq!(
                    line,
                    SmimeGeneration::Multipurpose,
                    "{product} is deprecated in the catalog"
                );
            }
        }
    }

    #[test]
    fn members_of_the_wrong_shape_are_read_as_absent() {
        let body = json!({
            "certificate": {
                "emails": ["a@example.com", 7],
                "common_name_indicator": ["pseudonym"],
                "individual": "Locke",
                "usage_designation": {"primary_usage": 3},
                "profile_type": {"x": 1},
            },
            "organization": {"id": "112233"},
        });
        let contents = contents("secure_email_sponsor", &body);
        assert_eq!(contents.emails, ["a@example.com"]);
        assert_eq!(
            contents.first(SubjectAttr::CommonName),
            Some("a@example.com")
        );
        assert_eq!(contents.policy.as_deref(), Some("2.23.140.1.5.3.3"));
        assert!(contents.key_use.digital_signature && contents.key_use.key_management);
    }

    #[test]
    fn every_combination_passes_pkilint() {
        let Some(exe) = certcentral_testkit::pkilint::executable() else {
            return;
        };
        let ca = test_ca();
        let cases = matrix();
        let issued: Vec<(String, Vec<u8>)> = cases
            .iter()
            .enumerate()
            .map(|(n, case)| (format!("{n:03}-{}", case.product), issue(&ca, case)))
            .collect();
        let failures = certcentral_testkit::pkilint::lint_all(&exe, &issued);
        assert!(
            failures.is_empty(),
            "{} of {} certificates have ERROR/FATAL findings:\n{}\ncases: {cases:#?}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }
}
