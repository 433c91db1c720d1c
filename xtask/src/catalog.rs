//! The product catalog, generated from `schema/catalog.json`.
//!
//! The catalog is the one definition of every product (id, display name, family, status,
//! request profile), of the request profiles (which request schema, the custom-expiration
//! window, the key policy), of the key policies, of the API's rate-limit windows and of the
//! status-changes time frame. Codegen checks it against the request schemas, injects the
//! `ProductId` enum into typify's copy of the order-request schema (so the schema files never
//! repeat the product list), and writes `certcentral_types::catalog`.
//!
//! Values the request schemas already define are read from there, not repeated: a profile's
//! allowed validity years are its schema's `ValidityYears` enum; the signature hashes are the
//! `SignatureHash` enum (the catalog only adds their display names).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde::Deserialize;
use serde_json::{Value, json};

/// The catalog file, relative to the repository root.
pub const CATALOG: &str = "schema/catalog.json";

/// The catalog file's contents.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Free text for readers.
    pub description: String,
    /// Product families.
    pub families: Vec<FamilySpec>,
    /// Request profiles: which body a product takes and the rules beyond the schema.
    pub request_profiles: Vec<ProfileSpec>,
    /// Allowed CSR keys.
    pub key_policies: Vec<KeyPolicySpec>,
    /// Display names of the `SignatureHash` values.
    pub signature_hash_names: BTreeMap<String, String>,
    /// The products.
    pub products: Vec<ProductSpec>,
    /// The product used when none is given.
    pub default_product: String,
    /// The API's rate-limit windows (per API key, rolling).
    pub rate_limits: Vec<RateLimitSpec>,
    /// The longest time frame of `GET /order/certificate/status-changes`, in minutes.
    pub status_changes_max_minutes: u32,
}

/// A product family.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilySpec {
    /// snake_case id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// One sentence.
    pub description: String,
}

/// A request profile.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// snake_case id.
    pub id: String,
    /// One sentence.
    pub description: String,
    /// The request schema file (in `schema/`). Its `x-max-days-ahead` (the date window) and
    /// `x-csr` (the allowed keys) are read from there, never restated here.
    pub schema: String,
    /// Id of the key policy CSRs must follow.
    pub key_policy: String,
    /// The `$defs` entry of the schema that is this body's root (e.g. `SecureEmailOrderRequest`);
    /// absent: the schema file's root.
    #[serde(default)]
    pub root: Option<String>,
}

/// A key policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPolicySpec {
    /// snake_case id.
    pub id: String,
    /// One sentence.
    pub description: String,
}

/// The allowed CSR keys, as the `x-csr` keyword of a request schema states them.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub struct XCsr {
    /// Allowed RSA modulus sizes.
    pub rsa_bits: Vec<u32>,
    /// Allowed ECDSA curves (`P-256`, `P-384`, `P-521`).
    pub ec_curves: Vec<String>,
}

/// The first value of keyword `name` anywhere in `schema` (depth first).
fn find_keyword<'a>(schema: &'a Value, name: &str) -> Option<&'a Value> {
    match schema {
        Value::Object(map) => map
            .get(name)
            .or_else(|| map.values().find_map(|v| find_keyword(v, name))),
        Value::Array(items) => items.iter().find_map(|v| find_keyword(v, name)),
        _ => None,
    }
}

/// The schema's `x-max-days-ahead` (the `custom_expiration_date` window).
pub fn max_days_ahead(schema: &Value) -> Option<u64> {
    find_keyword(schema, "x-max-days-ahead").and_then(Value::as_u64)
}

/// The schema's `x-csr` (the allowed CSR keys).
pub fn x_csr(schema: &Value) -> Option<XCsr> {
    find_keyword(schema, "x-csr").and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// The keys a policy allows: the `x-csr` of the schema of the first profile naming it.
fn policy_keys(catalog: &Catalog, schemas: &[(&str, Value)], policy: &str) -> Option<XCsr> {
    catalog
        .request_profiles
        .iter()
        .filter(|p| p.key_policy == policy)
        .find_map(|p| schema_named(schemas, &p.schema).and_then(x_csr))
}

/// A product.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSpec {
    /// The `product_name_id`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Family id.
    pub family: String,
    /// `current` or `deprecated`.
    pub status: String,
    /// For a deprecated product: since when (`yyyy-MM-dd`).
    #[serde(default)]
    pub deprecated_on: Option<String>,
    /// For a deprecated product: the product that replaces it (a catalog id).
    #[serde(default)]
    pub replacement: Option<String>,
    /// Request profile id.
    pub request_profile: String,
    /// The `$defs` entry (marked `"x-rules": true`) of the profile's schema holding the rules
    /// only this product follows (required members, forbidden members, warnings); absent:
    /// only the profile's body rules apply.
    #[serde(default)]
    pub rules: Option<String>,
    /// For an S/MIME product: how its certificates are validated and profiled (the CA/B
    /// Forum's reserved policy OID `2.23.140.1.5.V.G`); absent: not S/MIME.
    #[serde(default)]
    pub smime: Option<SmimeSpec>,
}

/// How an S/MIME product's certificates are issued (S/MIME Baseline Requirements).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmimeSpec {
    /// The validation type (the `V` of the policy OID).
    pub validation: SmimeValidation,
    /// Which profile generation (the `G` of the policy OID) its certificates get.
    pub generation: SmimeGeneration,
}

/// An S/MIME validation type.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmimeValidation {
    /// Mailbox-validated: the subject holds only the email address.
    Mailbox,
    /// Organization-validated: the organization, no person.
    Organization,
    /// Sponsor-validated: the organization and a person (name or pseudonym).
    Sponsored,
}

/// Which S/MIME profile generation a product's certificates get.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmimeGeneration {
    /// The order's `profile_type`: strict unless it asks for multipurpose.
    AsOrdered,
    /// Always multipurpose, whatever the order says (the legacy products since 2025-07-10).
    Multipurpose,
}

/// One rate-limit window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Requests allowed in the window.
    pub requests: u32,
    /// Window length in seconds.
    pub seconds: u64,
}

