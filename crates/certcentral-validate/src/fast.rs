//! The fast path of [`crate::validate_json`]: a strict, zero-copy parse straight from the
//! bytes into borrowed fields, without building a `serde_json::Value`.
//!
//! It only ever *accepts*: when the body parses under the strictest reading (objects only,
//! no duplicate or unknown members, no `null`, integers as plain integers) and passes every
//! rule, it returns the report (warnings only). Anything else — including any doubt — returns
//! `None`, and the full `Value` walk produces the report with every violation. The
//! `fast_path_agrees` property test checks that both paths give identical reports.

use std::borrow::Cow;
use std::fmt;

use certcentral_types::{PaymentMethod, SignatureHash, ValidityYears, WireEnum};
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};

use crate::schema::parse_date;
use crate::{Context, CsrField, Facts, Findings, Report, check_rules, is_valid_email};

/// A string, borrowed from the input when it has no escapes.
struct Str<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Sets `slot` once; a repeated member is an error (the slow path decides what it means).
fn once<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::custom("duplicate member"));
    }
    Ok(())
}

macro_rules! map_only {
    ($ty:ident, $visitor:ident) => {
        impl<'de> Deserialize<'de> for $ty<'de> {
            fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_map($visitor)
            }
        }
        struct $visitor;
    };
}

#[derive(Default)]
struct Order<'de> {
    certificate: Option<Certificate<'de>>,
    organization: Option<IdRef<'de>>,
    container: Option<IdRef<'de>>,
    validity_years: Option<u64>,
    custom_expiration_date: Option<Str<'de>>,
    auto_renew: Option<u64>,
    renewal_of_order_id: Option<u64>,
    skip_approval: Option<bool>,
    payment_method: Option<Str<'de>>,
    custom_fields: Option<Vec<CustomField<'de>>>,
}
map_only!(Order, OrderVisitor);

impl<'de> Visitor<'de> for OrderVisitor {
    type Value = Order<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an order object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Order<'de>, A::Error> {
        let mut o = Order::default();
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "certificate" => once(&mut o.certificate, map.next_value()?)?,
                "organization" => once(&mut o.organization, map.next_value()?)?,
                "container" => once(&mut o.container, map.next_value()?)?,
                "validity_years" => once(&mut o.validity_years, map.next_value()?)?,
                "custom_expiration_date" => once(&mut o.custom_expiration_date, map.next_value()?)?,
                "auto_renew" => once(&mut o.auto_renew, map.next_value()?)?,
                "renewal_of_order_id" => once(&mut o.renewal_of_order_id, map.next_value()?)?,
                "skip_approval" => once(&mut o.skip_approval, map.next_value()?)?,
                "payment_method" => once(&mut o.payment_method, map.next_value()?)?,
                "custom_fields" => once(&mut o.custom_fields, map.next_value()?)?,
                _ => return Err(de::Error::custom("unknown member")),
            }
        }
        Ok(o)
    }
}

#[derive(Default)]
struct Certificate<'de> {
    common_name: Option<Str<'de>>,
    emails: Option<Vec<Str<'de>>>,
    signature_hash: Option<Str<'de>>,
    organization_units: Option<Vec<Str<'de>>>,
    csr: Option<Str<'de>>,
}
map_only!(Certificate, CertificateVisitor);

impl<'de> Visitor<'de> for CertificateVisitor {
    type Value = Certificate<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a certificate object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Certificate<'de>, A::Error> {
        let mut c = Certificate::default();
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "common_name" => once(&mut c.common_name, map.next_value()?)?,
                "emails" => once(&mut c.emails, map.next_value()?)?,
                "signature_hash" => once(&mut c.signature_hash, map.next_value()?)?,
                "organization_units" => once(&mut c.organization_units, map.next_value()?)?,
                "csr" => once(&mut c.csr, map.next_value()?)?,
                _ => return Err(de::Error::custom("unknown member")),
            }
        }
        Ok(c)
    }
}

/// `{"id": <integer>}` (organization and container).
#[derive(Default)]
struct IdRef<'de> {
    id: Option<u64>,
    _borrow: std::marker::PhantomData<&'de ()>,
}
map_only!(IdRef, IdRefVisitor);

