//! The order bodies the sandbox keeps: each order as it was ordered, in its request profile's
//! own shape ([`OrderBody`]: the seed's body or the Secure Email body), and what the sandbox
//! reads from either.
//!
//! State files written before Secure Email orders were kept in their own shape hold them in
//! the seed's shape (common name derived, no usage or profile); [`migrate_legacy_secure_email`]
//! turns those back into Secure Email bodies when the file is loaded, from the order's
//! certificate contents (which did keep the usage and profile).

use std::num::NonZeroU64;

use certcentral_types::{
    CommonNameIndicator, Individual, OrderBody, OrderRequest, PaymentMethod, PrimaryUsage,
    ProfileType, SecureEmailCertificate, SecureEmailOrderRequest, SignatureHash, UsageDesignation,
};
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};

use crate::ca::CertContents;

/// What the sandbox reads from an order body of either profile.
pub(crate) trait Body {
    /// The organization id (`None`: a Secure Email order without one, e.g. mailbox).
    fn organization_id(&self) -> Option<NonZeroU64>;
    /// The departments (the seed's body only).
    fn organization_units(&self) -> Vec<String>;
    fn signature_hash(&self) -> SignatureHash;
    fn container_id(&self) -> Option<NonZeroU64>;
    fn payment_method(&self) -> PaymentMethod;
    fn validity_years(&self) -> Option<i64>;
    fn custom_expiration_date(&self) -> Option<NaiveDate>;
    fn skip_approval(&self) -> bool;
    /// Auto-renew cycles (the seed's body only).
    fn auto_renew(&self) -> Option<i64>;
    fn renewal_of_order_id(&self) -> Option<NonZeroU64>;
}

impl Body for OrderBody {
    fn organization_id(&self) -> Option<NonZeroU64> {
        match self {
            OrderBody::ClientCertificate(b) => Some(b.organization.id),
            OrderBody::SecureEmail(b) => b.organization.as_ref().map(|o| o.id),
        }
    }

    fn organization_units(&self) -> Vec<String> {
        match self {
            OrderBody::ClientCertificate(b) => b
                .certificate
                .organization_units
                .iter()
                .map(|ou| ou.to_string())
                .collect(),
            OrderBody::SecureEmail(_) => Vec::new(),
        }
    }

    fn signature_hash(&self) -> SignatureHash {
        match self {
            OrderBody::ClientCertificate(b) => b.certificate.signature_hash,
            OrderBody::SecureEmail(b) => b.certificate.signature_hash,
        }
    }

    fn container_id(&self) -> Option<NonZeroU64> {
        match self {
            OrderBody::ClientCertificate(b) => b.container.as_ref().and_then(|c| c.id),
            OrderBody::SecureEmail(b) => b.container.as_ref().and_then(|c| c.id),
        }
    }

    fn payment_method(&self) -> PaymentMethod {
        match self {
            OrderBody::ClientCertificate(b) => b.payment_method,
            OrderBody::SecureEmail(b) => b.payment_method,
        }
    }

    fn validity_years(&self) -> Option<i64> {
        match self {
            OrderBody::ClientCertificate(b) => b.validity_years.as_ref().map(|y| **y),
            OrderBody::SecureEmail(b) => b.validity_years.as_ref().map(|y| **y),
        }
    }

    fn custom_expiration_date(&self) -> Option<NaiveDate> {
        match self {
            OrderBody::ClientCertificate(b) => b.custom_expiration_date,
            OrderBody::SecureEmail(b) => b.custom_expiration_date,
        }
    }

    fn skip_approval(&self) -> bool {
        match self {
            OrderBody::ClientCertificate(b) => b.skip_approval,
            OrderBody::SecureEmail(b) => b.skip_approval,
        }
    }

    fn auto_renew(&self) -> Option<i64> {
        match self {
            OrderBody::ClientCertificate(b) => b.auto_renew,
            OrderBody::SecureEmail(_) => None,
        }
    }

    fn renewal_of_order_id(&self) -> Option<NonZeroU64> {
        match self {
            OrderBody::ClientCertificate(b) => b.renewal_of_order_id,
            OrderBody::SecureEmail(b) => b.renewal_of_order_id,
        }
    }
}

/// An order body as a state file holds it: the body itself (the Secure Email body is tried
/// first: the seed's body has no `usage_designation` and the Secure Email body no
/// `common_name`, and both refuse unknown members).
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    SecureEmail(Box<SecureEmailOrderRequest>),
    ClientCertificate(Box<OrderRequest>),
}

/// Reads an [`OrderBody`] stored in a state file (`deserialize_with`).
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OrderBody, D::Error> {
    Ok(match Stored::deserialize(d)? {
        Stored::SecureEmail(body) => OrderBody::SecureEmail(*body),
        Stored::ClientCertificate(body) => OrderBody::ClientCertificate(*body),
    })
}

/// A Secure Email order that an older state file kept in the seed's shape, back in its own:
/// emails, CSR, hash, person, organization, validity and links as stored; the indicator from
/// the person (names: `given_name_surname`, a pseudonym: `pseudonym`, else `email_address`);
/// usage and profile from the certificate contents computed when it was ordered. Organization
/// 1 was the stand-in for "none" (a mailbox order).
pub(crate) fn migrate_legacy_secure_email(
    legacy: &OrderRequest,
    contents: &CertContents,
) -> SecureEmailOrderRequest {
    let cert = &legacy.certificate;
    let individual: Option<Individual> = cert.individual.clone();
    let indicator = match &individual {
        Some(i) if i.first_name.is_some() || i.last_name.is_some() => {
            CommonNameIndicator::GivenNameSurname
        }
        Some(i) if i.pseudonym.is_some() => CommonNameIndicator::Pseudonym,
        _ => CommonNameIndicator::EmailAddress,
    };
    let key_use = &contents.key_use;
    let primary_usage = match (key_use.digital_signature, key_use.key_management) {
        (true, false) => PrimaryUsage::Signing,
        (false, true) => PrimaryUsage::KeyManagement,
        _ => PrimaryUsage::DualUse,
    };
    let additional_usages = if key_use.non_repudiation {
        vec!["non_repudiation".to_owned()]
    } else {
        Vec::new()
    };
    SecureEmailOrderRequest {
        certificate: SecureEmailCertificate {
            ca_cert_id: None,
            common_name_indicator: Some(indicator),
            csr: cert.csr.clone(),
            emails: cert.emails.clone(),
            individual,
            profile_type: Some(if contents.client_auth {
                ProfileType::Multipurpose
            } else {
                ProfileType::Strict
            }),
            signature_hash: cert.signature_hash,
            usage_designation: UsageDesignation {
                additional_usages,
                primary_usage,
            },
        },
        comments: None,
        container: legacy.container.clone(),
        custom_expiration_date: legacy.custom_expiration_date,
        custom_fields: legacy.custom_fields.clone(),
        dcv_method: None,
        disable_renewal_notifications: None,
        organization: (legacy.organization.id != NonZeroU64::MIN)
            .then(|| legacy.organization.clone()),
        payment_method: legacy.payment_method,
        renewal_of_order_id: legacy.renewal_of_order_id,
        skip_approval: legacy.skip_approval,
        subject: None,
        validity_years: legacy.validity_years.clone(),
    }
}