/// The ECDSA curves a key policy may name.
const CURVES: &[&str] = &["P-256", "P-384", "P-521"];

/// Parses the catalog text.
pub fn parse(text: &str) -> Result<Catalog> {
    serde_json::from_str(text).context("schema/catalog.json does not match the catalog format")
}

fn is_snake(id: &str) -> bool {
    !id.is_empty()
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// The string values of `$defs.NAME.enum` in `schema`.
pub fn string_enum(schema: &Value, name: &str) -> Option<Vec<String>> {
    schema
        .get("$defs")?
        .get(name)?
        .get("enum")?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// The integer values of `$defs.NAME.enum` in `schema`.
pub fn integer_enum(schema: &Value, name: &str) -> Option<Vec<i64>> {
    schema
        .get("$defs")?
        .get(name)?
        .get("enum")?
        .as_array()?
        .iter()
        .map(Value::as_i64)
        .collect()
}

/// The keyword marking a `$defs` entry as a rule set (per product, or shared by bodies), not
/// a type: codegen keeps it out of typify's copy.
pub const RULES_KEYWORD: &str = "x-rules";

/// The `$defs` entry `name` of `schema`.
pub fn def_named<'a>(schema: &'a Value, name: &str) -> Option<&'a Value> {
    schema.get("$defs")?.get(name)
}

fn schema_named<'a>(schemas: &'a [(&str, Value)], file: &str) -> Option<&'a Value> {
    schemas
        .iter()
        .find(|(path, _)| path.rsplit('/').next() == Some(file))
        .map(|(_, schema)| schema)
}

/// Every problem of the catalog, alone and against the schema files.
pub fn check(catalog: &Catalog, schemas: &[(&str, Value)]) -> Vec<String> {
    let mut checker = Checker {
        catalog,
        schemas,
        problems: Vec::new(),
    };
    let ids = checker.ids();
    if catalog.products.is_empty() {
        checker
            .problems
            .push("the catalog lists no product".to_owned());
    }
    for profile in &catalog.request_profiles {
        checker.profile(profile, &ids.policies);
    }
    for policy in &catalog.key_policies {
        checker.policy(policy);
    }
    for product in &catalog.products {
        checker.product(product, &ids);
    }
    checker.limits(&ids.products);
    checker.problems
}

/// The ids the catalog defines, by kind.
struct Ids {
    families: BTreeSet<String>,
    profiles: BTreeSet<String>,
    policies: BTreeSet<String>,
    products: BTreeSet<String>,
}

/// [`check`]'s state: what is checked and the problems found so far.
struct Checker<'a> {
    catalog: &'a Catalog,
    schemas: &'a [(&'a str, Value)],
    problems: Vec<String>,
}

