//! Project automation for certcentral: `cargo xtask codegen [--check]`.
//!
//! Code generation reads the hand-written JSON Schema files in `schema/`, turns them into Rust
//! types with typify, and writes `crates/certcentral-types/src/generated.rs`; it also reads the
//! endpoints manifest `schema/endpoints.json` and writes the client's endpoint methods to
//! `crates/certcentral-client/src/generated.rs` (see [`endpoints`]). The output is
//! formatted with prettyplease, so it is deterministic byte for byte; `--check` compares instead
//! of writing (rust-analyzer's pattern), and a test runs the same comparison.

pub mod catalog;
pub mod release;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use quote::{format_ident, quote};
use serde_json::Value;

pub mod endpoints;

/// The schema files that codegen reads, in order, relative to the repository root.
pub const SCHEMA_FILES: &[&str] = &[
    "schema/order-request.schema.json",
    "schema/order-response.schema.json",
    "schema/error.schema.json",
    "schema/lifecycle-request.schema.json",
];

/// The file codegen writes, relative to the repository root.
pub const TYPES_OUTPUT: &str = "crates/certcentral-types/src/generated.rs";

/// Where codegen copies the schema files for the types crate to bundle.
pub const SCHEMA_COPY_DIR: &str = "crates/certcentral-types/schema";

/// The schema extension keyword that marks an open enum: a string with known values whose
/// unknown values are kept rather than rejected (server statuses).
pub const OPEN_ENUM_KEYWORD: &str = "x-open-enum";

/// One generated file: where it goes and what it must contain.
#[derive(Debug)]
pub struct Generated {
    /// Path relative to the repository root.
    pub path: String,
    /// Full file contents.
    pub contents: String,
}

/// The repository root (the parent of this crate's directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repository root")
        .to_path_buf()
}

/// Runs every generator and returns the files they produce, without touching the disk.
pub fn generate(root: &Path) -> Result<Vec<Generated>> {
    let mut schemas = Vec::new();
    for file in SCHEMA_FILES {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let value: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        schemas.push((*file, value));
    }
    // The catalog: checked against the schemas; `ProductId` is injected into typify's copy.
    let catalog_path = root.join(catalog::CATALOG);
    let catalog_text = std::fs::read_to_string(&catalog_path)
        .with_context(|| format!("reading {}", catalog_path.display()))?;
    let catalog = catalog::load(&catalog_text, &mut schemas)?;
    let mut out = vec![Generated {
        path: TYPES_OUTPUT.to_string(),
        contents: generate_types(&schemas, &catalog)?,
    }];
    // The client's endpoint methods, from the endpoints manifest checked against the schemas.
    let manifest_path = root.join(endpoints::MANIFEST);
    let manifest = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    out.push(Generated {
        path: endpoints::CLIENT_OUTPUT.to_string(),
        contents: endpoints::generate_client(&manifest, &schemas)?,
    });
    // The types crate bundles the schema files and the catalog (`include_str!`), so it
    // carries its own copy and stays self-contained when packaged.
    for file in SCHEMA_FILES.iter().chain([&catalog::CATALOG]) {
        let text = std::fs::read_to_string(root.join(file))?;
        let name = Path::new(file)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(file);
        out.push(Generated {
            path: format!("{SCHEMA_COPY_DIR}/{name}"),
            contents: text,
        });
    }
    Ok(out)
}

/// Generates the types module from the given `(file name, schema)` pairs and the catalog
/// (whose `ProductId` is already injected into the schemas by [`catalog::load`]).
pub fn generate_types(schemas: &[(&str, Value)], catalog: &catalog::Catalog) -> Result<String> {
    let mut extra = catalog::enum_tokens(schemas)?;
    extra.extend(catalog::catalog_tokens(catalog, schemas)?);
    let sources = format!("{}, {}", SCHEMA_FILES.join(", "), catalog::CATALOG);
    let mut settings = typify::TypeSpaceSettings::default();
    settings.with_derive("PartialEq".to_string());
    settings.with_struct_builder(true);
    let mut open_enums = Vec::new();
    for (file, schema) in schemas {
        for (name, values) in open_enums_of(schema).with_context(|| format!("in {file}"))? {
            // Generated code refers to the open enum through the crate root, which re-exports
            // the generated module; that path works from nested modules (builders) too.
            settings.with_replacement(
                name.as_str(),
                format!("crate::{name}").as_str(),
                [
                    typify::TypeSpaceImpl::Display,
                    typify::TypeSpaceImpl::FromStr,
                ]
                .into_iter(),
            );
            open_enums.push((name, values));
        }
    }
    let mut space = typify::TypeSpace::new(&settings);
    for (file, schema) in schemas {
        let prepared = prepare_for_typify(schema.clone());
        let root: schemars::schema::RootSchema = serde_json::from_value(prepared)
            .with_context(|| format!("{file} is not a schema typify can read"))?;
        space
            .add_root_schema(root)
            .with_context(|| format!("typify rejected {file}"))?;
    }
    let mut tokens = space.to_stream();
    for (name, values) in &open_enums {
        tokens.extend(open_enum_tokens(name, values)?);
    }
    tokens.extend(extra);
    let file: syn::File = syn::parse2(tokens).context("typify produced invalid Rust")?;
    let body = prettyplease::unparse(&file);
    Ok(format!(
        "// @generated by `cargo xtask codegen` from {sources}.\n\
         // Do not edit by hand: edit the schema and run `cargo xtask codegen`.\n\n{body}"
    ))
}

