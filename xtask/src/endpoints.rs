//! The client's endpoint surface, generated from `schema/endpoints.json`.
//!
//! Each manifest entry becomes one `Endpoint` constant and one async method on
//! `certcentral_client::Client` that calls the hand-written transport core (`call_json`,
//! `call_bytes` or `call_empty`). Optional query parameters are gathered in a generated
//! struct (`query_struct`).

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use serde::Deserialize;
use serde_json::Value;

/// The endpoints manifest, relative to the repository root.
pub const MANIFEST: &str = "schema/endpoints.json";

/// The file the client surface is written to, relative to the repository root.
pub const CLIENT_OUTPUT: &str = "crates/certcentral-client/src/generated.rs";

/// The manifest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Free text for readers.
    #[serde(rename = "$comment", default)]
    pub comment: Option<String>,
    /// The endpoints, in method order.
    pub endpoints: Vec<EndpointSpec>,
}

/// One endpoint of the manifest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSpec {
    /// Method name on `Client` (snake_case).
    pub name: String,
    /// `pub` or `crate`.
    pub visibility: String,
    /// Documentation of the method.
    pub doc: String,
    /// HTTP method.
    pub method: String,
    /// Path template below the base URL.
    pub path: String,
    /// Path parameters, in template order.
    pub path_params: Vec<ParamSpec>,
    /// Query parameters.
    #[serde(default)]
    pub query_params: Vec<ParamSpec>,
    /// Name of the struct gathering the optional query parameters.
    #[serde(default)]
    pub query_struct: Option<String>,
    /// Request body schema type, if any.
    pub request: Option<String>,
    /// Response.
    pub response: ResponseSpec,
    /// Documented success status.
    pub success: u16,
    /// Whether retrying is harmless.
    pub idempotent: bool,
}

/// One path or query parameter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// Rust name (and template name for path parameters).
    pub name: String,
    /// Query parameter name on the wire (defaults to `name`).
    #[serde(default)]
    pub wire: Option<String>,
    /// `integer`, `string` or a schema type name.
    #[serde(rename = "type")]
    pub type_: String,
    /// Query parameters only: whether it must be given.
    #[serde(default)]
    pub required: bool,
    /// Documentation.
    pub doc: String,
}

/// What an endpoint answers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseSpec {
    /// `json`, `json_or_empty`, `bytes` or `empty`.
    pub kind: String,
    /// For `json`: the schema type name.
    #[serde(default)]
    pub schema: Option<String>,
}

/// Parses the manifest text.
pub fn parse_manifest(text: &str) -> Result<Manifest> {
    serde_json::from_str(text).context("schema/endpoints.json does not match the manifest format")
}

/// Every type name the schema files define: each file's `title` and each `$defs` key.
pub fn schema_type_names(schemas: &[(&str, Value)]) -> BTreeSet<String> {
    // `OrderBody` (any request profile's order body) is generated from the catalog's request
    // profiles, beside the schema types.
    let mut names = BTreeSet::from(["OrderBody".to_owned()]);
    for (_, schema) in schemas {
        if let Some(title) = schema.get("title").and_then(Value::as_str) {
            names.insert(title.to_string());
        }
        if let Some(defs) = schema.get("$defs").and_then(Value::as_object) {
            names.extend(defs.keys().cloned());
        }
    }
    names
}

/// Every problem of the manifest against the schema files: unknown schema refs and types,
/// path templates that do not match their parameters, bad names, methods, kinds, statuses.
pub fn check_manifest(manifest: &Manifest, schemas: &[(&str, Value)]) -> Vec<String> {
    let names = schema_type_names(schemas);
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for ep in &manifest.endpoints {
        let at = &ep.name;
        if !is_snake_ident(&ep.name) {
            problems.push(format!("{at}: name must be a snake_case identifier"));
        }
        if !seen.insert(ep.name.clone()) {
            problems.push(format!("{at}: duplicate endpoint name"));
        }
        shape_problems(ep, &mut problems);
        param_problems(ep, &names, &mut problems);
        schema_problems(ep, &names, &mut problems);
    }
    problems
}

