//! An order body from fields as a person gives them — `certcentral order`'s flags or a
//! `certcentral bulk` roster's columns — with the product's rules: the one body builder both
//! use. A field the product forbids is refused with the product's reason
//! ([`crate::member_rule`]), a missing one is named, and the body the product's request
//! profile takes (the seed's, or the Secure Email body) is built; validating it is
//! [`crate::validate_body`]'s job.

use std::num::NonZeroU64;

#[cfg(feature = "clap")]
use certcentral_types::WireEnum;
use certcentral_types::catalog::{BodyKind, PRODUCTS};
use certcentral_types::{
    CertificateRequest, CommonName, CommonNameIndicator, ContainerRef, CustomField, Individual,
    LegacyCommonNameIndicator, OrderBody, OrderRequest, OrganizationRef, OrganizationUnit,
    PaymentMethod, PrimaryUsage, ProductId, ProfileType, SecureEmailCertificate,
    SecureEmailOrderRequest, SignatureHash, UsageDesignation, ValidityYears,
};
use chrono::NaiveDate;

use crate::{MemberRule, member_rule};

/// The fields of an order, each optional, as flags or roster cells give them. With the
/// `clap` feature they are `certcentral order`'s flags too (`#[command(flatten)]`), each with
/// its help text and value parser.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct OrderFields {
    /// `certificate.common_name` (legacy products).
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "NAME",
            help = "The certificate's common name, 1 to 64 characters: for the legacy products \
                    that take one (e.g. client_premium_sha2; the Secure Email products take \
                    --first-name/--last-name or --pseudonym)"
        )
    )]
    pub common_name: Option<CommonName>,
    /// `certificate.emails`.
    #[cfg_attr(
        feature = "clap",
        arg(
            long = "email",
            value_name = "ADDRESS",
            help = "An email address to put in the certificate; repeat for several (required \
                    unless --order-file)"
        )
    )]
    pub emails: Vec<String>,
    /// `certificate.organization_units`.
    #[cfg_attr(
        feature = "clap",
        arg(
            long = "ou",
            value_name = "UNIT",
            help = "A department (organization unit) to put in the certificate (repeatable)"
        )
    )]
    pub organization_units: Vec<OrganizationUnit>,
    /// `organization.id`.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "ID",
            help = "Id of the organization in your CertCentral account (required unless \
                    --order-file)"
        )
    )]
    pub org_id: Option<NonZeroU64>,
    /// `container.id`.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "ID",
            help = "Id of the container (division) to place the order in"
        )
    )]
    pub container_id: Option<NonZeroU64>,
    /// `validity_years` (default 1 unless `custom_expiration_date`).
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "YEARS",
            value_parser = validity_years_parser(),
            help = "Years the certificate is valid (default 1 unless --custom-expiration-date)"
        )
    )]
    pub validity_years: Option<ValidityYears>,
    /// `custom_expiration_date`.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "DATE",
            help = custom_expiration_help()
        )
    )]
    pub custom_expiration_date: Option<NaiveDate>,
    /// `payment_method` (default `balance`).
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "METHOD",
            value_parser = wire_enum_parser::<PaymentMethod>(),
            help = "How the order is paid (default balance)"
        )
    )]
    pub payment_method: Option<PaymentMethod>,
    /// `skip_approval`.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            help = "Skip the approval step (takes effect only for administrator or manager API \
                    keys)"
        )
    )]
    pub skip_approval: bool,
    /// `auto_renew`.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "N",
            help = "Renew automatically this many times (1 to 99; balance payment only)"
        )
    )]
    pub auto_renew: Option<i64>,
    /// `renewal_of_order_id`.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "ORDER_ID",
            help = "For a renewal: the previous order's id"
        )
    )]
    pub renewal_of_order_id: Option<NonZeroU64>,
    /// `custom_fields`.
    #[cfg_attr(
        feature = "clap",
        arg(
            long = "custom-field",
            value_name = "ID=VALUE",
            value_parser = parse_custom_field,
            help = "A custom field value, as METADATA_ID=VALUE (repeatable)"
        )
    )]
    pub custom_fields: Vec<CustomField>,
    /// `certificate.individual.first_name`.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "NAME",
            requires = "last_name",
            help = "The person's given name (with --last-name; the subject's CN unless \
                    --cn-indicator says otherwise)"
        )
    )]
    pub first_name: Option<CommonName>,
    /// `certificate.individual.last_name`.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "NAME",
            requires = "first_name",
            help = "The person's surname (with --first-name)"
        )
    )]
    pub last_name: Option<CommonName>,
    /// `certificate.individual.pseudonym`.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "NAME",
            help = "A pseudonym used instead of the person's name"
        )
    )]
    pub pseudonym: Option<CommonName>,
    /// `certificate.common_name_indicator` (inferred from the names when absent).
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "SOURCE",
            value_parser = wire_enum_parser::<CommonNameIndicator>(),
            help = "Where the subject's CN comes from (default: given_name_surname with \
                    --first-name/--last-name, pseudonym with --pseudonym, else email_address)"
        )
    )]
    pub cn_indicator: Option<CommonNameIndicator>,
    /// `certificate.usage_designation.primary_usage` (default `dual_use`).
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "USAGE",
            value_parser = wire_enum_parser::<PrimaryUsage>(),
            help = "What the key is for, Secure Email products (default dual_use: sign and \
                    encrypt mail)"
        )
    )]
    pub usage: Option<PrimaryUsage>,
    /// `certificate.usage_designation.additional_usages`.
    #[cfg_attr(
        feature = "clap",
        arg(
            long = "additional-usage",
            value_name = "USAGE",
            help = "A further key usage, e.g. non_repudiation (repeatable; Secure Email products)"
        )
    )]
    pub additional_usages: Vec<String>,
    /// `certificate.profile_type`.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            value_name = "PROFILE",
            value_parser = wire_enum_parser::<ProfileType>(),
            help = "The S/MIME profile, Secure Email products (default: the account's default for \
                    the product)"
        )
    )]
    pub profile: Option<ProfileType>,
}

