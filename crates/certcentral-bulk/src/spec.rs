//! Turning a roster row into a validated order: identity, output name, order body.
//!
//! A row's body is built by the one builder `certcentral order` uses for its flags
//! ([`OrderFields::to_body`], naming columns instead of flags), then checked with the
//! product's rules, so a roster row and a command line make the same order.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use certcentral_types::{
    CommonName, CommonNameIndicator, OrderBody, OrganizationUnit, PaymentMethod, PrimaryUsage,
    ProductId, ProfileType, ValidityYears, WireEnum,
};
use certcentral_validate::{Context, MemberRule, member_rule};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::roster::{RawRow, RowError};
use certcentral_validate::fields::{Field, Naming, OrderFields};

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
    /// `--payment-method` (`balance` when absent).
    pub payment_method: Option<PaymentMethod>,
    /// `--validity-years`: used when a row has neither `validity_years` nor
    /// `custom_expiration_date`.
    pub validity_years: i64,
    /// Today's UTC date, for date rules.
    pub today: NaiveDate,
    /// `--allow-unknown`: a `product` cell the catalog does not know is a warning
    /// (`unknown_product`) instead of an error; the row is built and checked as a `--product`
    /// row and sent to that product id as given.
    pub allow_unknown: bool,
}

/// The person a row names and what the key is for: the Secure Email products' columns (the
/// names and the pseudonym also serve the current legacy products' `individual`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Person {
    /// `first_name`.
    pub first_name: Option<String>,
    /// `last_name`.
    pub last_name: Option<String>,
    /// `pseudonym`.
    pub pseudonym: Option<String>,
    /// `cn_indicator` (inferred from the names or the pseudonym when absent, as `order` does).
    pub cn_indicator: Option<CommonNameIndicator>,
    /// `usage` (`dual_use` when absent).
    pub usage: Option<PrimaryUsage>,
    /// `additional_usage`.
    pub additional_usages: Vec<String>,
    /// `profile` (the account's default when absent).
    pub profile: Option<ProfileType>,
}

impl Person {
    /// Whether the row names no person and no key use (a legacy row).
    fn is_none(&self) -> bool {
        *self == Person::default()
    }
}

/// One valid roster row, ready to order. Serialized into the run's staging table so the
/// whole roster never needs to sit in memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RowSpec {
    /// Stable identity (see [`row_key`]).
    pub key: String,
    /// 1-based data row number.
    pub row: u64,
    /// 1-based file line.
    pub line: u64,
    /// Product to order.
    pub product: ProductId,
    /// The certificate's common name: the `common_name` cell as written, or for a product
    /// that takes none, the name its subject will carry ([`OrderBody::subject_name`]: the
    /// person's names, the pseudonym or the first email). The key is generated for it and
    /// the journal records it (reconciliation looks for it).
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
    /// The person and the key's use (boxed: most rows of a legacy roster have none, and the
    /// row travels through channels and the journal's updates).
    #[serde(default, skip_serializing_if = "Person::is_none")]
    pub person: Box<Person>,
    /// The `product` cell when the catalog does not know it (`--allow-unknown`): the order
    /// is sent to this id; `product` is then the product whose body and rules it was built
    /// with (`--product`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_product: Option<String>,
}

impl RowSpec {
    /// A problem with this row, in `column`.
    pub(crate) fn error(&self, column: &str, reason: String) -> RowError {
        RowError {
            row: self.row,
            line: self.line,
            column: column.to_owned(),
            reason,
        }
    }

    /// The product id the row is ordered as (`POST /order/certificate/{id}`, the journal's
    /// `product`): the unknown product's id, else the catalog product's.
    pub(crate) fn product_name(&self) -> &str {
        self.unknown_product
            .as_deref()
            .unwrap_or(self.product.as_str())
    }
}