/// An endpoint's visibility, method, success status and path against its parameters.
fn shape_problems(ep: &EndpointSpec, problems: &mut Vec<String>) {
    let at = &ep.name;
    if !matches!(ep.visibility.as_str(), "pub" | "crate") {
        problems.push(format!("{at}: visibility must be `pub` or `crate`"));
    }
    if !matches!(
        ep.method.as_str(),
        "GET" | "POST" | "PUT" | "DELETE" | "PATCH"
    ) {
        problems.push(format!("{at}: unsupported method {:?}", ep.method));
    }
    if !(200..300).contains(&ep.success) {
        problems.push(format!("{at}: success status {} is not 2xx", ep.success));
    }
    if ep.method == "POST" && ep.idempotent {
        problems.push(format!("{at}: a POST cannot be marked idempotent"));
    }
    if !ep.path.starts_with('/') {
        problems.push(format!("{at}: path must start with `/`"));
    }
    let template: Vec<&str> = ep
        .path
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect();
    let declared: Vec<&str> = ep.path_params.iter().map(|p| p.name.as_str()).collect();
    if template != declared {
        problems.push(format!(
            "{at}: path template parameters {template:?} differ from path_params {declared:?}"
        ));
    }
}

/// An endpoint's parameters: names, types, and a query struct exactly when one is optional.
fn param_problems(ep: &EndpointSpec, names: &BTreeSet<String>, problems: &mut Vec<String>) {
    let at = &ep.name;
    let known_type = |t: &str| matches!(t, "integer" | "string" | "boolean") || names.contains(t);
    for p in ep.path_params.iter().chain(&ep.query_params) {
        if !is_snake_ident(&p.name) {
            problems.push(format!(
                "{at}: parameter {:?} is not a snake_case identifier",
                p.name
            ));
        }
        if !known_type(&p.type_) {
            problems.push(format!(
                "{at}: parameter {} has unknown type {:?} (not integer, string, boolean or a schema type)",
                p.name, p.type_
            ));
        }
    }
    let optional = ep.query_params.iter().any(|p| !p.required);
    match (&ep.query_struct, optional) {
        (None, true) => problems.push(format!(
            "{at}: optional query parameters need a query_struct"
        )),
        (Some(s), false) => problems.push(format!(
            "{at}: query_struct {s} given but no optional query parameter"
        )),
        _ => {}
    }
}

/// An endpoint's request and response schemas exist; the response kind fits.
fn schema_problems(ep: &EndpointSpec, names: &BTreeSet<String>, problems: &mut Vec<String>) {
    let at = &ep.name;
    if let Some(request) = &ep.request
        && !names.contains(request)
    {
        problems.push(format!("{at}: request schema {request:?} does not exist"));
    }
    match (ep.response.kind.as_str(), &ep.response.schema) {
        ("json" | "json_or_empty", Some(schema)) => {
            if !names.contains(schema) {
                problems.push(format!("{at}: response schema {schema:?} does not exist"));
            }
        }
        ("json" | "json_or_empty", None) => {
            problems.push(format!("{at}: a json response needs a schema"))
        }
        ("bytes" | "empty", None) => {}
        ("bytes" | "empty", Some(_)) => problems.push(format!(
            "{at}: a {} response takes no schema",
            ep.response.kind
        )),
        (other, _) => problems.push(format!("{at}: unknown response kind {other:?}")),
    }
}