/// `--custom-expiration-date`'s help, with the catalog's window
/// ([`custom_expiration_window`]).
pub fn custom_expiration_help() -> String {
    format!(
        "Custom end date (YYYY-MM-DD, less than {} days away); overrides --validity-years",
        custom_expiration_window()
    )
}

/// The custom-expiration window of the catalog's products, in days (`custom_expiration_date`
/// must be less than this many days away): the one value, or the range when products differ.
pub fn custom_expiration_window() -> String {
    let days: std::collections::BTreeSet<u64> = PRODUCTS
        .iter()
        .map(|p| p.profile.custom_expiration_days_below)
        .collect();
    match (days.first(), days.last()) {
        (Some(low), Some(high)) if low == high => format!("{low}"),
        (Some(low), Some(high)) => format!("{low} to {high} (per product)"),
        _ => String::new(),
    }
}

/// Parses a custom field as `METADATA_ID=VALUE` (`--custom-field`).
pub fn parse_custom_field(s: &str) -> Result<CustomField, String> {
    let (id, value) = s
        .split_once('=')
        .ok_or_else(|| "expected METADATA_ID=VALUE, e.g. 12=Finance".to_string())?;
    let metadata_id = id
        .trim()
        .parse::<NonZeroU64>()
        .map_err(|_| format!("metadata id {id:?} is not a positive integer"))?;
    Ok(CustomField {
        metadata_id,
        value: value.to_string(),
    })
}

/// A clap value parser accepting exactly the values of a generated enum (`--help` and
/// errors list them).
#[cfg(feature = "clap")]
pub fn wire_enum_parser<T: WireEnum + Clone + Send + Sync>()
-> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(T::ALL.iter().map(|v| PossibleValue::new(v.as_str())))
        .try_map(|s| T::from_wire(&s).ok_or_else(|| format!("allowed: {}", T::allowed())))
}