impl Checker<'_> {
    /// Every kind's ids, each snake_case and defined once.
    fn ids(&mut self) -> Ids {
        let catalog = self.catalog;
        Ids {
            families: self.unique(
                "family",
                catalog.families.iter().map(|f| f.id.as_str()).collect(),
            ),
            profiles: self.unique(
                "request profile",
                catalog
                    .request_profiles
                    .iter()
                    .map(|p| p.id.as_str())
                    .collect(),
            ),
            policies: self.unique(
                "key policy",
                catalog.key_policies.iter().map(|p| p.id.as_str()).collect(),
            ),
            products: self.unique(
                "product",
                catalog.products.iter().map(|p| p.id.as_str()).collect(),
            ),
        }
    }

    /// The ids of one kind, each snake_case and defined once.
    fn unique(&mut self, kind: &str, ids: Vec<&str>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        for id in ids {
            if !is_snake(id) {
                self.problems
                    .push(format!("{kind} {id:?}: ids are snake_case"));
            }
            if !seen.insert(id.to_owned()) {
                self.problems
                    .push(format!("{kind} {id:?} is defined twice"));
            }
        }
        seen
    }

    /// A request profile: its key policy exists, its schema is one of the files and holds
    /// what the profile needs.
    fn profile(&mut self, profile: &ProfileSpec, policies: &BTreeSet<String>) {
        let at = format!("request profile {:?}", profile.id);
        if !policies.contains(&profile.key_policy) {
            self.problems.push(format!(
                "{at}: key policy {:?} does not exist",
                profile.key_policy
            ));
        }
        match schema_named(self.schemas, &profile.schema) {
            None => self.problems.push(format!(
                "{at}: schema {:?} is not one of the schema files",
                profile.schema
            )),
            Some(schema) => {
                self.profile_schema(&at, profile, schema);
                self.profile_enums(&at, profile, schema);
            }
        }
    }

    /// A profile's schema: its date bound, CSR keys, root and validity years.
    fn profile_schema(&mut self, at: &str, profile: &ProfileSpec, schema: &Value) {
        if max_days_ahead(schema).is_none_or(|d| d < 1) {
            self.problems.push(format!(
                "{at}: {} has no `x-max-days-ahead` of at least 1",
                profile.schema
            ));
        }
        match (
            x_csr(schema),
            policy_keys(self.catalog, self.schemas, &profile.key_policy),
        ) {
            (None, _) => self.problems.push(format!(
                "{at}: {} has no valid `x-csr` (rsa_bits, ec_curves)",
                profile.schema
            )),
            (Some(own), Some(first)) if own != first => self.problems.push(format!(
                "{at}: key policy {:?} is named by profiles whose schemas' `x-csr` differ",
                profile.key_policy
            )),
            _ => {}
        }
        if let Some(root) = &profile.root
            && def_named(schema, root)
                .is_none_or(|def| def.get("title").and_then(Value::as_str) != Some(root.as_str()))
        {
            self.problems.push(format!(
                "{at}: root {root:?} is not a `$defs` entry of {} whose `title` is its name",
                profile.schema
            ));
        }
        if integer_enum(schema, "ValidityYears").is_none_or(|v| v.is_empty()) {
            self.problems.push(format!(
                "{at}: {} has no integer enum `ValidityYears`",
                profile.schema
            ));
        }
    }

    /// A profile's schema: its signature hashes, those the catalog names, and no `ProductId`.
    fn profile_enums(&mut self, at: &str, profile: &ProfileSpec, schema: &Value) {
        match string_enum(schema, "SignatureHash") {
            None => self.problems.push(format!(
                "{at}: {} has no string enum `SignatureHash`",
                profile.schema
            )),
            Some(hashes) => {
                let named: BTreeSet<&String> = self.catalog.signature_hash_names.keys().collect();
                let listed: BTreeSet<&String> = hashes.iter().collect();
                if named != listed {
                    self.problems.push(format!(
                        "signature_hash_names {named:?} must name exactly the `SignatureHash` values of {} {listed:?}",
                        profile.schema
                    ));
                }
            }
        }
        if schema
            .get("$defs")
            .and_then(|d| d.get("ProductId"))
            .is_some()
        {
            self.problems.push(format!(
                "{}: `ProductId` is generated from the catalog; remove it from the schema",
                profile.schema
            ));
        }
    }

    /// A key policy: named by a profile whose schema says which keys it allows, and those
    /// keys sensible.
    fn policy(&mut self, policy: &KeyPolicySpec) {
        let at = format!("key policy {:?}", policy.id);
        let Some(keys) = policy_keys(self.catalog, self.schemas, &policy.id) else {
            self.problems.push(format!(
                "{at}: no request profile with an `x-csr` schema names it"
            ));
            return;
        };
        if keys.rsa_bits.is_empty() && keys.ec_curves.is_empty() {
            self.problems.push(format!("{at}: allows no key"));
        }
        if keys.rsa_bits.iter().any(|b| *b < 2048 || b % 8 != 0) {
            self.problems.push(format!(
                "{at}: RSA sizes must be multiples of 8, at least 2048"
            ));
        }
        for curve in &keys.ec_curves {
            if !CURVES.contains(&curve.as_str()) {
                self.problems
                    .push(format!("{at}: unknown curve {curve:?}; known: {CURVES:?}"));
            }
        }
    }

    /// A product: its name, family, profile and rules.
    fn product(&mut self, product: &ProductSpec, ids: &Ids) {
        let at = format!("product {:?}", product.id);
        if product.name.trim().is_empty() {
            self.problems.push(format!("{at}: empty name"));
        }
        if !ids.families.contains(&product.family) {
            self.problems
                .push(format!("{at}: family {:?} does not exist", product.family));
        }
        if !ids.profiles.contains(&product.request_profile) {
            self.problems.push(format!(
                "{at}: request profile {:?} does not exist",
                product.request_profile
            ));
        }
        if let Some(rules) = &product.rules {
            let schema = self
                .catalog
                .request_profiles
                .iter()
                .find(|p| p.id == product.request_profile)
                .and_then(|p| schema_named(self.schemas, &p.schema));
            if schema
                .and_then(|s| def_named(s, rules))
                .is_none_or(|def| def.get(RULES_KEYWORD) != Some(&Value::Bool(true)))
            {
                self.problems.push(format!(
                    "{at}: rules {rules:?} is not a `$defs` entry marked `\"{RULES_KEYWORD}\": true` in its profile's schema"
                ));
            }
        }
        self.product_status(&at, product, &ids.products);
    }

    /// A product's status: current, or deprecated since a date for another product.
    fn product_status(&mut self, at: &str, product: &ProductSpec, products: &BTreeSet<String>) {
        match (
            product.status.as_str(),
            &product.deprecated_on,
            &product.replacement,
        ) {
            ("current", None, None) => {}
            ("current", _, _) => self.problems.push(format!(
                "{at}: a current product has no deprecated_on or replacement"
            )),
            ("deprecated", Some(date), Some(replacement)) => {
                if !is_date(date) {
                    self.problems
                        .push(format!("{at}: deprecated_on {date:?} is not yyyy-MM-dd"));
                }
                if !products.contains(replacement) || replacement == &product.id {
                    self.problems.push(format!(
                        "{at}: replacement {replacement:?} must be another product of the catalog"
                    ));
                }
            }
            ("deprecated", _, _) => self.problems.push(format!(
                "{at}: a deprecated product needs deprecated_on and replacement"
            )),
            (other, _, _) => self.problems.push(format!(
                "{at}: status {other:?} is not `current` or `deprecated`"
            )),
        }
    }

    /// The default product and the API limits.
    fn limits(&mut self, products: &BTreeSet<String>) {
        if !products.contains(&self.catalog.default_product) {
            self.problems.push(format!(
                "default_product {:?} is not in the catalog",
                self.catalog.default_product
            ));
        }
        if self.catalog.rate_limits.is_empty()
            || self
                .catalog
                .rate_limits
                .iter()
                .any(|w| w.requests == 0 || w.seconds == 0)
        {
            self.problems.push(
                "rate_limits: at least one window, each with requests and seconds > 0".to_owned(),
            );
        }
        if self.catalog.status_changes_max_minutes == 0 {
            self.problems
                .push("status_changes_max_minutes must be > 0".to_owned());
        }
    }
}

/// The `ProductId` schema definition built from the catalog, for typify's copy of the
/// order-request schema.
pub fn product_id_def(catalog: &Catalog) -> Value {
    let ids: Vec<&str> = catalog.products.iter().map(|p| p.id.as_str()).collect();
    json!({
        "title": "ProductId",
        "description": "A product of the catalog (`schema/catalog.json`): the `client_certificate_id` path parameter of the order endpoint. Details: [`ProductId::spec`].",
        "type": "string",
        "enum": ids,
    })
}

/// Reads, checks and returns the catalog, and injects `ProductId` into the schema that the
/// products' profiles use (the first schema file when several do).
pub fn load(text: &str, schemas: &mut [(&str, Value)]) -> Result<Catalog> {
    let catalog = parse(text)?;
    let problems = check(&catalog, schemas);
    if !problems.is_empty() {
        bail!("{CATALOG}:\n  {}", problems.join("\n  "));
    }
    let def = product_id_def(&catalog);
    let target = &catalog.request_profiles[0].schema;
    let Some((_, schema)) = schemas
        .iter_mut()
        .find(|(path, _)| path.rsplit('/').next() == Some(target.as_str()))
    else {
        bail!("{CATALOG}: schema {target} not found");
    };
    let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) else {
        bail!("{target} has no `$defs`");
    };
    defs.insert("ProductId".to_owned(), def);
    Ok(catalog)
}