/// Returns `(type name, known values)` for every `$defs` entry marked with `x-open-enum`.
pub fn open_enums_of(schema: &Value) -> Result<Vec<(String, Vec<String>)>> {
    let mut found = Vec::new();
    let Some(defs) = schema.get("$defs").and_then(Value::as_object) else {
        return Ok(found);
    };
    for (name, def) in defs {
        let Some(values) = def.get(OPEN_ENUM_KEYWORD) else {
            continue;
        };
        let Some(values) = values.as_array() else {
            bail!("{name}: {OPEN_ENUM_KEYWORD} must be an array of strings");
        };
        let mut known = Vec::new();
        for v in values {
            match v.as_str() {
                Some(s) if !s.is_empty() => known.push(s.to_string()),
                _ => bail!("{name}: {OPEN_ENUM_KEYWORD} must hold non-empty strings"),
            }
        }
        if def.get("type").and_then(Value::as_str) != Some("string") {
            bail!("{name}: an {OPEN_ENUM_KEYWORD} must have `\"type\": \"string\"`");
        }
        found.push((name.clone(), known));
    }
    Ok(found)
}

/// Adjusts a schema for typify 0.8 where its reading would change the meaning.
///
/// Three constructs are affected; each is removed from typify's copy only (the schema files
/// keep it and `certcentral-validate` enforces it):
///
/// - an `anyOf` whose members only list `required` properties ("at least one of these
///   fields"): typify turns it into an untagged enum with one struct per member, each denying
///   the other member's field, so a valid body that gives both fields would fail to
///   deserialize;
/// - `if`/`then`/`else` (cross-field rules such as `auto_renew` only with `balance`), which
///   typify cannot express in a type;
/// - a `pattern` on an array's inline `items` schema (the email grammar): typify would invent
///   a newtype named after its position and change `Vec<String>` into `Vec<ThatNewtype>`.
///   Patterns on named `$defs` (names) are kept and checked by the generated newtypes.
pub fn prepare_for_typify(mut schema: Value) -> Value {
    strip_rule_sets(&mut schema);
    inline_defs(&mut schema);
    strip_for_typify(&mut schema);
    if let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) {
        for def in defs.values_mut() {
            strip_for_typify(def);
        }
    }
    schema
}

/// The keyword marking a `$defs` entry that codegen inlines where it is referenced (so a
/// shared array or date stays `Vec<String>` or `NaiveDate`, not a newtype).
pub const INLINE_KEYWORD: &str = "x-inline";

/// Replaces every `$ref` to a `$defs` entry marked `"x-inline": true` by the entry itself (the
/// referring schema's own keywords, such as `description`, win) and removes the entry.
fn inline_defs(schema: &mut Value) {
    let mut inline = serde_json::Map::new();
    if let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) {
        let names: Vec<String> = defs
            .iter()
            .filter(|(_, d)| d.get(INLINE_KEYWORD) == Some(&Value::Bool(true)))
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            if let Some(Value::Object(mut def)) = defs.remove(&name) {
                def.remove(INLINE_KEYWORD);
                def.remove("title");
                inline.insert(format!("#/$defs/{name}"), Value::Object(def));
            }
        }
    }
    fn replace(value: &mut Value, inline: &serde_json::Map<String, Value>) {
        match value {
            Value::Object(obj) => {
                if let Some(Value::Object(def)) = obj
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| inline.get(r))
                {
                    obj.remove("$ref");
                    for (k, v) in def {
                        obj.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
                obj.values_mut().for_each(|v| replace(v, inline));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| replace(v, inline)),
            _ => {}
        }
    }
    replace(schema, &inline);
}

