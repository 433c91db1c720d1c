//! Property tests derived from the schema: strategies built by walking each product's
//! schema (`certcentral_validate::product_schema`: the body of its request profile in
//! `schema/order-request.schema.json` joined with the product's rule set) at test time
//! generate valid orders, and, for each
//! constraint the walk finds (required member, unknown member, type, enum, bound, length,
//! pattern, format, `minItems`, "one of these members", `if`/`then` (a value, or a member
//! the `then` requires), a member a product's rules forbid (`not`), and each custom keyword),
//! orders that violate exactly that constraint — expecting exactly its path and code. Adding
//! an enum value or moving a bound in the schema changes what is generated; no test names a
//! field.

#![cfg(feature = "csr")]

use std::sync::LazyLock;

use certcentral_types::{OrderBody, ProductId};
use certcentral_validate::{Context, product_schema, validate_body, validate_json};
use chrono::NaiveDate;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value, json};

use crate::kit::today;

static SCHEMA: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(certcentral_types::schema::ORDER_REQUEST).unwrap());

/// A CSR the schema's `x-csr` accepts (ECDSA P-256, generated once).
static CSR: LazyLock<String> = LazyLock::new(|| certcentral_testkit::csr().1);

fn ctx(product: ProductId) -> Context {
    Context::new(product).with_today(today())
}

fn resolve(schema: &'static Value) -> &'static Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(SCHEMA.pointer(r.trim_start_matches('#')).unwrap()),
        None => schema,
    }
}

/// `schema` with its `$ref` followed and every `allOf` member merged in (properties merged
/// member by member, `required` joined), its `if`/`then` pairs gathered under
/// `x-conditions` and the result leaked: the one node the generators and the walk read.
fn flat(schema: &'static Value) -> &'static Value {
    fn merge(into: &mut Map<String, Value>, from: &'static Value) {
        // A bare `{"$ref"}` is its target; a `$ref` beside other keywords keeps them (merged
        // first, then the target, below).
        let from = match from.as_object() {
            Some(obj) if obj.len() == 1 && obj.contains_key("$ref") => resolve(from),
            _ => from,
        };
        let Some(obj) = from.as_object() else { return };
        for (key, value) in obj {
            match key.as_str() {
                "allOf" => {
                    for member in value.as_array().into_iter().flatten() {
                        merge(into, member);
                    }
                }
                "if" => {
                    if let Some(then) = obj.get("then") {
                        let conditions = into.entry("x-conditions").or_insert_with(|| json!([]));
                        conditions
                            .as_array_mut()
                            .unwrap()
                            .push(json!([value, then]));
                    }
                }
                "then" | "$ref" | "$defs" => {}
                "required" => {
                    let list = into.entry("required").or_insert_with(|| json!([]));
                    for name in value.as_array().into_iter().flatten() {
                        if !list.as_array().unwrap().contains(name) {
                            list.as_array_mut().unwrap().push(name.clone());
                        }
                    }
                }
                "properties" => {
                    let props = into
                        .entry("properties")
                        .or_insert_with(|| json!({}))
                        .as_object_mut()
                        .unwrap();
                    for (name, sub) in value.as_object().into_iter().flatten() {
                        let mut merged = match props.remove(name) {
                            Some(Value::Object(existing)) => existing,
                            _ => Map::new(),
                        };
                        merge(&mut merged, sub);
                        props.insert(name.clone(), Value::Object(merged));
                    }
                }
                _ => {
                    into.entry(key.clone()).or_insert_with(|| value.clone());
                }
            }
        }
        // A `$ref` beside other keywords (`{"description", "$ref"}`): merge its target too.
        if let Some(Value::String(_)) = obj.get("$ref") {
            let target = resolve(from);
            if !std::ptr::eq(target, from) {
                merge(into, target);
            }
        }
    }
    let mut out = Map::new();
    merge(&mut out, schema);
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        merge(&mut out, SCHEMA.pointer(r.trim_start_matches('#')).unwrap());
    }
    Box::leak(Box::new(Value::Object(out)))
}

/// Each product's schema document, leaked.
static PRODUCTS: LazyLock<Vec<(ProductId, &'static Value)>> = LazyLock::new(|| {
    ProductId::ALL
        .iter()
        .map(|p| (*p, &*Box::leak(Box::new(product_schema(*p)))))
        .collect()
});