fn ident(id: &str) -> proc_macro2::Ident {
    format_ident!("{}", crate::pascal_case(id))
}

/// The `catalog` module (Rust tokens): the typed order body, then the catalog module with
/// its families, curves, key policies, request profiles, products, body methods and limits.
pub fn catalog_tokens(catalog: &Catalog, schemas: &[(&str, Value)]) -> Result<TokenStream> {
    let families = family_tokens(catalog);
    let curves = curve_tokens();
    let (policies, policy_by_id) = key_policy_tokens(catalog, schemas)?;
    let (profiles, profile_by_id) = profile_tokens(catalog, schemas, &policy_by_id)?;
    let products = product_tokens(catalog, &profile_by_id)?;
    let bodies = Bodies::of(catalog, schemas)?;
    let limits = limit_tokens(catalog);
    let module_doc = format!(
        "The product catalog and API limits, generated from `{CATALOG}`.\n\n{}",
        catalog.description
    );
    let order_body = bodies.order_body();
    let body_kind = bodies.kind();
    let body_methods = bodies.methods();
    let product_types = product_types();
    let smime_types = smime_types();
    Ok(quote! {
        #order_body
        #[doc = #module_doc]
        pub mod catalog {
            #families
            #curves
            #policies
            #body_kind
            #profiles
            #product_types
            #smime_types
            #products
            #body_methods
            #limits
        }
    })
}

/// The `Family` enum.
fn family_tokens(catalog: &Catalog) -> TokenStream {
    let fam_variants: Vec<_> = catalog.families.iter().map(|f| ident(&f.id)).collect();
    let fam_ids: Vec<&str> = catalog.families.iter().map(|f| f.id.as_str()).collect();
    let fam_names: Vec<&str> = catalog.families.iter().map(|f| f.name.as_str()).collect();
    let fam_descs: Vec<&str> = catalog
        .families
        .iter()
        .map(|f| f.description.as_str())
        .collect();
    let fam_docs: Vec<String> = catalog
        .families
        .iter()
        .map(|f| format!("{}: {}", f.name, f.description))
        .collect();
    quote! {
        /// A product family.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Family {
            #( #[doc = #fam_docs] #fam_variants, )*
        }
        impl Family {
            /// Every family, in catalog order.
            pub const ALL: &'static [Family] = &[#(Family::#fam_variants),*];
            /// The snake_case id.
            pub fn id(self) -> &'static str {
                match self { #( Family::#fam_variants => #fam_ids, )* }
            }
            /// The display name.
            pub fn name(self) -> &'static str {
                match self { #( Family::#fam_variants => #fam_names, )* }
            }
            /// One sentence.
            pub fn description(self) -> &'static str {
                match self { #( Family::#fam_variants => #fam_descs, )* }
            }
        }
        impl ::std::fmt::Display for Family {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }
    }
}

/// The `EcdsaCurve` enum.
fn curve_tokens() -> TokenStream {
    let curve_variants: Vec<_> = CURVES.iter().map(|c| ident(c)).collect();
    let curve_names = CURVES;
    let curve_bits: Vec<usize> = CURVES
        .iter()
        .map(|c| c.trim_start_matches("P-").parse().unwrap_or(0))
        .collect();
    quote! {
        /// An ECDSA curve.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EcdsaCurve {
            #( #[doc = #curve_names] #curve_variants, )*
        }
        impl EcdsaCurve {
            /// The NIST name, e.g. `P-256`.
            pub fn name(self) -> &'static str {
                match self { #( EcdsaCurve::#curve_variants => #curve_names, )* }
            }
            /// The key size in bits (256, 384, 521).
            pub fn bits(self) -> usize {
                match self { #( EcdsaCurve::#curve_variants => #curve_bits, )* }
            }
        }
        impl ::std::fmt::Display for EcdsaCurve {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }
    }
}

/// A generated constant's name by the snake_case id of what it describes.
type ConstNames = BTreeMap<String, proc_macro2::Ident>;

/// The `KeyPolicy` type and one constant per key policy; the constants' names by policy id.
fn key_policy_tokens(
    catalog: &Catalog,
    schemas: &[(&str, Value)],
) -> Result<(TokenStream, ConstNames)> {
    let policy_idents: Vec<_> = catalog
        .key_policies
        .iter()
        .map(|p| format_ident!("KEY_POLICY_{}", p.id.to_ascii_uppercase()))
        .collect();
    let mut policies: Vec<TokenStream> = Vec::new();
    for (p, name) in catalog.key_policies.iter().zip(&policy_idents) {
        let keys = policy_keys(catalog, schemas, &p.id)
            .with_context(|| format!("key policy {}: no schema `x-csr`", p.id))?;
        policies.push({
            let id = &p.id;
            let description = &p.description;
            let bits = &keys.rsa_bits;
            let curves: Vec<_> = keys.ec_curves.iter().map(|c| ident(c)).collect();
            let doc = format!("Key policy `{id}`: {description}");
            quote! {
                #[doc = #doc]
                pub const #name: KeyPolicy = KeyPolicy {
                    id: #id,
                    description: #description,
                    rsa_bits: &[#(#bits),*],
                    ecdsa_curves: &[#(EcdsaCurve::#curves),*],
                };
            }
        });
    }
    let policy_by_id: ConstNames = catalog
        .key_policies
        .iter()
        .map(|p| p.id.clone())
        .zip(policy_idents)
        .collect();
    let policy_type = key_policy_type();
    let tokens = quote! {
        #policy_type
        #(#policies)*
    };
    Ok((tokens, policy_by_id))
}

/// The `KeyPolicy` type.
fn key_policy_type() -> TokenStream {
    quote! {
        /// The CSR keys a product accepts.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct KeyPolicy {
            /// snake_case id.
            pub id: &'static str,
            /// One sentence, e.g. `RSA 2048, 3072 or 4096 bits, or ECDSA on P-256 or P-384.`
            pub description: &'static str,
            /// Allowed RSA modulus sizes, in bits.
            pub rsa_bits: &'static [u32],
            /// Allowed ECDSA curves.
            pub ecdsa_curves: &'static [EcdsaCurve],
        }
        impl KeyPolicy {
            /// Whether an RSA key of `bits` bits is allowed.
            pub fn allows_rsa(&self, bits: u32) -> bool {
                self.rsa_bits.contains(&bits)
            }
            /// Whether an ECDSA key on `curve` is allowed.
            pub fn allows_ecdsa(&self, curve: EcdsaCurve) -> bool {
                self.ecdsa_curves.contains(&curve)
            }
            /// The ECDSA curve of a key of `bits` bits, if the policy allows it.
            pub fn ecdsa_curve_of_size(&self, bits: usize) -> ::std::option::Option<EcdsaCurve> {
                self.ecdsa_curves.iter().copied().find(|c| c.bits() == bits)
            }
            /// The allowed keys for messages: `RSA 2048, 3072, 4096, ECDSA P-256, P-384`.
            pub fn allowed(&self) -> ::std::string::String {
                let mut parts = ::std::vec::Vec::new();
                if !self.rsa_bits.is_empty() {
                    let bits: ::std::vec::Vec<::std::string::String> =
                        self.rsa_bits.iter().map(|b| b.to_string()).collect();
                    parts.push(format!("RSA {}", bits.join(", ")));
                }
                if !self.ecdsa_curves.is_empty() {
                    let curves: ::std::vec::Vec<&str> =
                        self.ecdsa_curves.iter().map(|c| c.name()).collect();
                    parts.push(format!("ECDSA {}", curves.join(", ")));
                }
                parts.join(", ")
            }
        }
    }
}