/// The clap value parser of `--validity-years`: the schema's `ValidityYears`.
#[cfg(feature = "clap")]
pub fn validity_years_parser() -> impl clap::builder::TypedValueParser<Value = ValidityYears> {
    use clap::builder::{PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(ValidityYears::ALLOWED_TEXT).try_map(|s| {
        s.parse::<i64>()
            .ok()
            .and_then(|n| ValidityYears::try_from(n).ok())
            .ok_or_else(|| format!("allowed: {:?}", ValidityYears::ALLOWED))
    })
}

/// A field of an order body as a person gives it: a flag of `certcentral order` or a column
/// of a `certcentral bulk` roster. [`OrderFields::to_body`]'s errors name it either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `certificate.common_name`.
    CommonName,
    /// `certificate.emails`.
    Emails,
    /// `certificate.organization_units`.
    OrganizationUnits,
    /// `organization.id`.
    OrgId,
    /// `auto_renew`.
    AutoRenew,
    /// `certificate.individual.first_name`.
    FirstName,
    /// `certificate.individual.last_name`.
    LastName,
    /// `certificate.individual.pseudonym`.
    Pseudonym,
    /// `certificate.common_name_indicator`.
    CnIndicator,
    /// `certificate.usage_designation.primary_usage`.
    Usage,
    /// `certificate.usage_designation.additional_usages`.
    AdditionalUsages,
    /// `certificate.profile_type`.
    Profile,
}

/// How [`Field`]s are called in messages: `order`'s flags or a roster's columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// `--common-name`, `--first-name`, ….
    Flags,
    /// `common_name`, `first_name`, ….
    Columns,
}

impl Naming {
    /// The name of `field`.
    pub fn of(self, field: Field) -> &'static str {
        use Field as F;
        let (flag, column) = match field {
            F::CommonName => ("--common-name", "common_name"),
            F::Emails => ("--email", "emails"),
            F::OrganizationUnits => ("--ou", "organization_units"),
            F::OrgId => ("--org-id", "--org-id"),
            F::AutoRenew => ("--auto-renew", "--auto-renew"),
            F::FirstName => ("--first-name", "first_name"),
            F::LastName => ("--last-name", "last_name"),
            F::Pseudonym => ("--pseudonym", "pseudonym"),
            F::CnIndicator => ("--cn-indicator", "cn_indicator"),
            F::Usage => ("--usage", "usage"),
            F::AdditionalUsages => ("--additional-usage", "additional_usage"),
            F::Profile => ("--profile", "profile"),
        };
        match self {
            Naming::Flags => flag,
            Naming::Columns => column,
        }
    }

    /// `--product ID` or `product ID`.
    pub fn product(self, product: ProductId) -> String {
        match self {
            Naming::Flags => format!("--product {}", product.as_str()),
            Naming::Columns => format!("product {}", product.as_str()),
        }
    }

    /// Why a required field is missing.
    pub fn missing(self, field: Field, product: ProductId) -> FieldError {
        let message = match self {
            Naming::Flags => format!("{} is required (or give --order-file)", self.of(field)),
            Naming::Columns => format!(
                "{} is required: {} uses it",
                self.of(field),
                self.product(product)
            ),
        };
        FieldError { field, message }
    }
}

/// A field the product forbids or ignores, or a required one missing: which field, and the
/// product's rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field at fault.
    pub field: Field,
    /// What is wrong and what is allowed, naming fields the way the caller asked.
    pub message: String,
}

impl OrderFields {
    /// Builds `product`'s order body (`csr` left empty): the body its request profile takes.
    /// A field the product forbids or ignores is an error naming the product's rule; a
    /// missing required field is an error naming it; fields are named as `naming` says
    /// (`order`'s flags, or a roster's columns).
    pub fn to_body(&self, product: ProductId, naming: Naming) -> Result<OrderBody, FieldError> {
        match product.spec().profile.body {
            BodyKind::ClientCertificate => self.to_request(product, naming).map(OrderBody::from),
            BodyKind::SecureEmail => self.to_secure_email(product, naming).map(OrderBody::from),
        }
    }

    /// The person from --first-name/--last-name/--pseudonym, if any.
    fn individual(&self) -> Option<Individual> {
        (self.first_name.is_some() || self.pseudonym.is_some()).then(|| Individual {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            pseudonym: self.pseudonym.clone(),
        })
    }

    /// --cn-indicator, or the one the name flags imply: names → `given_name_surname`,
    /// --pseudonym → `pseudonym`, else `default`.
    fn indicator(&self, default: Option<CommonNameIndicator>) -> Option<CommonNameIndicator> {
        self.cn_indicator.or(if self.first_name.is_some() {
            Some(CommonNameIndicator::GivenNameSurname)
        } else if self.pseudonym.is_some() {
            Some(CommonNameIndicator::Pseudonym)
        } else {
            default
        })
    }