/// [`row_key`] of a row with a common name (`None` id) or an `id` cell, by product id.
#[cfg(test)]
pub(crate) fn key_of(
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

/// The identity of a row without a common name and without an `id` cell: `h:` and the first
/// 128 bits (hex) of the SHA-256 of `["<product>",{"first_name":"…","last_name":"…",
/// "pseudonym":"…"},["<email>",…]]`, each name normalized like a common name
/// ([`normalize_common_name`]) and left out when the row has none (a mailbox row's person is
/// `{}`), the emails normalized ([`normalize_emails`]). An object never equals a string, so
/// such a row never shares an identity with a row that has a common name.
pub(crate) fn person_key(
    id: Option<&str>,
    product: &str,
    person: &Person,
    emails: &[String],
) -> String {
    if let Some(id) = id {
        return format!("id:{}", id.trim());
    }
    /// The person's names as the canonical object: members in key order, each present
    /// only when the row has it (what a `serde_json::Map` of them serializes to).
    #[derive(Serialize)]
    struct Who {
        #[serde(skip_serializing_if = "Option::is_none")]
        first_name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        last_name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pseudonym: Option<String>,
    }
    let name = |n: &Option<String>| n.as_deref().map(normalize_common_name);
    let who = Who {
        first_name: name(&person.first_name),
        last_name: name(&person.last_name),
        pseudonym: name(&person.pseudonym),
    };
    digest_key(&(product, who, normalize_emails(emails)))
}

/// The identity of a row without an `id` cell (see [`row_key`]), from the product's text.
pub(crate) fn identity_key(product: &str, common_name: &str, emails: &[String]) -> String {
    digest_key(&(
        product,
        normalize_common_name(common_name),
        normalize_emails(emails),
    ))
}

/// Feeds what is written into a SHA-256.
struct Hashing(sha2::Sha256);

impl std::io::Write for Hashing {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(&mut self.0, bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `h:` and the first 128 bits (hex) of the SHA-256 of `canonical`'s compact JSON text
/// (a tuple is a JSON array), written straight into the hasher.
fn digest_key(canonical: &impl Serialize) -> String {
    use sha2::Digest;
    let mut hashing = Hashing(sha2::Sha256::new());
    // Writing strings, sequences and a struct of strings into a hasher cannot fail.
    let _ = serde_json::to_writer(&mut hashing, canonical);
    let digest = hashing.0.finalize();
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
pub(crate) fn normalize_common_name(common_name: &str) -> String {
    common_name
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Emails as identities compare them: trimmed, lowercased, sorted, deduplicated.
pub(crate) fn normalize_emails(emails: &[String]) -> Vec<String> {
    let mut emails: Vec<String> = emails.iter().map(|e| e.trim().to_lowercase()).collect();
    emails.sort();
    emails.dedup();
    emails
}

/// Output file stem for a row: [`crate::files::derive_name`] of the subject's name (the
/// common name, or for a row without one the person's names, the pseudonym or the first
/// email: "Locke Cole" → `locke-cole`), or `row-N` when nothing usable is left.
pub(crate) fn derive_name(common_name: &str, row: u64) -> String {
    crate::files::derive_name(common_name).unwrap_or_else(|| format!("row-{row}"))
}

/// Which roster column (or flag) a validation path points at.
fn column_of(path: &str) -> String {
    let first: Vec<&str> = path.trim_start_matches('/').split('/').take(3).collect();
    match first.as_slice() {
        ["certificate", "common_name", ..] => "common_name".into(),
        ["certificate", "emails", ..] => "emails".into(),
        ["certificate", "organization_units", ..] => "organization_units".into(),
        ["certificate", "csr", ..] => "csr".into(),
        ["certificate", "individual", "first_name", ..] => "first_name".into(),
        ["certificate", "individual", "last_name", ..] => "last_name".into(),
        ["certificate", "individual", "pseudonym", ..] => "pseudonym".into(),
        // The person as a whole (e.g. required by the indicator): its columns.
        ["certificate", "individual", ..] => "first_name/last_name/pseudonym".into(),
        ["certificate", "common_name_indicator", ..] => "cn_indicator".into(),
        ["certificate", "usage_designation", "additional_usages", ..] => "additional_usage".into(),
        ["certificate", "usage_designation", ..] => "usage".into(),
        ["certificate", "profile_type", ..] => "profile".into(),
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

/// What the validator says about `value` placed at `pointer` (object members only) of a body
/// for `ctx`'s product: a cell that is not even of its member's type gets the words a JSON
/// body holding it would get. `None` when the validator finds nothing there.
fn member_problem(ctx: &Context, pointer: &str, value: Value) -> Option<String> {
    let mut doc = value;
    for segment in pointer.trim_start_matches('/').rsplit('/') {
        doc = json!({ segment: doc });
    }
    let report = certcentral_validate::validate_value(&doc, ctx);
    let found: Vec<String> = report
        .errors
        .iter()
        .filter(|v| v.path == pointer || v.path.starts_with(&format!("{pointer}/")))
        .map(|v| format!("{} ({})", v.message, v.code))
        .collect();
    (!found.is_empty()).then(|| found.join("; "))
}

/// A roster row's cells, typed the way `order`'s flags are: every problem found, each with
/// its column.
struct Cells<'a> {
    raw: &'a RawRow,
    ctx: &'a Context,
    errors: Vec<RowError>,
}

impl Cells<'_> {
    fn error(&mut self, column: &str, reason: String) {
        self.errors.push(RowError {
            row: self.raw.row,
            line: self.raw.line,
            column: column.to_owned(),
            reason,
        });
    }

    /// A text cell of a typed member at `pointer`.
    fn parse<T: FromStr>(&mut self, column: &str, pointer: &str, text: Option<&str>) -> Option<T>
    where
        T::Err: std::fmt::Display,
    {
        self.parse_in(column, pointer, text, |text| json!(text))
    }

    /// [`Cells::parse`] for the member at `pointer` holding `probe(text)` (e.g. a list).
    fn parse_in<T: FromStr>(
        &mut self,
        column: &str,
        pointer: &str,
        text: Option<&str>,
        probe: impl FnOnce(&str) -> Value,
    ) -> Option<T>
    where
        T::Err: std::fmt::Display,
    {
        let text = text?;
        match text.parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                let reason = member_problem(self.ctx, pointer, probe(text))
                    .unwrap_or_else(|| format!("`{text}` is not allowed here: {e}"));
                self.error(column, reason);
                None
            }
        }
    }

    /// `validity_years`: the row's, else `--validity-years` unless the row has a
    /// `custom_expiration_date`.
    fn validity_years(&mut self, defaults: &OrderDefaults) -> Option<ValidityYears> {
        let raw = self.raw;
        match raw.validity_years.as_deref() {
            Some(text) => {
                let number = text.parse::<i64>().ok();
                match number.and_then(|n| ValidityYears::try_from(n).ok()) {
                    Some(v) => Some(v),
                    None => {
                        let value = number.map_or_else(|| json!(text), |n| json!(n));
                        let reason = member_problem(self.ctx, "/validity_years", value)
                            .unwrap_or_else(|| {
                                format!(
                                    "`{text}` is not allowed (allowed: {:?})",
                                    ValidityYears::ALLOWED
                                )
                            });
                        self.error("validity_years", reason);
                        None
                    }
                }
            }
            None if raw.custom_expiration_date.is_none() => {
                match ValidityYears::try_from(defaults.validity_years) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        self.error(
                            "--validity-years",
                            format!("allowed: {:?}", ValidityYears::ALLOWED),
                        );
                        None
                    }
                }
            }
            None => None,
        }
    }

    /// `custom_expiration_date`, a date in the form yyyy-MM-dd.
    fn custom_expiration_date(&mut self) -> Option<NaiveDate> {
        let text = self.raw.custom_expiration_date.as_deref()?;
        match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(date) if text.len() == 10 => Some(date),
            _ => {
                let reason = member_problem(self.ctx, "/custom_expiration_date", json!(text))
                    .unwrap_or_else(|| format!("`{text}` is not a date in the form yyyy-MM-dd"));
                self.error("custom_expiration_date", reason);
                None
            }
        }
    }

    /// `--org-id` and `--container-id`, each a positive integer.
    fn ids(&mut self, defaults: &OrderDefaults) -> (Option<NonZeroU64>, Option<NonZeroU64>) {
        let org_id = NonZeroU64::new(defaults.org_id);
        if org_id.is_none() {
            self.error("--org-id", "must be a positive integer".into());
        }
        let container_id = match defaults.container_id {
            Some(id) => {
                let id = NonZeroU64::new(id);
                if id.is_none() {
                    self.error("--container-id", "must be a positive integer".into());
                }
                id
            }
            None => None,
        };
        (org_id, container_id)
    }

    /// A cell holding one value of a schema enum.
    fn wire<T: WireEnum>(&mut self, column: &str, text: Option<&str>) -> Option<T> {
        let text = text?;
        let value = T::from_wire(text);
        if value.is_none() {
            self.error(
                column,
                format!("unknown value `{text}` (allowed: {})", T::allowed()),
            );
        }
        value
    }
}

