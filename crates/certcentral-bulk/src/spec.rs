//! Turning a roster row into a validated order: identity, output name, order body.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use certcentral_types::{OrderRequest, PaymentMethod, ProductId, SignatureHash, WireEnum};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::roster::{RawRow, RowError};

/// Order-wide settings (the flags shared with `certcentral order`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderDefaults {
    /// `--product`: used when a row has no `product` cell.
    pub product: ProductId,
    /// `--org-id`: the organization every order is placed in.
    pub org_id: u64,
    /// `--container-id`.
    pub container_id: Option<u64>,
    /// `--skip-approval`.
    pub skip_approval: bool,
    /// `--payment-method` (server default `balance` when absent).
    pub payment_method: Option<PaymentMethod>,
    /// `--validity-years`: used when a row has neither `validity_years` nor
    /// `custom_expiration_date`.
    pub validity_years: i64,
    /// Today's UTC date, for date rules.
    pub today: NaiveDate,
}

/// One valid roster row, ready to order. Serialized into the run's staging table so the
/// whole roster never needs to sit in memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowSpec {
    /// Stable identity (see [`row_key`]).
    pub key: String,
    /// 1-based data row number.
    pub row: u64,
    /// 1-based file line.
    pub line: u64,
    /// Product to order.
    pub product: ProductId,
    /// Common name as written.
    pub common_name: String,
    /// Emails as written.
    pub emails: Vec<String>,
    /// Organization units.
    pub organization_units: Vec<String>,
    /// `validity_years`, when the body carries it.
    pub validity_years: Option<i64>,
    /// `custom_expiration_date`.
    pub custom_expiration_date: Option<NaiveDate>,
    /// An existing CSR file to use instead of generating a key.
    pub csr: Option<PathBuf>,
    /// Stem of the output files (`<name>.key`, `<name>.csr`, `<name>.crt`).
    pub name: String,
}

/// The stable identity of a roster row: `id:<id>` when the row has an `id` cell, otherwise
/// `h:` and the first 128 bits (hex) of the SHA-256 of the canonical JSON array
/// `["<product>","<common name>",["<email>",…]]`, of the product, the common name
/// ([`normalize_common_name`]) and the emails ([`normalize_emails`]). Reordering rows,
/// changing their case or spacing, or editing other columns keeps the identity, so no row
/// is ordered twice; JSON quoting keeps it unambiguous whatever a name holds (`|`, `,`, `"`),
/// and the digest keeps it short and free of separators in the report.
pub fn row_key(
    id: Option<&str>,
    product: ProductId,
    common_name: &str,
    emails: &[String],
) -> String {
    if let Some(id) = id {
        return format!("id:{}", id.trim());
    }
    identity_key(&product.to_string(), common_name, emails)
}

/// The identity of a row without an `id` cell (see [`row_key`]), from the product's text.
pub fn identity_key(product: &str, common_name: &str, emails: &[String]) -> String {
    use sha2::Digest;
    let canonical = json!([
        product,
        normalize_common_name(common_name),
        normalize_emails(emails)
    ])
    .to_string();
    let digest = sha2::Sha256::digest(canonical.as_bytes());
    let mut key = String::with_capacity(34);
    key.push_str("h:");
    for byte in &digest[..16] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    key
}