    fn validity(&self) -> Option<ValidityYears> {
        match (&self.validity_years, self.custom_expiration_date) {
            (Some(v), _) => Some(v.clone()),
            (None, Some(_)) => None,
            (None, None) => ValidityYears::try_from(1).ok(),
        }
    }

    /// The Secure Email body from the flags.
    fn to_secure_email(
        &self,
        product: ProductId,
        naming: Naming,
    ) -> Result<SecureEmailOrderRequest, FieldError> {
        let target = Target { product, naming };
        let names = format!(
            " (a Secure Email certificate's CN follows {}: use {}/{} or {})",
            naming.of(Field::CnIndicator),
            naming.of(Field::FirstName),
            naming.of(Field::LastName),
            naming.of(Field::Pseudonym)
        );
        target.refuse_all(&[
            Given {
                field: Field::CommonName,
                member: "/certificate/common_name",
                given: self.common_name.is_some(),
                instead: &names,
            },
            Given {
                field: Field::OrganizationUnits,
                member: "/certificate/organization_units",
                given: !self.organization_units.is_empty(),
                instead: "",
            },
            Given {
                field: Field::AutoRenew,
                member: "/auto_renew",
                given: self.auto_renew.is_some(),
                instead: "",
            },
        ])?;
        let person_used = self.check_person(target)?;
        if self.emails.is_empty() {
            return Err(naming.missing(Field::Emails, product));
        }
        let indicator = if person_used {
            self.indicator(Some(CommonNameIndicator::EmailAddress))
        } else {
            None
        };
        Ok(self.secure_email_body(indicator))
    }

    /// Whether `target`'s product takes a person (names or pseudonym, and the CN indicator);
    /// an error when it does not and one was given.
    fn check_person(&self, target: Target) -> Result<bool, FieldError> {
        let Target { product, naming } = target;
        // A mailbox certificate holds only the email address: the indicator and the person
        // are ignored by DigiCert, so giving them is a mistake.
        let person_used = member_rule(product, "/certificate/common_name_indicator")
            == MemberRule::Required
            || member_rule(product, "/certificate/individual") == MemberRule::Required;
        if person_used || (self.cn_indicator.is_none() && self.individual().is_none()) {
            return Ok(person_used);
        }
        let field = if self.cn_indicator.is_some() {
            Field::CnIndicator
        } else if self.first_name.is_some() {
            Field::FirstName
        } else if self.last_name.is_some() {
            Field::LastName
        } else {
            Field::Pseudonym
        };
        Err(FieldError {
            field,
            message: format!(
                "{}, {}, {} and {} cannot be used with {}: a mailbox-validated certificate holds only the email address (CN = the first address)",
                naming.of(Field::CnIndicator),
                naming.of(Field::FirstName),
                naming.of(Field::LastName),
                naming.of(Field::Pseudonym),
                naming.product(product)
            ),
        })
    }

    /// The Secure Email body of checked fields, with `indicator`.
    fn secure_email_body(&self, indicator: Option<CommonNameIndicator>) -> SecureEmailOrderRequest {
        let usage = UsageDesignation {
            primary_usage: self.usage.unwrap_or(PrimaryUsage::DualUse),
            additional_usages: self.additional_usages.clone(),
        };
        SecureEmailOrderRequest {
            certificate: SecureEmailCertificate {
                ca_cert_id: None,
                common_name_indicator: indicator,
                csr: None,
                emails: self.emails.clone(),
                individual: self.individual(),
                profile_type: self.profile,
                signature_hash: SignatureHash::Sha256,
                usage_designation: usage,
            },
            comments: None,
            container: self.container_id.map(|id| ContainerRef { id: Some(id) }),
            custom_expiration_date: self.custom_expiration_date,
            custom_fields: self.custom_fields.clone(),
            dcv_method: None,
            disable_renewal_notifications: None,
            organization: self.org_id.map(|id| OrganizationRef { id }),
            payment_method: self.payment_method.unwrap_or(PaymentMethod::Balance),
            renewal_of_order_id: self.renewal_of_order_id,
            skip_approval: self.skip_approval,
            subject: None,
            validity_years: self.validity(),
        }
    }