/// The `RequestProfile` type and one constant per request profile; the constants' names by
/// profile id.
fn profile_tokens(
    catalog: &Catalog,
    schemas: &[(&str, Value)],
    policy_by_id: &ConstNames,
) -> Result<(TokenStream, ConstNames)> {
    let profile_idents: Vec<_> = catalog
        .request_profiles
        .iter()
        .map(|p| format_ident!("PROFILE_{}", p.id.to_ascii_uppercase()))
        .collect();
    let mut profiles = Vec::new();
    for (p, name) in catalog.request_profiles.iter().zip(&profile_idents) {
        let schema = schema_named(schemas, &p.schema)
            .with_context(|| format!("schema {} not found", p.schema))?;
        let years = integer_enum(schema, "ValidityYears").unwrap_or_default();
        let id = &p.id;
        let description = &p.description;
        let file = &p.schema;
        let below = max_days_ahead(schema)
            .with_context(|| format!("{}: no `x-max-days-ahead`", p.schema))?
            + 1;
        let policy = policy_by_id
            .get(p.key_policy.as_str())
            .with_context(|| format!("key policy {} not found", p.key_policy))?;
        let doc = format!("Request profile `{id}`: {description}");
        let root = match &p.root {
            Some(root) => quote! { ::std::option::Option::Some(#root) },
            None => quote! { ::std::option::Option::None },
        };
        let body = ident(id);
        profiles.push(quote! {
            #[doc = #doc]
            pub const #name: RequestProfile = RequestProfile {
                id: #id,
                description: #description,
                schema: #file,
                root: #root,
                body: BodyKind::#body,
                validity_years: &[#(#years),*],
                custom_expiration_days_below: #below,
                key_policy: &#policy,
            };
        });
    }
    let profile_by_id: ConstNames = catalog
        .request_profiles
        .iter()
        .map(|p| p.id.clone())
        .zip(profile_idents)
        .collect();
    let tokens = quote! {
        /// Which body a product takes and the rules beyond its schema.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct RequestProfile {
            /// snake_case id.
            pub id: &'static str,
            /// One sentence.
            pub description: &'static str,
            /// The request schema file (in `schema/`), e.g. `order-request.schema.json`.
            pub schema: &'static str,
            /// The `$defs` entry of the schema that is the body's root; `None`: the file's
            /// root.
            pub root: ::std::option::Option<&'static str>,
            /// The typed body.
            pub body: BodyKind,
            /// Allowed `validity_years` (the schema's `ValidityYears` enum).
            pub validity_years: &'static [i64],
            /// `custom_expiration_date` must be strictly less than this many days after
            /// today.
            pub custom_expiration_days_below: u64,
            /// The CSR keys accepted.
            pub key_policy: &'static KeyPolicy,
        }
        #(#profiles)*
    };
    Ok((tokens, profile_by_id))
}

/// The `Status` and `Product` types.
fn product_types() -> TokenStream {
    quote! {
        /// Whether a product is still offered.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Status {
            /// Offered.
            Current,
            /// Deprecated: still orderable, but replaced.
            Deprecated {
                /// Since when (`yyyy-MM-dd`).
                since: &'static str,
                /// The product that replaces it.
                replacement: crate::ProductId,
            },
        }
        impl Status {
            /// `current` or `deprecated`.
            pub fn as_str(&self) -> &'static str {
                match self {
                    Status::Current => "current",
                    Status::Deprecated { .. } => "deprecated",
                }
            }
        }

        /// One product of the catalog.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Product {
            /// The `product_name_id`.
            pub id: crate::ProductId,
            /// Display name.
            pub name: &'static str,
            /// Family.
            pub family: Family,
            /// Current or deprecated.
            pub status: Status,
            /// The body it takes and the rules that apply.
            pub profile: &'static RequestProfile,
            /// The `$defs` entry of the profile's schema holding this product's own rules
            /// (`"x-rules": true`), if any.
            pub rules: ::std::option::Option<&'static str>,
            /// How its certificates are issued, for an S/MIME product; `None`: not S/MIME.
            pub smime: ::std::option::Option<Smime>,
        }
    }
}