impl<'de> Visitor<'de> for IdRefVisitor {
    type Value = IdRef<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with an id")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IdRef<'de>, A::Error> {
        let mut r = IdRef::default();
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "id" => once(&mut r.id, map.next_value()?)?,
                _ => return Err(de::Error::custom("unknown member")),
            }
        }
        Ok(r)
    }
}

#[derive(Default)]
struct CustomField<'de> {
    metadata_id: Option<u64>,
    value: Option<Str<'de>>,
}
map_only!(CustomField, CustomFieldVisitor);

impl<'de> Visitor<'de> for CustomFieldVisitor {
    type Value = CustomField<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a custom field object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CustomField<'de>, A::Error> {
        let mut cf = CustomField::default();
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "metadata_id" => once(&mut cf.metadata_id, map.next_value()?)?,
                "value" => once(&mut cf.value, map.next_value()?)?,
                _ => return Err(de::Error::custom("unknown member")),
            }
        }
        Ok(cf)
    }
}

fn chars_within(s: &str, min: usize, max: usize) -> bool {
    // Fast bounds on bytes first: a UTF-8 char is 1 to 4 bytes.
    if s.len() >= min && s.len() <= max {
        return true;
    }
    let n = s.chars().count();
    (min..=max).contains(&n)
}

/// The report of a valid order, or `None` when the full walk must decide.
pub(crate) fn try_validate(bytes: &[u8], ctx: &Context) -> Option<Report> {
    let order: Order<'_> = serde_json::from_slice(bytes).ok()?;

    // Schema rules: any failure defers to the full walk.
    let cert = order.certificate.as_ref()?;
    let organization = order.organization.as_ref()?;
    let structural_ok = chars_within(&cert.common_name.as_ref()?.0, 1, 64)
        && cert
            .emails
            .as_ref()
            .is_some_and(|e| !e.is_empty() && e.iter().all(|m| is_valid_email(&m.0)))
        && SignatureHash::from_wire(&cert.signature_hash.as_ref()?.0).is_some()
        && cert
            .organization_units
            .as_ref()
            .is_none_or(|ous| ous.iter().all(|ou| chars_within(&ou.0, 1, 64)))
        && organization.id.is_some_and(|id| id >= 1)
        && order
            .container
            .as_ref()
            .is_none_or(|c| c.id.is_none_or(|id| id >= 1))
        && (order.validity_years.is_some() || order.custom_expiration_date.is_some())
        && order
            .validity_years
            .is_none_or(|v| i64::try_from(v).is_ok_and(|v| ValidityYears::ALLOWED.contains(&v)))
        && order
            .custom_expiration_date
            .as_ref()
            .is_none_or(|d| parse_date(&d.0).is_some())
        && order.auto_renew.is_none_or(|n| n <= 99)
        && order.renewal_of_order_id.is_none_or(|id| id >= 1)
        && order
            .payment_method
            .as_ref()
            .is_none_or(|p| PaymentMethod::from_wire(&p.0).is_some())
        && order.custom_fields.as_ref().is_none_or(|fields| {
            fields
                .iter()
                .all(|f| f.metadata_id.is_some_and(|id| id >= 1) && f.value.is_some())
        });
    if !structural_ok {
        return None;
    }

    // The rules beyond the schema, shared with the full walk.
    let emails: Vec<(usize, &str)> = cert
        .emails
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, e)| (i, &*e.0))
        .collect();
    let facts = Facts {
        date: order
            .custom_expiration_date
            .as_ref()
            .and_then(|d| parse_date(&d.0)),
        has_validity_years: order.validity_years.is_some(),
        auto_renew_positive: order.auto_renew.filter(|n| *n > 0).map(|n| n.to_string()),
        payment: Some(
            order
                .payment_method
                .as_ref()
                .map_or(PaymentMethod::Balance.as_str(), |p| &*p.0),
        ),
        certificate: true,
        emails,
        csr: match &cert.csr {
            None => CsrField::Absent,
            Some(pem) => CsrField::Text(&pem.0),
        },
    };
    let mut findings = Findings::default();
    check_rules(&facts, ctx, &mut findings);
    if findings.errors.is_empty() {
        Some(findings.into_report())
    } else {
        None
    }
}