    /// The seed's order body (`csr` left empty), naming fields as `naming` says.
    pub fn to_request(
        &self,
        product: ProductId,
        naming: Naming,
    ) -> Result<OrderRequest, FieldError> {
        let target = Target { product, naming };
        let legacy = " (the legacy products are issued with the multipurpose profile)";
        target.refuse_all(&[
            Given {
                field: Field::Usage,
                member: "/certificate/usage_designation",
                given: self.usage.is_some(),
                instead: legacy,
            },
            Given {
                field: Field::AdditionalUsages,
                member: "/certificate/usage_designation",
                given: !self.additional_usages.is_empty(),
                instead: legacy,
            },
            Given {
                field: Field::Profile,
                member: "/certificate/profile_type",
                given: self.profile.is_some(),
                instead: legacy,
            },
            Given {
                field: Field::CommonName,
                member: "/certificate/common_name",
                given: self.common_name.is_some(),
                instead: "",
            },
        ])?;
        let common_name = match member_rule(product, "/certificate/common_name") {
            MemberRule::Forbidden(_) => None,
            _ => Some(
                self.common_name
                    .clone()
                    .ok_or_else(|| naming.missing(Field::CommonName, product))?,
            ),
        };
        let indicator = self.legacy_indicator(target)?;
        if self.emails.is_empty() {
            return Err(naming.missing(Field::Emails, product));
        }
        let org_id = self
            .org_id
            .ok_or_else(|| naming.missing(Field::OrgId, product))?;
        Ok(OrderRequest {
            auto_renew: self.auto_renew,
            certificate: CertificateRequest {
                common_name,
                common_name_indicator: indicator,
                individual: self.individual(),
                csr: None,
                emails: self.emails.clone(),
                organization_units: self.organization_units.clone(),
                signature_hash: SignatureHash::Sha256,
            },
            container: self.container_id.map(|id| ContainerRef { id: Some(id) }),
            custom_expiration_date: self.custom_expiration_date,
            custom_fields: self.custom_fields.clone(),
            order_validity: None,
            organization: OrganizationRef { id: org_id },
            organization_contact: Default::default(),
            validity_days: None,
            payment_method: self.payment_method.unwrap_or(PaymentMethod::Balance),
            renewal_of_order_id: self.renewal_of_order_id,
            skip_approval: self.skip_approval,
            validity_years: self.validity(),
        })
    }

    /// The CN indicator of a legacy order: `given_name_surname` or `pseudonym` only.
    fn legacy_indicator(
        &self,
        target: Target,
    ) -> Result<Option<LegacyCommonNameIndicator>, FieldError> {
        match self.indicator(None) {
            None => Ok(None),
            Some(CommonNameIndicator::GivenNameSurname) => {
                Ok(Some(LegacyCommonNameIndicator::GivenNameSurname))
            }
            Some(CommonNameIndicator::Pseudonym) => Ok(Some(LegacyCommonNameIndicator::Pseudonym)),
            Some(other) => Err(FieldError {
                field: Field::CnIndicator,
                message: format!(
                    "{} {other} cannot be used with {}: the legacy products take `given_name_surname` or `pseudonym`",
                    target.naming.of(Field::CnIndicator),
                    target.naming.product(target.product)
                ),
            }),
        }
    }
}

/// The product a body is built for, and how its fields are named in messages.
#[derive(Clone, Copy)]
struct Target {
    product: ProductId,
    naming: Naming,
}

/// A field as given: the body member it sets, whether it was given, and what the refusal
/// adds when the product forbids that member.
struct Given<'a> {
    field: Field,
    member: &'static str,
    given: bool,
    instead: &'a str,
}