/// Removes the rule sets (`$defs` entries marked `"x-rules": true`: per-product rules and
/// rules shared by bodies, which are no types) and every `allOf` member referring to one.
fn strip_rule_sets(schema: &mut Value) {
    let mut removed = Vec::new();
    if let Some(defs) = schema.get_mut("$defs").and_then(Value::as_object_mut) {
        defs.retain(|name, def| {
            let rules = def.get(catalog::RULES_KEYWORD) == Some(&Value::Bool(true));
            if rules {
                removed.push(format!("#/$defs/{name}"));
            }
            !rules
        });
    }
    fn drop_refs(value: &mut Value, removed: &[String]) {
        match value {
            Value::Object(obj) => {
                if let Some(Value::Array(members)) = obj.get_mut("allOf") {
                    members.retain(|m| {
                        m.get("$ref")
                            .and_then(Value::as_str)
                            .is_none_or(|r| !removed.iter().any(|x| x == r))
                    });
                    if members.is_empty() {
                        obj.remove("allOf");
                    }
                }
                obj.values_mut().for_each(|v| drop_refs(v, removed));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| drop_refs(v, removed)),
            _ => {}
        }
    }
    drop_refs(schema, &removed);
}

fn strip_for_typify(schema: &mut Value) {
    strip_required_alternatives(schema);
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    for keyword in ["if", "then", "else"] {
        obj.remove(keyword);
    }
    strip_item_patterns(schema);
}

/// Removes `pattern` from the inline `items` schema of every array below `schema`.
fn strip_item_patterns(schema: &mut Value) {
    match schema {
        Value::Object(obj) => {
            if let Some(Value::Object(items)) = obj.get_mut("items") {
                items.remove("pattern");
            }
            for value in obj.values_mut() {
                strip_item_patterns(value);
            }
        }
        Value::Array(values) => values.iter_mut().for_each(strip_item_patterns),
        _ => {}
    }
}

fn strip_required_alternatives(schema: &mut Value) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let only_required = obj
        .get("anyOf")
        .and_then(Value::as_array)
        .is_some_and(|members| {
            members.iter().all(|m| {
                m.as_object()
                    .is_some_and(|o| o.len() == 1 && o.contains_key("required"))
            })
        });
    if only_required {
        obj.remove("anyOf");
    }
}

/// Rust code for an open enum: one variant per known value plus `Other(String)`.
fn open_enum_tokens(name: &str, values: &[String]) -> Result<proc_macro2::TokenStream> {
    let ident = format_ident!("{name}");
    let variants: Vec<_> = values
        .iter()
        .map(|v| format_ident!("{}", pascal_case(v)))
        .collect();
    let docs: Vec<_> = values.iter().map(|v| format!("`{v}`")).collect();
    let type_doc = format!(
        "{name}: an open enum. Known values have their own variants; any other value the \
         server sends is kept in [`{name}::Other`]."
    );
    Ok(quote! {
        #[doc = #type_doc]
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum #ident {
            #( #[doc = #docs] #variants, )*
            /// A value this version does not know, kept as sent.
            Other(::std::string::String),
        }
        impl #ident {
            /// Every known value, in schema order.
            pub const KNOWN: &'static [&'static str] = &[#(#values),*];
            /// The wire value.
            pub fn as_str(&self) -> &str {
                match self {
                    #( Self::#variants => #values, )*
                    Self::Other(value) => value.as_str(),
                }
            }
            /// Whether the value is one this version knows.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }
        impl ::std::fmt::Display for #ident {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl ::std::convert::From<&str> for #ident {
            fn from(value: &str) -> Self {
                match value {
                    #( #values => Self::#variants, )*
                    other => Self::Other(other.to_string()),
                }
            }
        }
        impl ::std::convert::From<::std::string::String> for #ident {
            fn from(value: ::std::string::String) -> Self {
                Self::from(value.as_str())
            }
        }
        impl ::std::str::FromStr for #ident {
            type Err = ::std::convert::Infallible;
            fn from_str(value: &str) -> ::std::result::Result<Self, Self::Err> {
                Ok(Self::from(value))
            }
        }
        impl ::serde::Serialize for #ident {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> ::std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
        impl<'de> ::serde::Deserialize<'de> for #ident {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> ::std::result::Result<Self, D::Error> {
                let value = <::std::string::String as ::serde::Deserialize>::deserialize(deserializer)?;
                Ok(Self::from(value))
            }
        }
    })
}