/// The order flags a row amounts to, from its cells and the order-wide settings: the input of
/// the one body builder ([`OrderFields::to_body`]).
fn flags(
    raw: &RawRow,
    defaults: &OrderDefaults,
    ctx: &Context,
) -> Result<(OrderFields, Person), Vec<RowError>> {
    let mut cells = Cells {
        raw,
        ctx,
        errors: Vec::new(),
    };
    let common_name: Option<CommonName> = cells.parse(
        "common_name",
        "/certificate/common_name",
        raw.common_name.as_deref(),
    );
    let [first_name, last_name, pseudonym] = [
        ("first_name", &raw.first_name),
        ("last_name", &raw.last_name),
        ("pseudonym", &raw.pseudonym),
    ]
    .map(|(column, text)| {
        let text = text.as_deref()?;
        let pointer = format!("/certificate/individual/{column}");
        cells.parse::<CommonName>(column, &pointer, Some(text))
    });
    let mut organization_units = Vec::new();
    for unit in &raw.organization_units {
        if let Some(unit) = cells.parse_in::<OrganizationUnit>(
            "organization_units",
            "/certificate/organization_units",
            Some(unit),
            |text| json!([text]),
        ) {
            organization_units.push(unit);
        }
    }
    let cn_indicator =
        cells.wire::<CommonNameIndicator>("cn_indicator", raw.cn_indicator.as_deref());
    let usage = cells.wire::<PrimaryUsage>("usage", raw.usage.as_deref());
    let profile = cells.wire::<ProfileType>("profile", raw.profile.as_deref());
    let validity_years = cells.validity_years(defaults);
    let custom_expiration_date = cells.custom_expiration_date();
    let (org_id, container_id) = cells.ids(defaults);
    if !cells.errors.is_empty() {
        return Err(cells.errors);
    }
    let person = Person {
        first_name: first_name.as_ref().map(|n| n.to_string()),
        last_name: last_name.as_ref().map(|n| n.to_string()),
        pseudonym: pseudonym.as_ref().map(|n| n.to_string()),
        cn_indicator,
        usage,
        additional_usages: raw.additional_usages.clone(),
        profile,
    };
    let flags = OrderFields {
        common_name,
        emails: raw.emails.clone(),
        organization_units,
        org_id,
        container_id,
        validity_years,
        custom_expiration_date,
        payment_method: defaults.payment_method,
        skip_approval: defaults.skip_approval,
        first_name,
        last_name,
        pseudonym,
        cn_indicator,
        usage,
        additional_usages: raw.additional_usages.clone(),
        profile,
        ..OrderFields::default()
    };
    Ok((flags, person))
}