/// The `Smime`, `SmimeValidation` and `SmimeGeneration` types.
fn smime_types() -> TokenStream {
    quote! {
        /// How an S/MIME product's certificates are issued: the validation type and
        /// profile generation of the CA/B Forum's reserved policy OID `2.23.140.1.5.V.G`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct Smime {
            /// The validation type (`V`).
            pub validation: SmimeValidation,
            /// The profile generation (`G`) its certificates get.
            pub generation: SmimeGeneration,
        }

        /// An S/MIME validation type (individual-validated is offered by no product).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum SmimeValidation {
            /// Mailbox-validated: the subject holds only the email address.
            Mailbox,
            /// Organization-validated: the organization, no person.
            Organization,
            /// Sponsor-validated: the organization and a person (name or pseudonym).
            Sponsored,
        }

        /// Which S/MIME profile generation a product's certificates get.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum SmimeGeneration {
            /// The order's `profile_type`: strict unless it asks for multipurpose.
            AsOrdered,
            /// Always multipurpose, whatever the order says (the legacy products since
            /// 2025-07-10).
            Multipurpose,
        }
    }
}

/// `PRODUCTS`, `DEFAULT_PRODUCT` and the catalog methods of `ProductId`.
fn product_tokens(catalog: &Catalog, profile_by_id: &ConstNames) -> Result<TokenStream> {
    let mut products = Vec::new();
    let mut product_variants = Vec::new();
    let mut product_ids = Vec::new();
    for p in &catalog.products {
        let variant = ident(&p.id);
        let id = &p.id;
        let name = &p.name;
        let family = ident(&p.family);
        let profile = profile_by_id
            .get(p.request_profile.as_str())
            .with_context(|| format!("profile {} not found", p.request_profile))?;
        let status = match (&p.deprecated_on, &p.replacement) {
            (Some(since), Some(replacement)) => {
                let replacement = ident(replacement);
                quote! { Status::Deprecated { since: #since, replacement: crate::ProductId::#replacement } }
            }
            _ => quote! { Status::Current },
        };
        let rules = match &p.rules {
            Some(rules) => quote! { ::std::option::Option::Some(#rules) },
            None => quote! { ::std::option::Option::None },
        };
        let smime = match &p.smime {
            Some(spec) => {
                let validation = format_ident!("{}", format!("{:?}", spec.validation));
                let generation = format_ident!("{}", format!("{:?}", spec.generation));
                quote! {
                    ::std::option::Option::Some(Smime {
                        validation: SmimeValidation::#validation,
                        generation: SmimeGeneration::#generation,
                    })
                }
            }
            None => quote! { ::std::option::Option::None },
        };
        products.push(quote! {
            Product {
                id: crate::ProductId::#variant,
                name: #name,
                family: Family::#family,
                status: #status,
                profile: &#profile,
                rules: #rules,
                smime: #smime,
            }
        });
        product_ids.push(id.as_str());
        product_variants.push(variant);
    }
    let indexes: Vec<usize> = (0..product_variants.len()).collect();
    let default_product = ident(&catalog.default_product);
    Ok(quote! {
        /// Every product, in catalog order.
        pub const PRODUCTS: &[Product] = &[#(#products),*];

        /// The product used when none is given.
        pub const DEFAULT_PRODUCT: crate::ProductId = crate::ProductId::#default_product;

        impl crate::ProductId {
            /// Every product id, in catalog order.
            pub const ALL: &'static [crate::ProductId] = &[#(crate::ProductId::#product_variants),*];
            /// The wire id.
            pub fn as_str(self) -> &'static str {
                match self { #( crate::ProductId::#product_variants => #product_ids, )* }
            }
            /// The product's catalog entry.
            pub fn spec(self) -> &'static Product {
                match self { #( crate::ProductId::#product_variants => &PRODUCTS[#indexes], )* }
            }
        }
    })
}

/// The typed order bodies: one per request profile, typed by its root's title.
struct Bodies {
    variants: Vec<proc_macro2::Ident>,
    types: Vec<proc_macro2::Ident>,
    docs: Vec<String>,
}

impl Bodies {
    fn of(catalog: &Catalog, schemas: &[(&str, Value)]) -> Result<Self> {
        let mut body_variants = Vec::new();
        let mut body_types = Vec::new();
        let mut body_docs = Vec::new();
        for p in &catalog.request_profiles {
            let schema = schema_named(schemas, &p.schema)
                .with_context(|| format!("schema {} not found", p.schema))?;
            let title = match &p.root {
                Some(root) => def_named(schema, root).and_then(|d| d.get("title")),
                None => schema.get("title"),
            }
            .and_then(Value::as_str)
            .with_context(|| format!("request profile {}: its root has no title", p.id))?;
            body_variants.push(ident(&p.id));
            body_types.push(format_ident!("{title}"));
            body_docs.push(format!("Request profile `{}`: [`crate::{title}`].", p.id));
        }
        Ok(Self {
            variants: body_variants,
            types: body_types,
            docs: body_docs,
        })
    }

    /// The `OrderBody` enum (outside the catalog module).
    fn order_body(&self) -> TokenStream {
        let (body_variants, body_types, body_docs) = (&self.variants, &self.types, &self.docs);
        quote! {
            /// An order body of any request profile (`ProductId::spec().profile.body` says which a
            /// product takes); serializes as the body itself.
            #[derive(Clone, Debug, PartialEq, ::serde::Serialize)]
            #[serde(untagged)]
            pub enum OrderBody {
                #( #[doc = #body_docs] #body_variants(#body_types), )*
            }
        }
    }

    /// The `BodyKind` enum.
    fn kind(&self) -> TokenStream {
        let (body_variants, body_docs) = (&self.variants, &self.docs);
        quote! {
            /// Which typed body a request profile takes (one per profile; see
            /// [`crate::OrderBody`]).
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
            pub enum BodyKind {
                #( #[doc = #body_docs] #body_variants, )*
            }
        }
    }

    /// The catalog methods of `OrderBody` and its `From` conversions.
    fn methods(&self) -> TokenStream {
        let (body_variants, body_types) = (&self.variants, &self.types);
        quote! {
            impl crate::OrderBody {
                /// Which body this is.
                pub fn kind(&self) -> BodyKind {
                    match self { #( crate::OrderBody::#body_variants(_) => BodyKind::#body_variants, )* }
                }
                /// Reads a JSON document as the body of `kind` (strict: unknown members fail).
                pub fn from_value(kind: BodyKind, value: ::serde_json::Value) -> ::std::result::Result<Self, ::serde_json::Error> {
                    match kind { #( BodyKind::#body_variants => ::serde_json::from_value(value).map(crate::OrderBody::#body_variants), )* }
                }
                /// The email addresses of the certificate.
                pub fn emails(&self) -> &[::std::string::String] {
                    match self { #( crate::OrderBody::#body_variants(body) => &body.certificate.emails, )* }
                }
                /// The CSR, when the body carries one.
                pub fn csr(&self) -> ::std::option::Option<&str> {
                    match self { #( crate::OrderBody::#body_variants(body) => body.certificate.csr.as_deref(), )* }
                }
                /// Puts a CSR into the body.
                pub fn set_csr(&mut self, csr: ::std::string::String) {
                    match self { #( crate::OrderBody::#body_variants(body) => body.certificate.csr = ::std::option::Option::Some(csr), )* }
                }
            }
            #(
                impl ::std::convert::From<crate::#body_types> for crate::OrderBody {
                    fn from(body: crate::#body_types) -> Self { crate::OrderBody::#body_variants(body) }
                }
            )*
        }
    }
}

/// `signature_hash_name`, the rate-limit windows and the status-changes time frame.
fn limit_tokens(catalog: &Catalog) -> TokenStream {
    let mut hash_arms = Vec::new();
    for (value, name) in &catalog.signature_hash_names {
        let variant = ident(value);
        hash_arms.push(quote! { crate::SignatureHash::#variant => #name, });
    }

    let requests: Vec<u32> = catalog.rate_limits.iter().map(|w| w.requests).collect();
    let seconds: Vec<u64> = catalog.rate_limits.iter().map(|w| w.seconds).collect();
    let max_minutes = catalog.status_changes_max_minutes;
    quote! {
        /// The display name of a signature hash, e.g. `SHA-256`.
        pub fn signature_hash_name(hash: crate::SignatureHash) -> &'static str {
            match hash { #(#hash_arms)* }
        }

        /// One rolling rate-limit window: at most `requests` in any `period`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct RateWindow {
            /// Requests allowed in the window.
            pub requests: u32,
            /// Window length.
            pub period: ::std::time::Duration,
        }

        /// The API's rate-limit windows, per API key (over any of them, every request
        /// gets `429`).
        pub const RATE_LIMITS: &[RateWindow] = &[
            #( RateWindow { requests: #requests, period: ::std::time::Duration::from_secs(#seconds) } ),*
        ];

        /// The longest time frame of `GET /order/certificate/status-changes`, in minutes.
        pub const STATUS_CHANGES_MAX_MINUTES: u32 = #max_minutes;
    }
}

/// `ALL` and `as_str` for every closed string enum of the schemas (the `enum` of a `$defs`
/// entry of `"type": "string"`), plus the `certcentral_types::WireEnum` implementation; `ALLOWED` for integer
/// enums. `ProductId` is one of them once injected.
pub fn enum_tokens(schemas: &[(&str, Value)]) -> Result<TokenStream> {
    let mut out = TokenStream::new();
    for (_, schema) in schemas {
        let Some(defs) = schema.get("$defs").and_then(Value::as_object) else {
            continue;
        };
        for (name, def) in defs {
            let ty = format_ident!("{name}");
            match def.get("type").and_then(Value::as_str) {
                Some("string") if def.get("enum").is_some() => {
                    let values = string_enum(schema, name)
                        .with_context(|| format!("{name}: enum values must be strings"))?;
                    let variants: Vec<_> = values.iter().map(|v| ident(v)).collect();
                    let ids: Vec<&str> = if name == "ProductId" {
                        // `ProductId::ALL` and `as_str` come with the catalog.
                        out.extend(quote! {
                            impl crate::WireEnum for #ty {
                                const ALL: &'static [Self] = #ty::ALL;
                                fn as_str(self) -> &'static str { #ty::as_str(self) }
                            }
                        });
                        continue;
                    } else {
                        values.iter().map(String::as_str).collect()
                    };
                    out.extend(quote! {
                        impl #ty {
                            /// Every value, in schema order.
                            pub const ALL: &'static [#ty] = &[#(#ty::#variants),*];
                            /// The wire value.
                            pub fn as_str(self) -> &'static str {
                                match self { #( #ty::#variants => #ids, )* }
                            }
                        }
                        impl crate::WireEnum for #ty {
                            const ALL: &'static [Self] = #ty::ALL;
                            fn as_str(self) -> &'static str { #ty::as_str(self) }
                        }
                    });
                }
                Some("integer") if def.get("enum").is_some() => {
                    let values = integer_enum(schema, name)
                        .with_context(|| format!("{name}: enum values must be integers"))?;
                    let texts: Vec<String> = values.iter().map(i64::to_string).collect();
                    out.extend(quote! {
                        impl #ty {
                            /// Every allowed value, in schema order.
                            pub const ALLOWED: &'static [i64] = &[#(#values),*];
                            /// Every allowed value as text (for command lines), in schema order.
                            pub const ALLOWED_TEXT: &'static [&'static str] = &[#(#texts),*];
                        }
                    });
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SCHEMA_FILES, repo_root};

    fn schemas() -> Vec<(&'static str, Value)> {
        SCHEMA_FILES
            .iter()
            .map(|file| {
                let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
                (*file, serde_json::from_str(&text).unwrap())
            })
            .collect()
    }

    fn catalog_value() -> Value {
        serde_json::from_str(&std::fs::read_to_string(repo_root().join(CATALOG)).unwrap()).unwrap()
    }

    fn problems(catalog: &Value) -> String {
        check(&parse(&catalog.to_string()).unwrap(), &schemas()).join("\n")
    }

    #[test]
    fn the_catalog_is_consistent_and_holds_the_contract_products() {
        let mut schemas = schemas();
        let text = std::fs::read_to_string(repo_root().join(CATALOG)).unwrap();
        let catalog = load(&text, &mut schemas).unwrap();
        let ids: Vec<&str> = catalog.products.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "secure_email_mailbox",
                "secure_email_sponsor",
                "secure_email_organization",
                "client_authentication_plus",
                "client_premium_sha2",
                "client_email_security_plus",
                "client_digital_signature_plus_sha2",
                "client_premium",
                "client_digital_signature_plus",
                "class1_smime"
            ]
        );
        // Every legacy S/MIME product is deprecated since 2025-07-10 and names a current
        // replacement.
        for product in &catalog.products {
            if product.status == "deprecated" {
                assert_eq!(product.deprecated_on.as_deref(), Some("2025-07-10"));
                let replacement = product.replacement.as_deref().unwrap();
                assert!(replacement.starts_with("secure_email_"), "{}", product.id);
            }
        }
        assert_eq!(
            string_enum(&schemas[0].1, "ProductId").unwrap(),
            ids.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn catalog_mistakes_are_reported() {
        let mut bad = catalog_value();
        bad["products"][0]["family"] = "tls".into();
        bad["products"][1]["status"] = "deprecated".into();
        bad["products"][2]["id"] = "client_premium_sha2".into();
        bad["products"][3]["request_profile"] = "nope".into();
        bad["default_product"] = "client_premium_sha1".into();
        bad["products"][4]["rules"] = "SecureEmailOrderRequest".into();
        bad["request_profiles"][1]["root"] = "NoSuchRoot".into();
        bad["key_policies"][0]["id"] = "orphan".into();
        bad["signature_hash_names"] = serde_json::json!({"sha1": "SHA-1"});
        let problems = problems(&bad);
        for expected in [
            "family \"tls\" does not exist",
            "a deprecated product needs deprecated_on and replacement",
            "product \"client_premium_sha2\" is defined twice",
            "request profile \"nope\" does not exist",
            "default_product \"client_premium_sha1\" is not in the catalog",
            "rules \"SecureEmailOrderRequest\" is not a `$defs` entry marked",
            "root \"NoSuchRoot\" is not a `$defs` entry",
            "key policy \"orphan\": no request profile with an `x-csr` schema names it",
            "key policy \"rsa_or_ecdsa\" does not exist",
            "must name exactly the `SignatureHash` values",
        ] {
            assert!(
                problems.contains(expected),
                "missing {expected:?} in:\n{problems}"
            );
        }
        assert!(parse(r#"{"products": [], "extra": 1}"#).is_err());
    }

    /// The date window and the key policy are the schema's: the generated catalog follows an
    /// edit of `x-max-days-ahead` or `x-csr`, and an unknown curve there is refused.
    #[test]
    fn window_and_key_policy_come_from_the_schema() {
        let mut schemas = schemas();
        let catalog = parse(&catalog_value().to_string()).unwrap();
        let window = find_keyword_mut(&mut schemas[0].1, "x-max-days-ahead");
        *window = serde_json::json!(100);
        let code = crate::generate_types(&schemas, &catalog).unwrap();
        assert!(
            code.contains("custom_expiration_days_below: 101"),
            "window from the schema"
        );
        *find_keyword_mut(&mut schemas[0].1, "x-csr") =
            serde_json::json!({"rsa_bits": [3072], "ec_curves": ["P-999"]});
        let problems = check(&catalog, &schemas).join("\n");
        assert!(problems.contains("unknown curve \"P-999\""), "{problems}");
    }

    fn find_keyword_mut<'a>(schema: &'a mut Value, name: &str) -> &'a mut Value {
        let path = pointer_of(schema, name, String::new()).expect("keyword present");
        schema.pointer_mut(&path).unwrap()
    }

    fn pointer_of(schema: &Value, name: &str, at: String) -> Option<String> {
        match schema {
            Value::Object(map) => map.get(name).map(|_| format!("{at}/{name}")).or_else(|| {
                map.iter()
                    .find_map(|(k, v)| pointer_of(v, name, format!("{at}/{k}")))
            }),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| pointer_of(v, name, format!("{at}/{i}"))),
            _ => None,
        }
    }

    /// The product list is defined once: a `ProductId` left in a schema file is refused.
    #[test]
    fn a_product_list_in_the_schema_is_refused() {
        let mut schemas = schemas();
        schemas[0].1["$defs"]["ProductId"] = serde_json::json!({"type": "string", "enum": ["x"]});
        let catalog = parse(&catalog_value().to_string()).unwrap();
        let problems = check(&catalog, &schemas).join("\n");
        assert!(
            problems.contains("`ProductId` is generated from the catalog"),
            "{problems}"
        );
    }

    /// The 2025 products are a data edit: a deprecated product with its replacement and a new
    /// product generate without code changes.
    #[test]
    fn deprecating_a_product_is_a_data_edit() {
        let mut edited = catalog_value();
        let products = edited["products"].as_array_mut().unwrap();
        products.push(serde_json::json!({
            "id": "secure_email_future",
            "name": "Secure Email of the future",
            "family": "smime",
            "status": "current",
            "request_profile": "client_certificate",
            "smime": {"validation": "organization", "generation": "as_ordered"}
        }));
        products[0]["status"] = "deprecated".into();
        products[0]["deprecated_on"] = "2026-07-10".into();
        products[0]["replacement"] = "secure_email_future".into();
        let mut schemas = schemas();
        let catalog = load(&edited.to_string(), &mut schemas).unwrap();
        let code = crate::generate_types(&schemas, &catalog).unwrap();
        assert!(code.contains("SecureEmailFuture"));
        assert!(
            code.contains("since: \"2026-07-10\""),
            "deprecation generated"
        );
        assert!(code.contains("replacement: crate::ProductId::SecureEmailFuture"));
        // Its S/MIME validation type and generation are data too; an unknown one is refused.
        let compact: String = code.split_whitespace().collect();
        assert!(
            compact.contains(
                "smime:::std::option::Option::Some(Smime{validation:SmimeValidation::Organization,generation:SmimeGeneration::AsOrdered,})"
            ),
            "smime generated"
        );
        let mut bad = catalog_value();
        bad["products"][0]["smime"] =
            serde_json::json!({"validation": "individual", "generation": "strict"});
        assert!(parse(&bad.to_string()).is_err());
    }
}