/// `schema` without custom (`x-…`) keywords, compiled: what a standard validator says.
fn standard(schema: &Value) -> jsonschema::Validator {
    let mut schema = schema.clone();
    if let Some(obj) = schema.as_object_mut() {
        obj.retain(|k, _| !k.starts_with("x-"));
    }
    // Keep local references resolvable.
    schema["$defs"] = SCHEMA["$defs"].clone();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

/// A pattern proptest can generate from: anchors and lookaheads removed, unbounded
/// repetitions bounded (the full schema filters what the lookaheads would have refused).
fn generable(pattern: &str) -> String {
    let p = pattern.strip_prefix('^').unwrap_or(pattern);
    let p = p.strip_suffix('$').unwrap_or(p);
    let mut out = String::new();
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            out.push(chars[i]);
            out.push(chars[i + 1]);
            i += 2;
        } else if chars[i..].starts_with(&['(', '?', '=']) {
            // Skip the balanced lookahead group.
            let mut depth = 0;
            let mut in_class = false;
            while i < chars.len() {
                match chars[i] {
                    '\\' => i += 1,
                    '[' => in_class = true,
                    ']' => in_class = false,
                    '(' if !in_class => depth += 1,
                    ')' if !in_class => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            i += 1;
        } else if chars[i] == '+' {
            // Unbounded repetitions are bounded so that lengths stay plausible.
            out.push_str("{1,8}");
            i += 1;
        } else if chars[i] == '*' {
            out.push_str("{0,12}");
            i += 1;
        } else if chars[i] == '[' {
            // Copy a character class as is (a `+` or `*` inside is a literal).
            while i < chars.len() {
                out.push(chars[i]);
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                    out.push(chars[i]);
                } else if chars[i] == ']' && !out.ends_with("[]") && !out.ends_with("[^]") {
                    i += 1;
                    break;
                }
                i += 1;
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Valid instances of `schema`. `full`: every optional member present and every array
/// non-empty, so that every constraint has a value to break.
fn valid(schema: &'static Value, full: bool) -> BoxedStrategy<Value> {
    let schema = flat(schema);
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return proptest::sample::select(values.clone()).boxed();
    }
    if let Some(value) = schema.get("const") {
        return Just(value.clone()).boxed();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => object(schema, full),
        Some("integer") => {
            let min = schema.get("minimum").and_then(Value::as_i64).unwrap_or(0);
            let max = schema
                .get("maximum")
                .and_then(Value::as_i64)
                .unwrap_or(min + 1_000_000_000);
            (min..=max).prop_map(Value::from).boxed()
        }
        Some("boolean") => any::<bool>().prop_map(Value::Bool).boxed(),
        Some("array") => {
            let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            let min = if full { min.max(1) } else { min };
            let unique = schema.get("x-unique-ignoring-case") == Some(&Value::Bool(true));
            proptest::collection::vec(valid(&schema["items"], full), min..=min + 2)
                .prop_filter("unique ignoring case", move |items| {
                    !unique || {
                        let mut seen: Vec<String> = items
                            .iter()
                            .filter_map(|i| i.as_str().map(str::to_lowercase))
                            .collect();
                        let n = seen.len();
                        seen.sort();
                        seen.dedup();
                        seen.len() == n
                    }
                })
                .prop_map(Value::Array)
                .boxed()
        }
        Some("string") => string(schema),
        _ => Just(Value::Null).boxed(),
    }
}

fn string(schema: &'static Value) -> BoxedStrategy<Value> {
    if schema.get("x-csr").is_some() {
        return Just(Value::String(CSR.clone())).boxed();
    }
    if schema.get("format").and_then(Value::as_str) == Some("date") {
        let (from, days) = match schema.get("x-max-days-ahead").and_then(Value::as_u64) {
            Some(max) => (today(), max),
            None => (NaiveDate::from_ymd_opt(2000, 1, 1).unwrap(), 20_000),
        };
        return (0..=days)
            .prop_map(move |d| json!((from + chrono::Days::new(d)).to_string()))
            .boxed();
    }
    let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0);
    let max = schema
        .get("maxLength")
        .and_then(Value::as_u64)
        .unwrap_or(min + 12);
    let regex = match schema.get("pattern").and_then(Value::as_str) {
        Some(pattern) => generable(pattern),
        None => format!("[a-zA-Z0-9 ]{{{min},{max}}}"),
    };
    let check: &'static jsonschema::Validator = Box::leak(Box::new(standard(schema)));
    proptest::string::string_regex(&regex)
        .unwrap_or_else(|err| panic!("{regex}: {err}"))
        .prop_map(Value::String)
        .prop_filter("the schema accepts it", move |v| check.is_valid(v))
        .boxed()
}

fn members(schema: &'static Value, key: &str) -> Vec<String> {
    schema
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The member groups of an `anyOf` whose branches only require members:
/// `[[validity_years], [custom_expiration_date]]`, `[[first_name, last_name], [pseudonym]]`.
fn alternatives(schema: &'static Value) -> Vec<Vec<String>> {
    schema
        .get("anyOf")
        .and_then(Value::as_array)
        .map(|branches| {
            branches
                .iter()
                .filter_map(|b| match b.get("required").and_then(Value::as_array) {
                    Some(r) if !r.is_empty() && b.as_object().is_some_and(|o| o.len() == 1) => r
                        .iter()
                        .map(|name| name.as_str().map(str::to_owned))
                        .collect(),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One `if`/`then` of an object: the `if` (compiled); the members the `then` gives a value
/// (with the strategy of that value); the members it requires (given their full value).
struct Condition {
    check: &'static jsonschema::Validator,
    fixes: Vec<(String, BoxedStrategy<Value>)>,
    needs: Vec<String>,
}

/// The `if`/`then` pairs of a flattened object node.
fn conditions(schema: &'static Value) -> Vec<(&'static Value, &'static Value)> {
    schema
        .get("x-conditions")
        .and_then(Value::as_array)
        .map(|pairs| pairs.iter().map(|pair| (&pair[0], &pair[1])).collect())
        .unwrap_or_default()
}

/// A member a product's rules forbid (`"not": {}`).
fn forbidden(member: &Value) -> bool {
    member.get("not").is_some()
}

fn object(schema: &'static Value, full: bool) -> BoxedStrategy<Value> {
    let empty = Map::new();
    let properties: &'static Map<String, Value> = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(Box::leak(Box::new(empty)));
    let required = members(schema, "required");
    let alternatives = alternatives(schema);
    let allowed: Vec<(&String, &'static Value)> =
        properties.iter().filter(|(_, p)| !forbidden(p)).collect();
    let names: Vec<String> = allowed.iter().map(|(n, _)| (*n).clone()).collect();
    let values: Vec<BoxedStrategy<Value>> = allowed.iter().map(|(_, p)| valid(p, full)).collect();
    let full_values: Vec<BoxedStrategy<Value>> =
        allowed.iter().map(|(_, p)| valid(p, true)).collect();
    // `if`/`then`: when the `if` holds, the `then` members take a value `then` allows, and
    // the members it requires (or whose members it requires) take their full value.
    let conditions: Vec<Condition> = conditions(schema)
        .into_iter()
        .map(|(cond, then)| {
            let check: &'static jsonschema::Validator = Box::leak(Box::new(standard(cond)));
            let mut fixes = Vec::new();
            let mut needs = members(then, "required");
            for (k, sub) in then
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if sub.get("required").is_some() {
                    needs.push(k.clone());
                } else {
                    fixes.push((k.clone(), valid(sub, full)));
                }
            }
            Condition {
                check,
                fixes,
                needs,
            }
        })
        .collect();
    let (checks, fix_strategies): (Vec<_>, Vec<_>) = conditions
        .into_iter()
        .map(|c| {
            let (names, strategies): (Vec<String>, Vec<BoxedStrategy<Value>>) =
                c.fixes.into_iter().unzip();
            ((c.check, names, c.needs), strategies)
        })
        .unzip();
    (
        values,
        full_values,
        proptest::collection::vec(any::<bool>(), names.len()),
        fix_strategies,
    )
        .prop_map(move |(values, full_values, keep, fixes)| {
            let mut map = Map::new();
            for (i, name) in names.iter().enumerate() {
                if full || keep[i] || required.contains(name) {
                    map.insert(name.clone(), values[i].clone());
                }
            }
            if let Some(first) = alternatives.first()
                && !alternatives
                    .iter()
                    .any(|group| group.iter().all(|a| map.contains_key(a)))
            {
                for member in first {
                    if let Some(i) = names.iter().position(|n| n == member) {
                        map.insert(member.clone(), values[i].clone());
                    }
                }
            }
            let mut doc = Value::Object(map);
            for ((check, fix_names, needs), fix_values) in checks.iter().zip(fixes) {
                if !check.is_valid(&doc) {
                    continue;
                }
                for (name, value) in fix_names.iter().zip(fix_values) {
                    if doc.get(name).is_some() {
                        doc[name.as_str()] = value;
                    }
                }
                for name in needs {
                    if let Some(i) = names.iter().position(|n| n == name) {
                        doc[name.as_str()] = full_values[i].clone();
                    }
                }
            }
            doc
        })
        .boxed()
}

/// One constraint found by the walk: how to break it, and the (path, code) that must follow.
#[derive(Clone, Debug)]
enum Break {
    /// Remove these members (the first one is the reported path).
    Remove(Vec<String>),
    /// Add an unknown member.
    AddUnknown,
    /// Put this value at the path.
    Set(Value),
    /// Make the first two items of the array equal ignoring case.
    RepeatIgnoringCase,
    /// Write the integer at the path as a float.
    AsFloat,
    /// Set the `if` members to these values and the `then` members to these.
    Conditional(Vec<(String, Value)>, Vec<(String, Value)>),
    /// Set the `if` members to these values and remove the member at this relative path.
    ConditionalRemove(Vec<(String, Value)>, Vec<String>),
}

#[derive(Clone, Debug)]
struct Constraint {
    /// The product whose schema holds the constraint.
    product: ProductId,
    /// JSON Pointer of the value the constraint applies to.
    at: String,
    what: String,
    how: Break,
    /// Expected (path, code).
    path: String,
    code: &'static str,
}

/// Candidate values that break a `pattern` but nothing else of the subschema's standard
/// keywords apart from `format`.
const PATTERN_PROBES: &[&str] = &[
    " padded",
    "padded ",
    "   ",
    "Lock\u{0}Cole",
    "Lock\nCole",
    "Lock\u{7f}Cole",
    "Lock\u{85}Cole",
    "\u{202e}eloC kcoL",
    "\u{2066}isolate",
    "a b@example.com",
    "a@1.2.3.4",
    "a@localhost",
    "a..b@example.com",
    "\"a\"@example.com",
    "a@-example.com",
];

fn walk(product: ProductId, schema: &'static Value, at: &str, out: &mut Vec<Constraint>) {
    let node = flat(schema);
    let push = |out: &mut Vec<Constraint>, what: String, how: Break, path: String, code| {
        out.push(Constraint {
            product,
            at: at.to_owned(),
            what,
            how,
            path,
            code,
        })
    };
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        let outside = match values.first() {
            Some(Value::String(_)) => json!("zz-not-allowed"),
            _ => json!(values.iter().filter_map(Value::as_i64).max().unwrap_or(0) + 1),
        };
        push(
            out,
            "enum".into(),
            Break::Set(outside),
            at.into(),
            "invalid_value",
        );
    }
    let ty = node.get("type").and_then(Value::as_str).unwrap_or("");
    let wrong_type = match ty {
        "string" => json!(12345),
        "integer" => json!("7"),
        "boolean" => json!("true"),
        "array" => json!({}),
        "object" => json!([]),
        _ => Value::Null,
    };
    if !ty.is_empty() {
        push(
            out,
            format!("type {ty}"),
            Break::Set(wrong_type),
            at.into(),
            "invalid_value",
        );
    }
    if node.get("x-plain-integer").is_some() {
        push(
            out,
            "x-plain-integer".into(),
            Break::AsFloat,
            at.into(),
            "invalid_value",
        );
    }
    if let Some(min) = node.get("minimum").and_then(Value::as_i64) {
        push(
            out,
            "minimum".into(),
            Break::Set(json!(min - 1)),
            at.into(),
            "invalid_value",
        );
    }
    if let Some(max) = node.get("maximum").and_then(Value::as_i64) {
        push(
            out,
            "maximum".into(),
            Break::Set(json!(max + 1)),
            at.into(),
            "invalid_value",
        );
    }
    if let Some(min) = node
        .get("minLength")
        .and_then(Value::as_u64)
        .filter(|m| *m > 0)
    {
        let s = "x".repeat(min as usize - 1);
        push(
            out,
            "minLength".into(),
            Break::Set(json!(s)),
            at.into(),
            "invalid_value",
        );
    }
    if let Some(max) = node.get("maxLength").and_then(Value::as_u64) {
        let s = "x".repeat(max as usize + 1);
        push(
            out,
            "maxLength".into(),
            Break::Set(json!(s)),
            at.into(),
            "invalid_value",
        );
    }
    if node.get("pattern").is_some() {
        let full = standard(node);
        let mut relaxed = node.clone();
        if let Some(o) = relaxed.as_object_mut() {
            o.remove("pattern");
            o.remove("format");
        }
        let relaxed = standard(&relaxed);
        for probe in PATTERN_PROBES {
            let v = json!(probe);
            if !full.is_valid(&v) && relaxed.is_valid(&v) {
                push(
                    out,
                    format!("pattern ({probe:?})"),
                    Break::Set(v),
                    at.into(),
                    "invalid_value",
                );
            }
        }
    }
    match node.get("format").and_then(Value::as_str) {
        Some("date") => push(
            out,
            "format date".into(),
            Break::Set(json!("2026-02-30")),
            at.into(),
            "invalid_value",
        ),
        Some("email") => push(
            out,
            "format email".into(),
            Break::Set(json!("no-at-sign.example.com")),
            at.into(),
            "invalid_value",
        ),
        _ => {}
    }
    if let Some(max) = node.get("x-max-days-ahead").and_then(Value::as_u64) {
        let late = (today() + chrono::Days::new(max + 1)).to_string();
        let early = today().pred_opt().unwrap().to_string();
        push(
            out,
            "x-max-days-ahead (late)".into(),
            Break::Set(json!(late)),
            at.into(),
            "invalid_value",
        );
        push(
            out,
            "x-max-days-ahead (past)".into(),
            Break::Set(json!(early)),
            at.into(),
            "invalid_value",
        );
    }
    if node.get("x-csr").is_some() {
        push(
            out,
            "x-csr".into(),
            Break::Set(json!("<csr>")),
            at.into(),
            "csr_invalid_cannot_parse",
        );
    }
    if let Some(min) = node
        .get("minItems")
        .and_then(Value::as_u64)
        .filter(|m| *m > 0)
    {
        let items = vec![Value::Null; min as usize - 1];
        push(
            out,
            "minItems".into(),
            Break::Set(Value::Array(items)),
            at.into(),
            "invalid_value",
        );
    }
    if node.get("x-unique-ignoring-case").is_some() {
        push(
            out,
            "x-unique-ignoring-case".into(),
            Break::RepeatIgnoringCase,
            format!("{at}/1"),
            "invalid_value",
        );
    }
    if let Some(items) = node.get("items") {
        walk(product, items, &format!("{at}/0"), out);
    }
    if ty != "object" {
        return;
    }
    let alternatives = alternatives(node);
    for name in members(node, "required") {
        push(
            out,
            format!("required {name}"),
            Break::Remove(vec![name.clone()]),
            format!("{at}/{name}"),
            "required_param",
        );
    }
    if let Some(first) = alternatives.first().and_then(|group| group.first()) {
        push(
            out,
            format!("one of {alternatives:?}"),
            Break::Remove(alternatives.concat()),
            format!("{at}/{first}"),
            "required_param",
        );
    }
    if node.get("additionalProperties") == Some(&Value::Bool(false)) {
        push(
            out,
            "additionalProperties".into(),
            Break::AddUnknown,
            format!("{at}/zz_unknown"),
            "unknown_param",
        );
    }
    for (cond, then) in conditions(node) {
        // `if` members: a value of the member's own schema that satisfies the `if`;
        // `then` members: a value of the member's own schema that `then` refuses, or the
        // removal of a member the `then` requires.
        let props = &node["properties"];
        let pick = |name: &str, sub: &Value, holds: bool| -> Option<Value> {
            let own = flat(&props[name]);
            let check = standard(sub);
            candidates(own)
                .into_iter()
                .find(|v| check.is_valid(v) == holds)
        };
        let when: Option<Vec<(String, Value)>> = cond["properties"]
            .as_object()
            .map(|p| {
                p.iter()
                    .map(|(k, s)| pick(k, s, true).map(|v| (k.clone(), v)))
                    .collect()
            })
            .unwrap_or(Some(Vec::new()));
        let Some(when) = when else { continue };
        let valued: Vec<(&String, &Value)> = then["properties"]
            .as_object()
            .map(|p| {
                p.iter()
                    .filter(|(_, s)| s.get("required").is_none())
                    .collect()
            })
            .unwrap_or_default();
        let break_then: Option<Vec<(String, Value)>> = valued
            .iter()
            .map(|(k, s)| pick(k, s, false).map(|v| ((*k).clone(), v)))
            .collect();
        if let Some(break_then) = break_then
            && let Some((first, _)) = break_then.first()
        {
            let path = format!("{at}/{first}");
            push(
                out,
                "if/then".into(),
                Break::Conditional(when.clone(), break_then.clone()),
                path,
                "invalid_value",
            );
        }
        for name in members(then, "required") {
            push(
                out,
                format!("if/then requires {name}"),
                Break::ConditionalRemove(when.clone(), vec![name.clone()]),
                format!("{at}/{name}"),
                "required_param",
            );
        }
        for (name, sub) in then["properties"].as_object().into_iter().flatten() {
            for inner in members(sub, "required") {
                push(
                    out,
                    format!("if/then requires {name}/{inner}"),
                    Break::ConditionalRemove(when.clone(), vec![name.clone(), inner.clone()]),
                    format!("{at}/{name}/{inner}"),
                    "required_param",
                );
            }
        }
    }
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        for (name, sub) in properties {
            if forbidden(sub) {
                let value = match flat(sub).get("type").and_then(Value::as_str) {
                    Some("integer") => json!(1),
                    Some("object") => json!({}),
                    _ => json!("x"),
                };
                out.push(Constraint {
                    product,
                    at: format!("{at}/{name}"),
                    what: format!("forbidden {name}"),
                    how: Break::Set(value),
                    path: format!("{at}/{name}"),
                    code: "invalid_value",
                });
                continue;
            }
            walk(product, sub, &format!("{at}/{name}"), out);
        }
    }
}

/// A few valid values of a member's own schema, for `if`/`then`.
fn candidates(schema: &Value) -> Vec<Value> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.clone();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") => {
            let min = schema.get("minimum").and_then(Value::as_i64).unwrap_or(0);
            let max = schema
                .get("maximum")
                .and_then(Value::as_i64)
                .unwrap_or(min + 3);
            (min..=max.min(min + 3)).map(Value::from).collect()
        }
        Some("boolean") => vec![json!(false), json!(true)],
        _ => Vec::new(),
    }
}

static CONSTRAINTS: LazyLock<Vec<Constraint>> = LazyLock::new(|| {
    let mut out = Vec::new();
    for (product, schema) in PRODUCTS.iter() {
        walk(*product, schema, "", &mut out);
    }
    out
});

fn apply(doc: &mut Value, c: &Constraint) {
    let (parent_path, last) = c.at.rsplit_once('/').unwrap_or(("", ""));
    match &c.how {
        Break::Set(value) => {
            if c.at.is_empty() {
                *doc = value.clone();
            } else {
                set(doc, parent_path, last, value.clone());
            }
        }
        Break::AsFloat => {
            let current = doc.pointer(&c.at).and_then(Value::as_i64).unwrap_or(1);
            set(doc, parent_path, last, json!(current as f64));
        }
        Break::RepeatIgnoringCase => {
            let items = doc
                .pointer_mut(&c.at)
                .and_then(Value::as_array_mut)
                .unwrap();
            let first = items[0].as_str().unwrap().to_uppercase();
            items.truncate(1);
            items.push(json!(first));
        }
        Break::Remove(names) => {
            let object = doc
                .pointer_mut(&c.at)
                .and_then(Value::as_object_mut)
                .unwrap();
            for name in names {
                object.remove(name);
            }
        }
        Break::AddUnknown => {
            let object = doc
                .pointer_mut(&c.at)
                .and_then(Value::as_object_mut)
                .unwrap();
            object.insert("zz_unknown".into(), json!(1));
        }
        Break::Conditional(when, then) => {
            let object = doc
                .pointer_mut(&c.at)
                .and_then(Value::as_object_mut)
                .unwrap();
            for (k, v) in when.iter().chain(then) {
                object.insert(k.clone(), v.clone());
            }
        }
        Break::ConditionalRemove(when, path) => {
            let object = doc
                .pointer_mut(&c.at)
                .and_then(Value::as_object_mut)
                .unwrap();
            for (k, v) in when {
                object.insert(k.clone(), v.clone());
            }
            let (last, parents) = path.split_last().unwrap();
            let mut at = object;
            for p in parents {
                at = at.get_mut(p).and_then(Value::as_object_mut).unwrap();
            }
            at.remove(last);
        }
    }
}

fn set(doc: &mut Value, parent: &str, last: &str, value: Value) {
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(last.to_owned(), value);
        }
        Some(Value::Array(items)) => {
            let i: usize = last.parse().unwrap();
            items[i] = value;
        }
        other => panic!("no parent at {parent}: {other:?}"),
    }
}

/// At most 1,000 cases per property; failures persist to the committed regression file.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/schema_properties.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Orders generated from each product's schema are valid for that product, deserialize
    /// into the product's typed body, and the typed and JSON entry points agree.
    #[test]
    fn generated_orders_are_valid(
        (product, doc) in proptest::strategy::Union::new(
            PRODUCTS.iter().map(|(product, schema)| (Just(*product), valid(schema, false)).boxed())
        )
    ) {
        let bytes = serde_json::to_vec(&doc).unwrap();
        let report = validate_json(&bytes, &ctx(product));
        prop_assert!(report.is_valid(), "{product}: {}\n{:#?}", doc, report.errors);
        let typed = OrderBody::from_value(product.spec().profile.body, doc.clone())
            .map_err(|e| TestCaseError::fail(format!("{doc}: {e}")))?;
        prop_assert_eq!(validate_body(&typed, &ctx(product)).errors, report.errors);
    }

    /// Breaking exactly one constraint gives exactly its path and code.
    #[test]
    fn each_constraint_breaks_alone(
        (which, doc) in proptest::strategy::Union::new(PRODUCTS.iter().map(|(product, schema)| {
            let mine: Vec<usize> = (0..CONSTRAINTS.len())
                .filter(|i| CONSTRAINTS[*i].product == *product)
                .collect();
            (proptest::sample::select(mine), valid(schema, true)).boxed()
        })),
    ) {
        let constraint = &CONSTRAINTS[which];
        let mut doc = doc;
        apply(&mut doc, constraint);
        let bytes = serde_json::to_vec(&doc).unwrap();
        let report = validate_json(&bytes, &ctx(constraint.product));
        let got: Vec<(&str, &str)> =
            report.errors.iter().map(|v| (&*v.path, &*v.code)).collect();
        // Removing members may also break a rule of an enclosing object that needs them
        // (`common_name_indicator: given_name_surname` needs both names when "one of the
        // names" is broken): then the other removed members are reported missing too, and
        // nothing else.
        let allowed: Vec<String> = match &constraint.how {
            Break::Remove(names) => names.iter().map(|n| format!("{}/{n}", constraint.at)).collect(),
            _ => vec![constraint.path.clone()],
        };
        // And each (path, code) once: a member several rules need is one violation.
        prop_assert!(
            got.contains(&(constraint.path.as_str(), constraint.code))
                && got.iter().all(|(path, code)| {
                    *code == constraint.code && allowed.iter().any(|a| a == path)
                })
                && got.iter().enumerate().all(|(i, pc)| !got[..i].contains(pc)),
            "{}: {} at {:?}: expected only ({}, {}), each once, got {:#?}\n{}",
            constraint.product, constraint.what, constraint.at, constraint.path, constraint.code, report.errors, doc
        );
    }
}

/// The walk finds every kind of constraint the schema uses (a degenerate walk would make the
/// property above vacuous).
#[test]
fn the_walk_finds_every_kind_of_constraint() {
    let kinds: Vec<&str> = CONSTRAINTS
        .iter()
        .map(|c| c.what.split([' ', '(']).next().unwrap_or(""))
        .collect();
    for kind in [
        "enum",
        "type",
        "x-plain-integer",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "x-max-days-ahead",
        "x-csr",
        "minItems",
        "x-unique-ignoring-case",
        "required",
        "one",
        "additionalProperties",
        "if/then",
        "forbidden",
    ] {
        assert!(
            kinds.contains(&kind),
            "no {kind} constraint found: {kinds:?}"
        );
    }
    assert!(
        CONSTRAINTS.len() >= 60,
        "only {} constraints",
        CONSTRAINTS.len()
    );
}