/// The product a row is ordered as (its `product` cell, else `--product`) and, with
/// `--allow-unknown`, the unknown product id it is sent to as given.
fn row_product(
    raw: &RawRow,
    defaults: &OrderDefaults,
) -> Result<(ProductId, Option<String>), RowError> {
    let Some(p) = raw.product.as_deref() else {
        return Ok((defaults.product, None));
    };
    match ProductId::from_str(p) {
        Ok(p) => Ok((p, None)),
        Err(_) if defaults.allow_unknown => {
            tracing::warn!(
                code = certcentral_validate::codes::UNKNOWN_PRODUCT,
                "row {} (line {}), column product: `{p}` is not a product certcentral knows (allowed: {}); the row is built and checked as a --product {} row and sent to `{p}` as given, because unknown products are allowed (--allow-unknown)",
                raw.row,
                raw.line,
                ProductId::allowed(),
                defaults.product.as_str()
            );
            Ok((defaults.product, Some(p.to_owned())))
        }
        Err(_) => Err(RowError {
            row: raw.row,
            line: raw.line,
            column: "product".to_owned(),
            reason: format!(
                "unknown product '{p}' (allowed: {}; --allow-unknown sends it as given, built as a --product row)",
                ProductId::allowed()
            ),
        }),
    }
}

/// The order body of a row's `flags` (built as `order` builds it), or the problem, named
/// by column.
fn row_body(raw: &RawRow, flags: &OrderFields, product: ProductId) -> Result<OrderBody, RowError> {
    flags.to_body(product, Naming::Columns).map_err(|e| {
        let mut reason = e.message;
        if raw.product.is_none() && e.field == Field::CommonName {
            reason.push_str(&format!(
                "; rows without a product cell are ordered as --product {}: give the row a product cell or pass --product for the product its common name is for",
                product.as_str()
            ));
        }
        RowError {
            row: raw.row,
            line: raw.line,
            column: Naming::Columns.of(e.field).to_owned(),
            reason,
        }
    })
}

/// Every problem the validator (the one the API client and the sandbox use) finds in a row's
/// `body`, named by column.
fn body_problems(raw: &RawRow, body: &OrderBody, ctx: &Context) -> Vec<RowError> {
    let report = certcentral_validate::validate_body(body, ctx);
    report
        .errors
        .iter()
        .map(|v| RowError {
            row: raw.row,
            line: raw.line,
            column: column_of(&v.path),
            reason: format!("{} ({})", v.message, v.code),
        })
        .collect()
}