pub(crate) fn pascal_case(value: &str) -> String {
    value
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// Files whose committed contents differ from a fresh generation.
pub fn stale_files(root: &Path) -> Result<Vec<String>> {
    let mut stale = Vec::new();
    for generated in generate(root)? {
        let current = std::fs::read_to_string(root.join(&generated.path)).unwrap_or_default();
        if current != generated.contents {
            stale.push(generated.path);
        }
    }
    Ok(stale)
}

/// Writes every generated file; returns those that changed.
pub fn write_all(root: &Path) -> Result<Vec<String>> {
    let mut changed = Vec::new();
    for generated in generate(root)? {
        let path = root.join(&generated.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != generated.contents {
            std::fs::write(&path, &generated.contents)
                .with_context(|| format!("writing {}", path.display()))?;
            changed.push(generated.path);
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_code_is_fresh() {
        let stale = stale_files(&repo_root()).expect("codegen runs");
        assert!(
            stale.is_empty(),
            "generated files are stale: {stale:?}; run `cargo xtask codegen`"
        );
    }

    #[test]
    fn generation_is_deterministic() {
        let a = generate(&repo_root()).expect("codegen runs");
        let b = generate(&repo_root()).expect("codegen runs");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.contents, y.contents, "{} differs between runs", x.path);
        }
    }

    /// Editing a schema without regenerating is caught, naming the stale file.
    #[test]
    fn schema_edit_without_codegen_is_detected() {
        let root = repo_root();
        let scratch = std::env::temp_dir().join(format!("xtask-stale-{}", std::process::id()));
        let copy = |rel: &str| {
            let to = scratch.join(rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(root.join(rel), &to).unwrap();
        };
        for generated in generate(&root).unwrap() {
            copy(&generated.path);
        }
        for file in SCHEMA_FILES {
            copy(file);
        }
        copy(endpoints::MANIFEST);
        copy(catalog::CATALOG);
        assert!(stale_files(&scratch).unwrap().is_empty());
        // A catalog edit (a product renamed) is caught too: the generated catalog and the
        // bundled copy are stale.
        let catalog_path = scratch.join(catalog::CATALOG);
        let original = std::fs::read_to_string(&catalog_path).unwrap();
        std::fs::write(
            &catalog_path,
            original.replacen("Client Certificate: Premium", "Premium", 1),
        )
        .unwrap();
        let stale = stale_files(&scratch).unwrap();
        assert!(stale.contains(&TYPES_OUTPUT.to_string()), "{stale:?}");
        assert!(
            stale.contains(&format!("{SCHEMA_COPY_DIR}/catalog.json")),
            "{stale:?}"
        );
        std::fs::write(&catalog_path, original).unwrap();
        let request = scratch.join(SCHEMA_FILES[0]);
        let edited = std::fs::read_to_string(&request).unwrap().replacen(
            "\"balance\",",
            "\"balance\", \"voucher\",",
            1,
        );
        std::fs::write(&request, edited).unwrap();
        let stale = stale_files(&scratch).unwrap();
        std::fs::remove_dir_all(&scratch).ok();
        assert!(stale.contains(&TYPES_OUTPUT.to_string()), "{stale:?}");
    }

    #[test]
    fn strips_only_required_alternatives() {
        let schema = serde_json::json!({
            "anyOf": [{"required": ["a"]}, {"required": ["b"]}],
            "$defs": {"X": {"anyOf": [{"type": "string"}, {"type": "integer"}]}}
        });
        let prepared = prepare_for_typify(schema);
        assert!(prepared.get("anyOf").is_none());
        assert!(prepared["$defs"]["X"].get("anyOf").is_some());
        let schema = serde_json::json!({
            "if": {"required": ["a"]}, "then": {"required": ["b"]},
            "properties": {"e": {"type": "array", "items": {"type": "string", "pattern": "^a$"}}},
            "$defs": {"N": {"type": "string", "pattern": "^n$"}}
        });
        let prepared = prepare_for_typify(schema);
        assert!(prepared.get("if").is_none() && prepared.get("then").is_none());
        assert!(
            prepared["properties"]["e"]["items"]
                .get("pattern")
                .is_none()
        );
        assert_eq!(prepared["$defs"]["N"]["pattern"], "^n$");
    }

    #[test]
    fn open_enum_requires_string_values() {
        let bad = serde_json::json!({"$defs": {"S": {"type": "string", "x-open-enum": [1]}}});
        assert!(open_enums_of(&bad).is_err());
        let good = serde_json::json!({"$defs": {"S": {"type": "string", "x-open-enum": ["a_b"]}}});
        assert_eq!(
            open_enums_of(&good).unwrap(),
            vec![("S".to_string(), vec!["a_b".to_string()])]
        );
        assert_eq!(pascal_case("waiting_pickup"), "WaitingPickup");
    }
}

#[cfg(test)]
mod endpoint_tests {
    use super::*;

    /// The schema files as codegen sees them (with `ProductId` from the catalog).
    fn schemas() -> Vec<(&'static str, Value)> {
        let mut schemas: Vec<(&'static str, Value)> = SCHEMA_FILES
            .iter()
            .map(|file| {
                let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
                (*file, serde_json::from_str(&text).unwrap())
            })
            .collect();
        let catalog = std::fs::read_to_string(repo_root().join(catalog::CATALOG)).unwrap();
        catalog::load(&catalog, &mut schemas).unwrap();
        schemas
    }

    fn manifest_text() -> String {
        std::fs::read_to_string(repo_root().join(endpoints::MANIFEST)).unwrap()
    }

    #[test]
    fn manifest_schema_refs_all_exist() {
        let manifest = endpoints::parse_manifest(&manifest_text()).unwrap();
        let names = endpoints::schema_type_names(&schemas());
        let mut refs = 0;
        for ep in &manifest.endpoints {
            for schema in ep.request.iter().chain(ep.response.schema.iter()) {
                assert!(
                    names.contains(schema),
                    "{}: {schema} is not in the schema",
                    ep.name
                );
                refs += 1;
            }
        }
        assert!(refs >= 8, "expected request/response refs, found {refs}");
        let problems = endpoints::check_manifest(&manifest, &schemas());
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn manifest_covers_the_issue_endpoints() {
        let manifest = endpoints::parse_manifest(&manifest_text()).unwrap();
        let names: Vec<&str> = manifest.endpoints.iter().map(|e| e.name.as_str()).collect();
        for needed in [
            "raw_order_client_certificate",
            "order_info",
            "list_orders",
            "status_changes",
            "update_request_status",
            "cancel_order",
            "download_by_certificate",
            "download_by_order",
            "product_info",
        ] {
            assert!(
                names.contains(&needed),
                "{needed} missing from the manifest"
            );
        }
    }

    /// Adding an endpoint is a manifest edit: codegen emits its constant and method.
    #[test]
    fn a_manifest_edit_adds_a_method() {
        let mut manifest: Value = serde_json::from_str(&manifest_text()).unwrap();
        let mut extra = manifest["endpoints"][1].clone();
        extra["name"] = "order_info_again".into();
        manifest["endpoints"].as_array_mut().unwrap().push(extra);
        let before = endpoints::generate_client(&manifest_text(), &schemas()).unwrap();
        let after = endpoints::generate_client(&manifest.to_string(), &schemas()).unwrap();
        assert!(!before.contains("order_info_again"));
        assert!(after.contains("pub async fn order_info_again("));
        assert!(after.contains("pub const ORDER_INFO_AGAIN: Endpoint"));
        // The same name twice is refused.
        manifest["endpoints"][0]["name"] = "order_info".into();
        assert!(endpoints::generate_client(&manifest.to_string(), &schemas()).is_err());
    }

    #[test]
    fn manifest_errors_are_reported() {
        let bad = serde_json::json!({"endpoints": [{
            "name": "order_info", "visibility": "pub", "doc": "x", "method": "POST",
            "path": "/order/{order_id}/{other}",
            "path_params": [{"name": "order_id", "type": "Nope", "doc": "x"}],
            "query_params": [{"name": "limit", "type": "integer", "doc": "x"}],
            "request": "MissingBody",
            "response": {"kind": "json", "schema": "MissingResponse"},
            "success": 302, "idempotent": true
        }]});
        let manifest = endpoints::parse_manifest(&bad.to_string()).unwrap();
        let problems = endpoints::check_manifest(&manifest, &schemas()).join("\n");
        for expected in [
            "success status 302 is not 2xx",
            "a POST cannot be marked idempotent",
            "differ from path_params",
            "unknown type \"Nope\"",
            "optional query parameters need a query_struct",
            "request schema \"MissingBody\" does not exist",
            "response schema \"MissingResponse\" does not exist",
        ] {
            assert!(
                problems.contains(expected),
                "missing {expected:?} in:\n{problems}"
            );
        }
        assert!(endpoints::generate_client(&bad.to_string(), &schemas()).is_err());
        assert!(endpoints::parse_manifest(r#"{"endpoints": [], "extra": 1}"#).is_err());
    }
}
