//! An order body from fields as a person gives them — `certcentral order`'s flags or a
//! `certcentral bulk` roster's columns — with the product's rules: the one body builder both
//! use. A field the product forbids is refused with the product's reason
//! ([`crate::member_rule`]), a missing one is named, and the body the product's request
//! profile takes (the seed's, or the Secure Email body) is built; validating it is
//! [`crate::validate_body`]'s job.

use std::num::NonZeroU64;

use certcentral_types::catalog::BodyKind;
use certcentral_types::{
    CertificateRequest, CommonName, CommonNameIndicator, ContainerRef, CustomField, Individual,
    LegacyCommonNameIndicator, OrderBody, OrderRequest, OrganizationRef, OrganizationUnit,
    PaymentMethod, PrimaryUsage, ProductId, ProfileType, SecureEmailCertificate,
    SecureEmailOrderRequest, SignatureHash, UsageDesignation, ValidityYears,
};
use chrono::NaiveDate;

use crate::{MemberRule, member_rule};

/// The fields of an order, each optional, as flags or roster cells give them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrderFields {
    /// `certificate.common_name` (legacy products).
    pub common_name: Option<CommonName>,
    /// `certificate.emails`.
    pub emails: Vec<String>,
    /// `certificate.organization_units`.
    pub organization_units: Vec<OrganizationUnit>,
    /// `organization.id`.
    pub org_id: Option<NonZeroU64>,
    /// `container.id`.
    pub container_id: Option<NonZeroU64>,
    /// `validity_years` (default 1 unless `custom_expiration_date`).
    pub validity_years: Option<ValidityYears>,
    /// `custom_expiration_date`.
    pub custom_expiration_date: Option<NaiveDate>,
    /// `payment_method` (default `balance`).
    pub payment_method: Option<PaymentMethod>,
    /// `skip_approval`.
    pub skip_approval: bool,
    /// `auto_renew`.
    pub auto_renew: Option<i64>,
    /// `renewal_of_order_id`.
    pub renewal_of_order_id: Option<NonZeroU64>,
    /// `custom_fields`.
    pub custom_fields: Vec<CustomField>,
    /// `certificate.individual.first_name`.
    pub first_name: Option<CommonName>,
    /// `certificate.individual.last_name`.
    pub last_name: Option<CommonName>,
    /// `certificate.individual.pseudonym`.
    pub pseudonym: Option<CommonName>,
    /// `certificate.common_name_indicator` (inferred from the names when absent).
    pub cn_indicator: Option<CommonNameIndicator>,
    /// `certificate.usage_designation.primary_usage` (default `dual_use`).
    pub usage: Option<PrimaryUsage>,
    /// `certificate.usage_designation.additional_usages`.
    pub additional_usages: Vec<String>,
    /// `certificate.profile_type`.
    pub profile: Option<ProfileType>,
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

    /// The error for `field`, which sets `member` of the body, when `product` forbids it.
    fn refuse(
        product: ProductId,
        naming: Naming,
        given: bool,
        field: Field,
        member: &str,
        instead: &str,
    ) -> Result<(), FieldError> {
        if !given {
            return Ok(());
        }
        match member_rule(product, member) {
            MemberRule::Forbidden(reason) => Err(FieldError {
                field,
                message: format!(
                    "{} cannot be used with {}: {reason}{instead}",
                    naming.of(field),
                    naming.product(product)
                ),
            }),
            _ => Ok(()),
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
        let names = format!(
            " (a Secure Email certificate's CN follows {}: use {}/{} or {})",
            naming.of(Field::CnIndicator),
            naming.of(Field::FirstName),
            naming.of(Field::LastName),
            naming.of(Field::Pseudonym)
        );
        Self::refuse(
            product,
            naming,
            self.common_name.is_some(),
            Field::CommonName,
            "/certificate/common_name",
            &names,
        )?;
        Self::refuse(
            product,
            naming,
            !self.organization_units.is_empty(),
            Field::OrganizationUnits,
            "/certificate/organization_units",
            "",
        )?;
        Self::refuse(
            product,
            naming,
            self.auto_renew.is_some(),
            Field::AutoRenew,
            "/auto_renew",
            "",
        )?;
        // A mailbox certificate holds only the email address: the indicator and the person
        // are ignored by DigiCert, so giving them is a mistake.
        let person_used = member_rule(product, "/certificate/common_name_indicator")
            == MemberRule::Required
            || member_rule(product, "/certificate/individual") == MemberRule::Required;
        if !person_used && (self.cn_indicator.is_some() || self.individual().is_some()) {
            let field = if self.cn_indicator.is_some() {
                Field::CnIndicator
            } else if self.first_name.is_some() {
                Field::FirstName
            } else if self.last_name.is_some() {
                Field::LastName
            } else {
                Field::Pseudonym
            };
            return Err(FieldError {
                field,
                message: format!(
                    "{}, {}, {} and {} cannot be used with {}: a mailbox-validated certificate holds only the email address (CN = the first address)",
                    naming.of(Field::CnIndicator),
                    naming.of(Field::FirstName),
                    naming.of(Field::LastName),
                    naming.of(Field::Pseudonym),
                    naming.product(product)
                ),
            });
        }
        if self.emails.is_empty() {
            return Err(naming.missing(Field::Emails, product));
        }
        let indicator = if person_used {
            self.indicator(Some(CommonNameIndicator::EmailAddress))
        } else {
            None
        };
        let usage = UsageDesignation {
            primary_usage: self.usage.unwrap_or(PrimaryUsage::DualUse),
            additional_usages: self.additional_usages.clone(),
        };
        Ok(SecureEmailOrderRequest {
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
        })
    }

    /// The seed's order body (`csr` left empty), naming fields as `naming` says.
    pub fn to_request(
        &self,
        product: ProductId,
        naming: Naming,
    ) -> Result<OrderRequest, FieldError> {
        let legacy = " (the legacy products are issued with the multipurpose profile)";
        Self::refuse(
            product,
            naming,
            self.usage.is_some(),
            Field::Usage,
            "/certificate/usage_designation",
            legacy,
        )?;
        Self::refuse(
            product,
            naming,
            !self.additional_usages.is_empty(),
            Field::AdditionalUsages,
            "/certificate/usage_designation",
            legacy,
        )?;
        Self::refuse(
            product,
            naming,
            self.profile.is_some(),
            Field::Profile,
            "/certificate/profile_type",
            legacy,
        )?;
        Self::refuse(
            product,
            naming,
            self.common_name.is_some(),
            Field::CommonName,
            "/certificate/common_name",
            "",
        )?;
        let common_name = match member_rule(product, "/certificate/common_name") {
            MemberRule::Forbidden(_) => None,
            _ => Some(
                self.common_name
                    .clone()
                    .ok_or_else(|| naming.missing(Field::CommonName, product))?,
            ),
        };
        let indicator = match self.indicator(None) {
            None => None,
            Some(CommonNameIndicator::GivenNameSurname) => {
                Some(LegacyCommonNameIndicator::GivenNameSurname)
            }
            Some(CommonNameIndicator::Pseudonym) => Some(LegacyCommonNameIndicator::Pseudonym),
            Some(other) => {
                return Err(FieldError {
                    field: Field::CnIndicator,
                    message: format!(
                        "{} {other} cannot be used with {}: the legacy products take `given_name_surname` or `pseudonym`",
                        naming.of(Field::CnIndicator),
                        naming.product(product)
                    ),
                });
            }
        };
        if self.emails.is_empty() {
            return Err(naming.missing(Field::Emails, product));
        }
        let org_id = self
            .org_id
            .ok_or_else(|| naming.missing(Field::OrgId, product))?;
        let validity_years = self.validity();
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
            validity_years,
        })
    }
}