/// The stable identity of a roster row: `id:<id>` when the row has an `id` cell, otherwise
/// `h:` and the first 128 bits (hex) of the SHA-256 of a canonical JSON array:
///
/// - a row with a common name: `["<product>","<common name>",["<email>",…]]`, of the
///   product, the common name ([`normalize_common_name`]) and the emails
///   ([`normalize_emails`]) — the identity every journal so far holds;
/// - a row without one (the Secure Email products, `class1_smime`): [`person_key`], the
///   person in place of the common name.
///
/// Reordering rows, changing their case or spacing, or editing other columns keeps the
/// identity, so no row is ordered twice; JSON quoting keeps it unambiguous whatever a name
/// holds (`|`, `,`, `"`), and the digest keeps it short and free of separators in the report.
///
/// `product_name` is the product as ordered (an unknown one's id included).
pub(crate) fn row_key(raw: &RawRow, product_name: &str, person: &Person) -> String {
    match (&raw.common_name, raw.id.as_deref()) {
        (Some(common_name), None) => identity_key(product_name, common_name, &raw.emails),
        (_, id) => person_key(id, product_name, person, &raw.emails),
    }
}

/// The body's validity: years, or the custom expiration date.
fn validity_of(body: &OrderBody) -> (Option<ValidityYears>, Option<NaiveDate>) {
    match body {
        OrderBody::ClientCertificate(b) => (b.validity_years.clone(), b.custom_expiration_date),
        OrderBody::SecureEmail(b) => (b.validity_years.clone(), b.custom_expiration_date),
    }
}