impl Target {
    /// The first of `fields` that was given although the product forbids its member, as an
    /// error naming the product's rule.
    fn refuse_all(self, fields: &[Given<'_>]) -> Result<(), FieldError> {
        for field in fields.iter().filter(|f| f.given) {
            if let MemberRule::Forbidden(reason) = member_rule(self.product, field.member) {
                return Err(FieldError {
                    field: field.field,
                    message: format!(
                        "{} cannot be used with {}: {reason}{}",
                        self.naming.of(field.field),
                        self.naming.product(self.product),
                        field.instead
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_fields_parse() {
        let cf = parse_custom_field("12=Finance=East").unwrap();
        assert_eq!(
            (cf.metadata_id.get(), cf.value.as_str()),
            (12, "Finance=East")
        );
        assert!(parse_custom_field("0=x").is_err());
        assert!(parse_custom_field("x").is_err());
    }

    #[test]
    fn custom_expiration_help_names_the_catalogs_window() {
        let window = custom_expiration_window();
        assert!(!window.is_empty());
        assert!(custom_expiration_help().contains(&format!("less than {window} days")));
    }

    #[cfg(feature = "clap")]
    mod flags {
        use clap::builder::TypedValueParser;
        use clap::{Args, FromArgMatches};

        use super::super::*;

        fn parse_with<P: TypedValueParser>(parser: P, text: &str) -> Result<P::Value, String> {
            parser
                .parse_ref(&clap::Command::new("t"), None, std::ffi::OsStr::new(text))
                .map_err(|err| err.to_string())
        }

        fn fields(args: &[&str]) -> Result<OrderFields, clap::Error> {
            let cmd = OrderFields::augment_args(clap::Command::new("order"));
            let matches =
                cmd.try_get_matches_from(std::iter::once("order").chain(args.iter().copied()))?;
            OrderFields::from_arg_matches(&matches)
        }

        /// `--validity-years` and `--payment-method` accept exactly the schema's values, and
        /// list them when refused.
        #[test]
        fn value_parsers_come_from_the_schema() {
            for years in ValidityYears::ALLOWED {
                assert_eq!(
                    parse_with(validity_years_parser(), &years.to_string()).map(i64::from),
                    Ok(*years)
                );
            }
            assert!(parse_with(validity_years_parser(), "3").is_err());
            for method in PaymentMethod::ALL {
                assert_eq!(
                    parse_with(wire_enum_parser::<PaymentMethod>(), method.as_str()),
                    Ok(*method)
                );
            }
            let err = parse_with(wire_enum_parser::<PaymentMethod>(), "cash").unwrap_err();
            for method in PaymentMethod::ALL {
                assert!(err.contains(method.as_str()), "{err}");
            }
        }

        /// The flags fill the fields they name, repeatable ones as lists.
        #[test]
        fn flags_fill_the_fields() {
            let got = fields(&[
                "--common-name=Locke Cole",
                "--email=locke.cole@example.com",
                "--email=locke@example.com",
                "--ou=Engineering",
                "--org-id=112233",
                "--container-id=7",
                "--validity-years=2",
                "--payment-method=card",
                "--custom-field=12=Finance",
                "--cn-indicator=pseudonym",
                "--pseudonym=Locke",
                "--usage=signing",
                "--additional-usage=non_repudiation",
                "--profile=strict",
                "--skip-approval",
            ])
            .unwrap();
            let want = OrderFields {
                common_name: Some("Locke Cole".parse().unwrap()),
                emails: vec!["locke.cole@example.com".into(), "locke@example.com".into()],
                organization_units: vec!["Engineering".parse().unwrap()],
                org_id: NonZeroU64::new(112233),
                container_id: NonZeroU64::new(7),
                validity_years: ValidityYears::try_from(2).ok(),
                payment_method: Some(PaymentMethod::Card),
                custom_fields: vec![parse_custom_field("12=Finance").unwrap()],
                cn_indicator: Some(CommonNameIndicator::Pseudonym),
                pseudonym: Some("Locke".parse().unwrap()),
                usage: Some(PrimaryUsage::Signing),
                additional_usages: vec!["non_repudiation".into()],
                profile: Some(ProfileType::Strict),
                skip_approval: true,
                ..OrderFields::default()
            };
            assert_eq!(got, want);
            assert_eq!(fields(&[]).unwrap(), OrderFields::default());
            // --first-name needs --last-name; an unknown usage is refused.
            assert!(fields(&["--first-name", "Locke"]).is_err());
            assert!(fields(&["--usage", "everything"]).is_err());
        }
    }
}