fn is_snake_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The Rust type of a parameter as a function argument, and how to turn it into text.
fn arg_type(type_: &str) -> (TokenStream, TokenStream) {
    match type_ {
        "integer" => (quote!(i64), quote!(.to_string())),
        "string" => (quote!(&str), quote!(.to_string())),
        "boolean" => (quote!(bool), quote!(.to_string())),
        other => {
            let ident = format_ident!("{other}");
            (quote!(types::#ident), quote!(.to_string()))
        }
    }
}

/// The Rust type of an optional query parameter as a struct field.
fn field_type(type_: &str) -> TokenStream {
    match type_ {
        "integer" => quote!(i64),
        "string" => quote!(String),
        "boolean" => quote!(bool),
        other => {
            let ident = format_ident!("{other}");
            quote!(types::#ident)
        }
    }
}

/// The `Endpoint` constant describing `ep`.
fn endpoint_const(ep: &EndpointSpec, const_ident: &proc_macro2::Ident) -> TokenStream {
    let name = &ep.name;
    let method = &ep.method;
    let path = &ep.path;
    let success = proc_macro2::Literal::u16_unsuffixed(ep.success);
    let idempotent = ep.idempotent;
    let const_doc = format!(
        "`{method} {path}` ({}).",
        if idempotent {
            "idempotent: retried on 429, 5xx, timeouts and connect errors"
        } else {
            "not idempotent: retried only on 429 and connect errors"
        }
    );
    quote! {
        #[doc = #const_doc]
        pub const #const_ident: Endpoint = Endpoint {
            name: #name,
            method: #method,
            path: #path,
            success: #success,
            idempotent: #idempotent,
        };
    }
}

/// The `Client` method of one endpoint, built up argument by argument.
#[derive(Default)]
struct Method {
    args: Vec<TokenStream>,
    path_pairs: Vec<TokenStream>,
    query_stmts: Vec<TokenStream>,
    param_docs: Vec<String>,
}

impl Method {
    /// The path parameters, then the required query parameters, as arguments.
    fn with_required_params(ep: &EndpointSpec) -> Self {
        let mut method = Self::default();
        for p in &ep.path_params {
            let ident = format_ident!("{}", p.name);
            let (ty, conv) = arg_type(&p.type_);
            let pname = &p.name;
            method.args.push(quote!(#ident: #ty));
            method.path_pairs.push(quote!((#pname, #ident #conv)));
            method.param_docs.push(format!("- `{}`: {}", p.name, p.doc));
        }
        for p in ep.query_params.iter().filter(|p| p.required) {
            let ident = format_ident!("{}", p.name);
            let (ty, conv) = arg_type(&p.type_);
            let wire = p.wire.clone().unwrap_or_else(|| p.name.clone());
            method.args.push(quote!(#ident: #ty));
            method
                .query_stmts
                .push(quote!(query.push((#wire, #ident #conv));));
            method
                .param_docs
                .push(format!("- `{}` (`{wire}`): {}", p.name, p.doc));
        }
        method
    }

    /// The struct of the optional query parameters (returned), taken as a `filters`
    /// argument.
    fn query_struct(&mut self, ep: &EndpointSpec, struct_name: &str) -> TokenStream {
        let name = &ep.name;
        let sident = format_ident!("{struct_name}");
        let mut fields = Vec::new();
        let mut pushes = Vec::new();
        for p in ep.query_params.iter().filter(|p| !p.required) {
            let ident = format_ident!("{}", p.name);
            let ty = field_type(&p.type_);
            let wire = p.wire.clone().unwrap_or_else(|| p.name.clone());
            let doc = format!("`{wire}`: {}.", p.doc);
            fields.push(quote! {
                #[doc = #doc]
                pub #ident: Option<#ty>,
            });
            pushes.push(quote! {
                if let Some(value) = &self.#ident {
                    query.push((#wire, value.to_string()));
                }
            });
        }
        let sdoc =
            format!("Optional query parameters of [`Client::{name}`]; unset ones are not sent.");
        self.args.push(quote!(filters: &#sident));
        self.query_stmts
            .push(quote!(query.extend(filters.to_query());));
        self.param_docs.push(format!(
            "- `filters`: optional query parameters ([`{struct_name}`])"
        ));
        quote! {
            #[doc = #sdoc]
            #[derive(Clone, Debug, Default, PartialEq)]
            pub struct #sident {
                #(#fields)*
            }
            impl #sident {
                /// The query pairs to send, in manifest order, names as on the wire.
                pub fn to_query(&self) -> Vec<(&'static str, String)> {
                    let mut query = Vec::new();
                    #(#pushes)*
                    query
                }
            }
        }
    }

    /// The method: its request body last among the arguments, its documentation, and the
    /// call that fits its response kind.
    fn tokens(mut self, ep: &EndpointSpec, const_ident: &proc_macro2::Ident) -> TokenStream {
        let body_expr = match &ep.request {
            Some(schema) => {
                let ty = format_ident!("{schema}");
                self.args.push(quote!(body: &types::#ty));
                self.param_docs
                    .push(format!("- `body`: the request body ([`types::{schema}`])"));
                quote!(Some(Client::encode(body)?))
            }
            None => quote!(None),
        };
        let (ret, call) = response_call(ep);
        let vis = if ep.visibility == "crate" {
            quote!(pub(crate))
        } else {
            quote!(pub)
        };
        let doc = self.doc(ep, const_ident);
        let method_ident = format_ident!("{}", ep.name);
        let path_len = proc_macro2::Literal::usize_unsuffixed(self.path_pairs.len());
        let query_mut = if self.query_stmts.is_empty() {
            quote!()
        } else {
            quote!(mut)
        };
        let Self {
            args,
            path_pairs,
            query_stmts,
            ..
        } = self;
        quote! {
            #[doc = #doc]
            #vis async fn #method_ident(&self, #(#args),*) -> Result<#ret, Error> {
                let path: [(&str, String); #path_len] = [#(#path_pairs),*];
                let #query_mut query: Vec<(&str, String)> = Vec::new();
                #(#query_stmts)*
                self.#call(&#const_ident, &path, &query, #body_expr).await
            }
        }
    }

    /// The manifest's documentation, the parameters, and the endpoint constant.
    fn doc(&self, ep: &EndpointSpec, const_ident: &proc_macro2::Ident) -> String {
        let mut doc = ep.doc.clone();
        if !self.param_docs.is_empty() {
            doc.push_str("\n\n# Parameters\n\n");
            doc.push_str(&self.param_docs.join("\n"));
        }
        doc.push_str(&format!(
            "\n\nDescribed by [`{const_ident}`]; errors as in [`Error`].",
        ));
        doc
    }
}

/// The return type of an endpoint's method and the `Client` call that reads its response.
fn response_call(ep: &EndpointSpec) -> (TokenStream, TokenStream) {
    match ep.response.kind.as_str() {
        "json" => {
            let ty = format_ident!("{}", ep.response.schema.clone().unwrap_or_default());
            (quote!(types::#ty), quote!(call_json))
        }
        "json_or_empty" => {
            let ty = format_ident!("{}", ep.response.schema.clone().unwrap_or_default());
            (quote!(Option<types::#ty>), quote!(call_json_or_empty))
        }
        "bytes" => (quote!(Vec<u8>), quote!(call_bytes)),
        _ => (quote!(()), quote!(call_empty)),
    }
}

/// Generates the client surface from the manifest text, checked against the schema files.
pub fn generate_client(manifest_text: &str, schemas: &[(&str, Value)]) -> Result<String> {
    let manifest = parse_manifest(manifest_text)?;
    let problems = check_manifest(&manifest, schemas);
    if !problems.is_empty() {
        bail!("{MANIFEST} is inconsistent:\n  {}", problems.join("\n  "));
    }
    let mut consts = Vec::new();
    let mut const_idents = Vec::new();
    let mut structs = Vec::new();
    let mut methods = Vec::new();
    for ep in &manifest.endpoints {
        let const_ident = format_ident!("{}", ep.name.to_ascii_uppercase());
        consts.push(endpoint_const(ep, &const_ident));
        const_idents.push(const_ident.clone());
        let mut method = Method::with_required_params(ep);
        if let Some(struct_name) = &ep.query_struct {
            structs.push(method.query_struct(ep, struct_name));
        }
        methods.push(method.tokens(ep, &const_ident));
    }
    let tokens = quote! {
        use certcentral_types as types;

        use crate::{Client, Endpoint, Error};

        #(#consts)*

        /// Every endpoint of the manifest, in manifest order.
        pub const ALL: &[Endpoint] = &[#(#const_idents),*];

        #(#structs)*

        impl Client {
            #(#methods)*
        }
    };
    let file: syn::File = syn::parse2(tokens).context("endpoint codegen produced invalid Rust")?;
    let body = prettyplease::unparse(&file);
    Ok(format!(
        "// @generated by `cargo xtask codegen` from {MANIFEST}.\n\
         // Do not edit by hand: edit the manifest and run `cargo xtask codegen`.\n\n{body}"
    ))
}