impl RowSpec {
    /// Checks a raw row against every order rule (the body built as `order` builds it, then
    /// the validator the API client and the sandbox use) and returns the ready row, or every
    /// problem found with its column. A `csr` path is resolved against `roster_dir` and its
    /// content checked.
    pub(crate) fn build(
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
        let (product, unknown_product) = match row_product(&raw, defaults) {
            Ok(product) => product,
            Err(e) => {
                errors.push(e);
                // Checked against another product's rules, the row's other cells would
                // get misleading errors.
                return Err(errors);
            }
        };
        let ctx = Context::new(product).with_today(defaults.today);
        let csr_path = raw.csr.as_ref().map(|p| roster_dir.join(p));
        let csr_text = match csr_path.as_deref().map(std::fs::read_to_string) {
            Some(Ok(text)) => Some(text),
            Some(Err(e)) => {
                let shown = csr_path.as_deref().unwrap_or(roster_dir).display();
                errors.push(err("csr", format!("cannot read {shown}: {e}")));
                None
            }
            None => None,
        };
        let (flags, person) = match flags(&raw, defaults, &ctx) {
            Ok(built) => built,
            Err(mut more) => {
                errors.append(&mut more);
                return Err(errors);
            }
        };
        let mut body = match row_body(&raw, &flags, product) {
            Ok(body) => body,
            Err(e) => {
                errors.push(e);
                return Err(errors);
            }
        };
        if let Some(csr) = &csr_text {
            body.set_csr(csr.clone());
        }
        errors.extend(body_problems(&raw, &body, &ctx));
        let subject = body.subject_name();
        let name = raw
            .name
            .clone()
            .unwrap_or_else(|| derive_name(&subject, raw.row));
        if let Err(reason) = crate::files::check_name(&name) {
            errors.push(err("name", reason));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let (validity_years, custom_expiration_date) = validity_of(&body);
        let product_name = unknown_product.as_deref().unwrap_or(product.as_str());
        let key = row_key(&raw, product_name, &person);
        Ok(RowSpec {
            key,
            row: raw.row,
            line: raw.line,
            product,
            common_name: raw.common_name.clone().unwrap_or(subject),
            emails: raw.emails,
            organization_units: raw.organization_units,
            validity_years: validity_years.as_ref().map(|v| **v),
            custom_expiration_date,
            csr: csr_path,
            name,
            person: Box::new(person),
            unknown_product,
        })
    }

    /// The raw row this row was read from (the cells its body is built from).
    fn cells(&self) -> RawRow {
        let takes_common_name = !matches!(
            member_rule(self.product, "/certificate/common_name"),
            MemberRule::Forbidden(_)
        );
        RawRow {
            row: self.row,
            line: self.line,
            common_name: takes_common_name.then(|| self.common_name.clone()),
            emails: self.emails.clone(),
            organization_units: self.organization_units.clone(),
            validity_years: self.validity_years.map(|v| v.to_string()),
            custom_expiration_date: self.custom_expiration_date.map(|d| d.to_string()),
            first_name: self.person.first_name.clone(),
            last_name: self.person.last_name.clone(),
            pseudonym: self.person.pseudonym.clone(),
            cn_indicator: self.person.cn_indicator.map(|v| v.as_str().to_owned()),
            usage: self.person.usage.map(|v| v.as_str().to_owned()),
            additional_usages: self.person.additional_usages.clone(),
            profile: self.person.profile.map(|v| v.as_str().to_owned()),
            ..RawRow::default()
        }
    }

    /// The order body for this row with the given CSR, built again from the row's cells by
    /// the one body builder.
    pub(crate) fn order_request(
        &self,
        defaults: &OrderDefaults,
        csr: Option<&str>,
    ) -> Result<OrderBody, String> {
        let ctx = Context::new(self.product).with_today(defaults.today);
        let problems = |errors: Vec<RowError>| {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            format!("the order cannot be built: {}", list.join("; "))
        };
        let (flags, _) = flags(&self.cells(), defaults, &ctx).map_err(problems)?;
        let mut body = flags
            .to_body(self.product, Naming::Columns)
            .map_err(|e| format!("the order cannot be built: {}", e.message))?;
        if let Some(csr) = csr {
            body.set_csr(csr.to_owned());
        }
        Ok(body)
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
            allow_unknown: false,
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
        let a = key_of(
            None,
            p,
            "Locke  Cole ",
            &["B@example.com".into(), "a@example.com".into()],
        );
        let b = key_of(
            None,
            p,
            "locke cole",
            &["a@example.com".into(), "b@example.com".into()],
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            key_of(
                None,
                ProductId::ClientAuthenticationPlus,
                "locke cole",
                &["a@example.com".into(), "b@example.com".into()]
            )
        );
        assert_eq!(key_of(Some(" emp-7 "), p, "x", &[]), "id:emp-7");
    }

    #[test]
    fn identity_is_unambiguous_when_names_hold_separators() {
        let p = ProductId::ClientPremiumSha2;
        // Both were `client_premium_sha2|a|b|c@example.com` before keys were JSON.
        let a = key_of(None, p, "a|b", &["c@example.com".into()]);
        let b = key_of(None, p, "a", &["b|c@example.com".into()]);
        assert_ne!(a, b);
        let canonical = r#"["client_premium_sha2","a|b",["c@example.com"]]"#;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(canonical.as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(a, format!("h:{hex}"));
        let c = key_of(None, p, "x", &["a@example.com,b@example.com".into()]);
        let d = key_of(
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
        assert_eq!(order.subject_name(), "Locke Cole");
        let OrderBody::ClientCertificate(order) = order else {
            panic!("the seed's body for {:?}", spec.product)
        };
        assert!(order.skip_approval);
    }

    #[test]
    fn invalid_row_names_columns() {
        let columns = |errors: &[RowError]| -> Vec<String> {
            errors.iter().map(|e| e.column.clone()).collect()
        };
        // Cells not of their member's type: every one reported at once.
        let mut r = raw("Locke Cole", &["locke@example.com"]);
        r.validity_years = Some("3".into());
        r.custom_expiration_date = Some("2026-13-01".into());
        r.cn_indicator = Some("nickname".into());
        r.organization_units = vec!["x".repeat(65)];
        let errors = RowSpec::build(r, &defaults(), Path::new(".")).unwrap_err();
        assert_eq!(
            columns(&errors),
            [
                "organization_units",
                "cn_indicator",
                "validity_years",
                "custom_expiration_date"
            ],
            "{errors:?}"
        );
        // A cell not of its member's type gets the validator's words for that member.
        assert!(
            errors[0].reason.contains("found 65 characters"),
            "{errors:?}"
        );
        assert!(errors[2].reason.contains("one of: 1, 2"), "{errors:?}");
        assert!(errors.iter().all(|e| e.row == 3 && e.line == 4));
        // A missing common name, for a product that takes one.
        let errors =
            RowSpec::build(raw("", &["a@example.com"]), &defaults(), Path::new(".")).unwrap_err();
        assert_eq!(columns(&errors), ["common_name"], "{errors:?}");
        // The body's own rules.
        let errors =
            RowSpec::build(raw("A", &["not-an-email"]), &defaults(), Path::new(".")).unwrap_err();
        assert_eq!(columns(&errors), ["emails"], "{errors:?}");
        // An unknown product: nothing else is checked against another product's rules.
        let mut r = raw("A", &["not-an-email"]);
        r.product = Some("ssl_plus".into());
        let errors = RowSpec::build(r, &defaults(), Path::new(".")).unwrap_err();
        assert_eq!(columns(&errors), ["product"], "{errors:?}");
    }

    fn person_row(product: &str, first: &str, last: &str, emails: &[&str]) -> RawRow {
        RawRow {
            common_name: None,
            product: Some(product.into()),
            first_name: (!first.is_empty()).then(|| first.into()),
            last_name: (!last.is_empty()).then(|| last.into()),
            ..raw("", emails)
        }
    }

    /// A Secure Email row's body is the one `order` builds from the same flags.
    #[test]
    fn secure_email_rows_build_the_order_flags_body() {
        let row = person_row(
            "secure_email_sponsor",
            "Locke",
            "Cole",
            &["locke@example.com"],
        );
        let spec = RowSpec::build(row, &defaults(), Path::new(".")).unwrap();
        assert_eq!(spec.product, ProductId::SecureEmailSponsor);
        assert_eq!(spec.common_name, "Locke Cole");
        assert_eq!(spec.name, "locke-cole");
        let body = spec.order_request(&defaults(), None).unwrap();
        let flags = OrderFields {
            first_name: Some("Locke".parse().unwrap()),
            last_name: Some("Cole".parse().unwrap()),
            emails: vec!["locke@example.com".into()],
            org_id: NonZeroU64::new(112233),
            skip_approval: true,
            ..OrderFields::default()
        };
        assert_eq!(
            body,
            flags
                .to_body(ProductId::SecureEmailSponsor, Naming::Flags)
                .unwrap()
        );
        // A mailbox row: no person; its files are named after its first email.
        let row = person_row("secure_email_mailbox", "", "", &["Terra@Example.com"]);
        let spec = RowSpec::build(row, &defaults(), Path::new(".")).unwrap();
        assert_eq!(spec.name, "terra-example-com");
        assert_eq!(spec.common_name, "Terra@Example.com");
        // Usage, profile, indicator and pseudonym columns reach the body.
        let mut row = person_row("secure_email_sponsor", "", "", &["m@example.com"]);
        row.pseudonym = Some("Mog".into());
        row.usage = Some("signing".into());
        row.additional_usages = vec!["non_repudiation".into()];
        row.profile = Some("strict".into());
        let spec = RowSpec::build(row, &defaults(), Path::new(".")).unwrap();
        assert_eq!(spec.name, "mog");
        let OrderBody::SecureEmail(body) = spec.order_request(&defaults(), None).unwrap() else {
            panic!("a Secure Email body")
        };
        assert_eq!(
            body.certificate.common_name_indicator,
            Some(CommonNameIndicator::Pseudonym)
        );
        assert_eq!(
            body.certificate.usage_designation.primary_usage,
            PrimaryUsage::Signing
        );
        assert_eq!(
            body.certificate.usage_designation.additional_usages,
            ["non_repudiation"]
        );
        assert_eq!(body.certificate.profile_type, Some(ProfileType::Strict));
    }

    /// A row without a common name is identified by its person: pinned, and never equal to
    /// a row with a common name.
    #[test]
    fn identity_of_rows_without_a_common_name() {
        let p = ProductId::SecureEmailSponsor;
        let person = Person {
            first_name: Some(" Locke ".into()),
            last_name: Some("COLE".into()),
            usage: Some(PrimaryUsage::Signing),
            ..Person::default()
        };
        let emails = ["B@example.com".to_string(), "a@example.com".to_string()];
        let key = person_key(None, p.as_str(), &person, &emails);
        let canonical = r#"["secure_email_sponsor",{"first_name":"locke","last_name":"cole"},["a@example.com","b@example.com"]]"#;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(canonical.as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(key, format!("h:{hex}"));
        // Other columns (usage, indicator, profile) are not part of it.
        let plain = Person {
            usage: None,
            ..person.clone()
        };
        assert_eq!(person_key(None, p.as_str(), &plain, &emails), key);
        assert_ne!(key_of(None, p, "Locke Cole", &emails), key);
        let pseudonym = Person {
            pseudonym: Some("Locke Cole".into()),
            ..Person::default()
        };
        assert_ne!(person_key(None, p.as_str(), &pseudonym, &emails), key);
        assert_eq!(
            person_key(Some(" emp-7 "), p.as_str(), &person, &emails),
            "id:emp-7"
        );
        // Through `build`: a legacy row keeps its key, a person row gets the person's.
        let legacy = RowSpec::build(
            raw("Locke Cole", &["a@example.com"]),
            &defaults(),
            Path::new("."),
        )
        .unwrap();
        assert_eq!(
            legacy.key,
            key_of(
                None,
                ProductId::ClientPremiumSha2,
                "Locke Cole",
                &["a@example.com".into()]
            )
        );
    }

    /// The identity's canonical JSON is written straight into the hasher: the digest is the
    /// one of the canonical `serde_json::Value`'s text (what journals hold), whatever a name
    /// holds (quotes, escapes, control characters, non-ASCII, separators).
    #[test]
    fn identity_digest_is_that_of_the_canonical_json_value() {
        let digest = |canonical: &Value| {
            let digest = <sha2::Sha256 as sha2::Digest>::digest(canonical.to_string().as_bytes());
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            format!("h:{hex}")
        };
        let names = [
            "Locke Cole",
            " a\"b\\c/d ",
            "tab\there\nnew line",
            "ctl\u{1}\u{1f}\u{7f}\u{80}",
            "Émile  ZOLA",
            "日本 語 \u{2028}\u{fffd}",
            "a|b,c;d",
            "",
        ];
        for name in names {
            let emails = vec![format!("{name}@Example.com"), " b@example.com".into()];
            let product = "client_premium_sha2";
            let canonical = json!([
                product,
                normalize_common_name(name),
                normalize_emails(&emails)
            ]);
            assert_eq!(
                identity_key(product, name, &emails),
                digest(&canonical),
                "{name:?}"
            );
            for (first, last, pseudonym) in [
                (Some(name), Some("Cole"), None),
                (None, None, Some(name)),
                (Some(name), None, Some("x")),
                (None, None, None),
            ] {
                let person = Person {
                    first_name: first.map(str::to_owned),
                    last_name: last.map(str::to_owned),
                    pseudonym: pseudonym.map(str::to_owned),
                    ..Person::default()
                };
                let mut who = serde_json::Map::new();
                for (member, value) in [
                    ("first_name", first),
                    ("last_name", last),
                    ("pseudonym", pseudonym),
                ] {
                    if let Some(value) = value {
                        who.insert(member.into(), json!(normalize_common_name(value)));
                    }
                }
                let canonical = json!([product, who, normalize_emails(&emails)]);
                assert_eq!(
                    person_key(None, product, &person, &emails),
                    digest(&canonical),
                    "{person:?}"
                );
            }
        }
    }

    /// Every problem of the new columns names its row, column and what is allowed.
    #[test]
    fn person_column_errors() {
        let sponsor = |first: &str, last: &str| {
            person_row("secure_email_sponsor", first, last, &["locke@example.com"])
        };
        let mut rows = Vec::new();
        let mut r = sponsor("Locke", "Cole");
        r.common_name = Some("Locke Cole".into());
        rows.push(r);
        rows.push(person_row(
            "secure_email_mailbox",
            "Locke",
            "Cole",
            &["l@example.com"],
        ));
        let mut r = sponsor("Locke", "Cole");
        r.usage = Some("encrypt".into());
        r.profile = Some("loose".into());
        rows.push(r);
        let mut r = sponsor("", "");
        r.cn_indicator = Some("pseudonym".into());
        rows.push(r);
        let mut r = raw("Locke Cole", &["l@example.com"]);
        r.usage = Some("signing".into());
        rows.push(r);
        rows.push(sponsor(&"L".repeat(65), "Cole"));
        let mut r = sponsor("Locke", "Cole");
        r.product = None;
        r.common_name = Some("Locke Cole".into());
        (r.row, r.line) = (7, 8);
        let mut sponsor_default = defaults();
        sponsor_default.product = ProductId::SecureEmailSponsor;
        let mut text = String::new();
        for (n, mut row) in rows.into_iter().enumerate() {
            row.row = n as u64 + 1;
            row.line = n as u64 + 2;
            for e in RowSpec::build(row, &defaults(), Path::new(".")).unwrap_err() {
                text.push_str(&format!("{e}\n"));
            }
        }
        for e in RowSpec::build(r, &sponsor_default, Path::new(".")).unwrap_err() {
            text.push_str(&format!("{e}\n"));
        }
        insta::assert_snapshot!(text);
    }

    #[test]
    fn unreadable_csr_is_reported() {
        let mut r = raw("A", &["a@example.com"]);
        r.csr = Some("missing.csr".into());
        let errors = RowSpec::build(r, &defaults(), Path::new("/nonexistent")).unwrap_err();
        assert_eq!(errors[0].column, "csr");
    }
}