/// A common name as identities compare it: trimmed, inner whitespace collapsed, lowercased.
pub fn normalize_common_name(common_name: &str) -> String {
    common_name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Emails as identities compare them: trimmed, lowercased, sorted, deduplicated.
pub fn normalize_emails(emails: &[String]) -> Vec<String> {
    let mut emails: Vec<String> = emails.iter().map(|e| e.trim().to_lowercase()).collect();
    emails.sort();
    emails.dedup();
    emails
}

/// Output file stem for a row: [`crate::files::derive_name`] of the common name
/// ("Locke Cole" → `locke-cole`), or `row-N` when nothing usable is left.
pub fn derive_name(common_name: &str, row: u64) -> String {
    crate::files::derive_name(common_name).unwrap_or_else(|| format!("row-{row}"))
}

/// Which roster column (or flag) a validation path points at.
fn column_of(path: &str) -> String {
    let first: Vec<&str> = path.trim_start_matches('/').split('/').take(2).collect();
    match first.as_slice() {
        ["certificate", "common_name", ..] => "common_name".into(),
        ["certificate", "emails", ..] => "emails".into(),
        ["certificate", "organization_units", ..] => "organization_units".into(),
        ["certificate", "csr", ..] => "csr".into(),
        ["validity_years", ..] => "validity_years".into(),
        ["custom_expiration_date", ..] => "custom_expiration_date".into(),
        ["organization", ..] => "--org-id".into(),
        ["container", ..] => "--container-id".into(),
        ["payment_method", ..] => "--payment-method".into(),
        ["skip_approval", ..] => "--skip-approval".into(),
        _ if path.is_empty() => "-".into(),
        _ => path.into(),
    }
}

/// The JSON order body for a row (with `csr` when given).
fn body(
    defaults: &OrderDefaults,
    common_name: &str,
    emails: &[String],
    ous: &[String],
    validity_years: Option<Value>,
    custom_expiration_date: Option<&str>,
    csr: Option<&str>,
) -> Value {
    let mut certificate = Map::new();
    certificate.insert("common_name".into(), json!(common_name));
    certificate.insert("emails".into(), json!(emails));
    certificate.insert(
        "signature_hash".into(),
        json!(SignatureHash::Sha256.as_str()),
    );
    if !ous.is_empty() {
        certificate.insert("organization_units".into(), json!(ous));
    }
    if let Some(csr) = csr {
        certificate.insert("csr".into(), json!(csr));
    }
    let mut doc = Map::new();
    doc.insert("certificate".into(), Value::Object(certificate));
    doc.insert("organization".into(), json!({ "id": defaults.org_id }));
    if let Some(c) = defaults.container_id {
        doc.insert("container".into(), json!({ "id": c }));
    }
    if let Some(v) = validity_years {
        doc.insert("validity_years".into(), v);
    }
    if let Some(d) = custom_expiration_date {
        doc.insert("custom_expiration_date".into(), json!(d));
    }
    if defaults.skip_approval {
        doc.insert("skip_approval".into(), json!(true));
    }
    if let Some(p) = defaults.payment_method {
        doc.insert("payment_method".into(), json!(p.to_string()));
    }
    Value::Object(doc)
}

impl RowSpec {
    /// Checks a raw row against every order rule (the same validator the API client and the
    /// sandbox use) and returns the ready row, or every problem found with its column.
    /// A `csr` path is resolved against `roster_dir` and its content checked.
    pub fn build(
        raw: RawRow,
        defaults: &OrderDefaults,
        roster_dir: &Path,
    ) -> Result<RowSpec, Vec<RowError>> {
        let mut errors = Vec::new();
        let err = |column: &str, reason: String| RowError {
            row: raw.row,
            line: raw.line,
            column: column.to_owned(),
            reason,
        };
        let product = match raw.product.as_deref() {
            None => defaults.product,
            Some(p) => match ProductId::from_str(p) {
                Ok(p) => p,
                Err(_) => {
                    errors.push(err(
                        "product",
                        format!("unknown product '{p}' (allowed: {})", ProductId::allowed()),
                    ));
                    defaults.product
                }
            },
        };
        let common_name = raw.common_name.clone().unwrap_or_default();
        let validity_years = match raw.validity_years.as_deref() {
            Some(v) => Some(v.parse::<i64>().map_or_else(|_| json!(v), |n| json!(n))),
            None if raw.custom_expiration_date.is_none() => Some(json!(defaults.validity_years)),
            None => None,
        };
        let csr_path = raw.csr.as_ref().map(|p| roster_dir.join(p));
        let csr_text = match &csr_path {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => Some(text),
                Err(e) => {
                    errors.push(err("csr", format!("cannot read {}: {e}", path.display())));
                    None
                }
            },
            None => None,
        };
        let doc = body(
            defaults,
            &common_name,
            &raw.emails,
            &raw.organization_units,
            validity_years,
            raw.custom_expiration_date.as_deref(),
            csr_text.as_deref(),
        );
        let ctx = certcentral_validate::Context::new(product).with_today(defaults.today);
        let report = certcentral_validate::validate_value(&doc, &ctx);
        for v in &report.errors {
            errors.push(err(
                &column_of(&v.path),
                format!("{} ({})", v.message, v.code),
            ));
        }
        let name = raw
            .name
            .clone()
            .unwrap_or_else(|| derive_name(&common_name, raw.row));
        if let Err(reason) = crate::files::check_name(&name) {
            errors.push(err("name", reason));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let order: OrderRequest = match serde_json::from_value(doc) {
            Ok(o) => o,
            Err(e) => return Err(vec![err("-", format!("the order cannot be built: {e}"))]),
        };
        Ok(RowSpec {
            key: row_key(raw.id.as_deref(), product, &common_name, &raw.emails),
            row: raw.row,
            line: raw.line,
            product,
            common_name,
            emails: raw.emails,
            organization_units: raw.organization_units,
            validity_years: order.validity_years.as_ref().map(|v| **v),
            custom_expiration_date: order.custom_expiration_date,
            csr: csr_path,
            name,
        })
    }

    /// The order body for this row with the given CSR.
    pub fn order_request(
        &self,
        defaults: &OrderDefaults,
        csr: Option<&str>,
    ) -> Result<OrderRequest, String> {
        let date = self.custom_expiration_date.map(|d| d.to_string());
        let doc = body(
            defaults,
            &self.common_name,
            &self.emails,
            &self.organization_units,
            self.validity_years.map(|v| json!(v)),
            date.as_deref(),
            csr,
        );
        serde_json::from_value(doc).map_err(|e| format!("the order cannot be built: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> OrderDefaults {
        OrderDefaults {
            product: ProductId::ClientPremiumSha2,
            org_id: 112233,
            container_id: None,
            skip_approval: true,
            payment_method: None,
            validity_years: 1,
            today: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
        }
    }

    fn raw(cn: &str, emails: &[&str]) -> RawRow {
        RawRow {
            row: 3,
            line: 4,
            common_name: Some(cn.into()),
            emails: emails.iter().map(|e| e.to_string()).collect(),
            ..RawRow::default()
        }
    }

    #[test]
    fn identity_ignores_case_spacing_and_email_order() {
        let p = ProductId::ClientPremiumSha2;
        let a = row_key(
            None,
            p,
            "Locke  Cole ",
            &["B@example.com".into(), "a@example.com".into()],
        );
        let b = row_key(
            None,
            p,
            "locke cole",
            &["a@example.com".into(), "b@example.com".into()],
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            row_key(
                None,
                ProductId::ClientAuthenticationPlus,
                "locke cole",
                &["a@example.com".into(), "b@example.com".into()]
            )
        );
        assert_eq!(row_key(Some(" emp-7 "), p, "x", &[]), "id:emp-7");
    }

    #[test]
    fn identity_is_unambiguous_when_names_hold_separators() {
        let p = ProductId::ClientPremiumSha2;
        // Both were `client_premium_sha2|a|b|c@example.com` before keys were JSON.
        let a = row_key(None, p, "a|b", &["c@example.com".into()]);
        let b = row_key(None, p, "a", &["b|c@example.com".into()]);
        assert_ne!(a, b);
        let canonical = r#"["client_premium_sha2","a|b",["c@example.com"]]"#;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(canonical.as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(a, format!("h:{hex}"));
        let c = row_key(None, p, "x", &["a@example.com,b@example.com".into()]);
        let d = row_key(
            None,
            p,
            "x",
            &["a@example.com".into(), "b@example.com".into()],
        );
        assert_ne!(c, d);
    }

    #[test]
    fn names_are_derived_safely() {
        assert_eq!(derive_name("Locke Cole", 1), "locke-cole");
        assert_eq!(derive_name("  Émile  Zola!", 1), "mile-zola");
        assert_eq!(derive_name("日本", 9), "row-9");
    }

    #[test]
    fn valid_row_builds_an_order() {
        let spec = RowSpec::build(
            raw("Locke Cole", &["locke@example.com"]),
            &defaults(),
            Path::new("."),
        )
        .unwrap();
        assert_eq!(spec.name, "locke-cole");
        assert_eq!(spec.validity_years, Some(1));
        let order = spec.order_request(&defaults(), None).unwrap();
        assert_eq!(
            certcentral_types::OrderBody::ClientCertificate(order.clone()).subject_name(),
            "Locke Cole"
        );
        assert!(order.skip_approval);
    }

    #[test]
    fn invalid_row_names_columns() {
        let mut r = raw("", &["not-an-email"]);
        r.validity_years = Some("3".into());
        r.product = Some("ssl_plus".into());
        let errors = RowSpec::build(r, &defaults(), Path::new(".")).unwrap_err();
        let columns: Vec<&str> = errors.iter().map(|e| e.column.as_str()).collect();
        assert!(columns.contains(&"product"), "{errors:?}");
        assert!(columns.contains(&"common_name"), "{errors:?}");
        assert!(columns.contains(&"emails"), "{errors:?}");
        assert!(columns.contains(&"validity_years"), "{errors:?}");
        assert!(errors.iter().all(|e| e.row == 3 && e.line == 4));
    }

    #[test]
    fn unreadable_csr_is_reported() {
        let mut r = raw("A", &["a@example.com"]);
        r.csr = Some("missing.csr".into());
        let errors = RowSpec::build(r, &defaults(), Path::new("/nonexistent")).unwrap_err();
        assert_eq!(errors[0].column, "csr");
    }
}
