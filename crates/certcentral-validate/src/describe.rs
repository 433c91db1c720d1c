//! Words for people, derived from the schema: what a subschema allows ("a string of 1 to 64
//! characters", "one of: 1, 2") and what a value is ("`sha1` (a string)"). Nothing here states
//! a constraint: moving a bound in `schema/` changes the message with it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::LazyLock;

use serde_json::Value;

use crate::engine::{SCHEMA, resolve, schema_node, schema_nodes};

/// [`expect`] of every object node of the order schema, keyed by its JSON Pointer, computed
/// once: the phrases depend only on the schema, so an error report only looks them up.
static PHRASES: LazyLock<HashMap<&'static str, String>> =
    LazyLock::new(|| per_node(Value::is_object, expect));

/// [`allowed_members`] of every node of the order schema with `properties`, keyed by its
/// JSON Pointer, computed once (an unknown member's message lists them).
static MEMBERS: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| {
    per_node(
        |node| node.get("properties").is_some_and(Value::is_object),
        allowed_members,
    )
});

/// `derive` of every node of the order schema that `keep` selects, by JSON Pointer.
fn per_node(
    keep: fn(&Value) -> bool,
    derive: fn(&Value) -> String,
) -> HashMap<&'static str, String> {
    schema_nodes()
        .filter(|(_, node)| keep(node))
        .map(|(pointer, node)| (pointer, derive(node)))
        .collect()
}

/// `derive` of the order schema's node at `pointer` (the root when there is none): from
/// `computed` when it is there.
fn at(
    computed: &'static HashMap<&'static str, String>,
    pointer: &str,
    derive: fn(&Value) -> String,
) -> Cow<'static, str> {
    match computed.get(pointer) {
        Some(text) => Cow::Borrowed(text),
        None => Cow::Owned(derive(schema_node(pointer).unwrap_or(&SCHEMA))),
    }
}

/// [`expect`] of the order schema's node at `pointer` (the root when there is none).
pub(crate) fn expect_at(pointer: &str) -> Cow<'static, str> {
    at(&PHRASES, pointer, expect)
}

/// [`allowed_members`] of the order schema's node at `pointer` (the root when there is none).
pub(crate) fn allowed_members_at(pointer: &str) -> Cow<'static, str> {
    at(&MEMBERS, pointer, allowed_members)
}

/// The members an object schema's `properties` allow: `` `a`, `b` `` (empty without
/// `properties`).
pub(crate) fn allowed_members(schema: &Value) -> String {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.keys()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// What `schema` allows, as a noun phrase completing "must be …".
pub(crate) fn expect(schema: &Value) -> String {
    let schema = resolve(schema);
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return format!("one of: {}", list(values));
    }
    if let Some(value) = schema.get("const") {
        return literal(value);
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => object(schema),
        Some("integer") => integer(schema),
        Some("number") => "a number".to_owned(),
        Some("boolean") => "`true` or `false`".to_owned(),
        Some("array") => array(schema),
        Some("string") => string(schema),
        _ => "a value this member allows".to_owned(),
    }
}

fn literal(value: &Value) -> String {
    match value {
        Value::String(s) => format!("`{s}`"),
        other => other.to_string(),
    }
}

fn list(values: &[Value]) -> String {
    values.iter().map(literal).collect::<Vec<_>>().join(", ")
}

/// `a`, `b` and `c`.
pub(crate) fn and_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.into_iter().map(|n| format!("`{n}`")).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

fn object(schema: &Value) -> String {
    let properties = schema.get("properties").and_then(Value::as_object);
    // A small object reads best written out: `{"id": <positive integer>}`.
    if let Some(properties) = properties.filter(|p| !p.is_empty() && p.len() <= 2) {
        let members: Vec<String> = properties
            .iter()
            .map(|(name, member)| {
                let what = expect(member);
                let what = what
                    .strip_prefix("a ")
                    .or_else(|| what.strip_prefix("an "))
                    .unwrap_or(&what);
                format!("\"{name}\": <{what}>")
            })
            .collect();
        return format!("an object `{{{}}}`", members.join(", "));
    }
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !required.is_empty() {
        return format!("an object with {}", and_list(required));
    }
    match properties {
        Some(p) if !p.is_empty() => format!(
            "an object with optional {}",
            and_list(p.keys().map(String::as_str))
        ),
        _ => "an object".to_owned(),
    }
}

fn integer(schema: &Value) -> String {
    let min = schema.get("minimum").and_then(Value::as_i64);
    let max = schema.get("maximum").and_then(Value::as_i64);
    match (min, max) {
        (Some(1), None) => "a positive integer".to_owned(),
        (Some(0), None) => "a non-negative integer".to_owned(),
        (Some(min), None) => format!("an integer of at least {min}"),
        (None, Some(max)) => format!("an integer of at most {max}"),
        (Some(min), Some(max)) => format!("an integer from {min} to {max}"),
        (None, None) => "an integer".to_owned(),
    }
}

fn array(schema: &Value) -> String {
    let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
    let head = match min {
        0 => "an array".to_owned(),
        1 => "a non-empty array".to_owned(),
        n => format!("an array of at least {n} items"),
    };
    match schema.get("items").map(resolve) {
        Some(items) => format!("{head} of {}", plural(items)),
        None => head,
    }
}

/// What an array's items are, in the plural.
fn plural(items: &Value) -> String {
    if items.get("format").and_then(Value::as_str) == Some("email") {
        return "email addresses".to_owned();
    }
    match items.get("type").and_then(Value::as_str) {
        Some("string") => "strings".to_owned(),
        Some("integer") => "integers".to_owned(),
        Some("object") => expect(items).replacen("an object", "objects", 1),
        _ => "items".to_owned(),
    }
}

fn string(schema: &Value) -> String {
    if schema.get("x-csr").is_some() {
        return "a string holding a PEM certificate signing request (PKCS#10)".to_owned();
    }
    let pattern = schema.get("x-pattern-description").and_then(Value::as_str);
    if schema.get("format").and_then(Value::as_str) == Some("date") {
        return "a calendar date `yyyy-MM-dd`".to_owned();
    }
    let min = schema.get("minLength").and_then(Value::as_u64);
    let max = schema.get("maxLength").and_then(Value::as_u64);
    let mut text = match (min, max) {
        (Some(min), Some(max)) => format!("a string of {min} to {max} characters"),
        (Some(min), None) => format!("a string of at least {min} characters"),
        (None, Some(max)) => format!("a string of at most {max} characters"),
        (None, None) => "a string".to_owned(),
    };
    match pattern {
        // A complete phrase ("an email address like …") replaces the generic one.
        Some(phrase) if !phrase.starts_with("with ") => text = phrase.to_owned(),
        Some(clause) => {
            text.push_str(", ");
            text.push_str(clause);
        }
        None => {}
    }
    text
}

/// How a value looks, for "found …" (long strings are shortened).
pub(crate) fn found(value: &Value) -> String {
    let mut out = String::new();
    push_found(&mut out, value);
    out
}

/// Appends [`found`] of `value` to `out`.
pub(crate) fn push_found(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("`true`"),
        Value::Bool(false) => out.push_str("`false`"),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => {
            const MAX: usize = 80;
            out.push('`');
            match s.char_indices().nth(MAX) {
                Some((end, _)) => {
                    push_escaped(out, &s[..end]);
                    out.push('…');
                }
                None => push_escaped(out, s),
            }
            out.push_str("` (a string)");
        }
        Value::Array(a) => {
            let _ = write!(out, "an array of {} item(s)", a.len());
        }
        Value::Object(_) => out.push_str("an object"),
    }
}

/// Appends `s.escape_debug()` to `out`, without the formatting machinery when `s` holds only
/// printable ASCII other than `\`, `'` and `"` (which `escape_debug` leaves as they are).
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'\\' | b'\'' | b'"'))
    {
        out.push_str(s);
    } else {
        let _ = write!(out, "{}", s.escape_debug());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn phrases() {
        assert_eq!(
            expect(&json!({"type": "integer", "minimum": 0, "maximum": 99})),
            "an integer from 0 to 99"
        );
        assert_eq!(expect(&json!({"enum": [1, 2]})), "one of: 1, 2");
        assert_eq!(
            expect(&json!({"type": "object", "required": ["a", "b", "c"]})),
            "an object with `a`, `b` and `c`"
        );
        assert_eq!(
            expect(
                &json!({"type": "object", "properties": {"id": {"type": "integer", "minimum": 1}}})
            ),
            "an object `{\"id\": <positive integer>}`"
        );
        assert_eq!(
            expect(&json!({"type": "string", "minLength": 1, "maxLength": 64})),
            "a string of 1 to 64 characters"
        );
        assert!(found(&json!("x".repeat(200))).chars().count() < 100);
        assert_eq!(found(&Value::Null), "null");
    }

    /// The pieces `found` is built from give what `format!` with `escape_debug` gave.
    #[test]
    fn found_equals_the_formatted_text() {
        fn reference(value: &Value) -> String {
            match value {
                Value::Null => "null".to_owned(),
                Value::Bool(b) => format!("`{b}`"),
                Value::Number(n) => n.to_string(),
                Value::String(s) => {
                    if s.chars().count() > 80 {
                        let head: String = s.chars().take(80).collect();
                        format!("`{}…` (a string)", head.escape_debug())
                    } else {
                        format!("`{}` (a string)", s.escape_debug())
                    }
                }
                Value::Array(a) => format!("an array of {} item(s)", a.len()),
                Value::Object(_) => "an object".to_owned(),
            }
        }
        let long = "é".repeat(79) + "\u{301}x\"y";
        for value in [
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(-7),
            json!(1.5),
            json!(1e300),
            json!(""),
            json!("plain text@example.com"),
            json!("tab\tquote\"apostrophe'backslash\\"),
            json!("\u{301}starts with a combining mark"),
            json!("bidi \u{202e} and \u{7f} and \u{85}"),
            json!("x".repeat(80)),
            json!("x".repeat(81)),
            json!("é".repeat(200)),
            json!(long),
            json!([1, 2]),
            json!({"a": 1}),
        ] {
            assert_eq!(found(&value), reference(&value), "{value}");
        }
    }

    #[test]
    fn precomputed_texts_equal_the_derived_ones() {
        type Case = (
            &'static HashMap<&'static str, String>,
            fn(&Value) -> String,
            usize,
        );
        let cases: [Case; 2] = [(&PHRASES, expect, 10), (&MEMBERS, allowed_members, 3)];
        for (computed, derive, at_least) in cases {
            assert!(computed.len() > at_least, "{}", computed.len());
            for (pointer, text) in computed {
                let node = SCHEMA.pointer(pointer).expect("a schema node");
                assert_eq!(text, &derive(node), "{pointer}");
            }
        }
        assert_eq!(expect_at("/no/such/node"), expect(&SCHEMA));
        assert_eq!(expect_at("/$defs/ValidityYears"), "one of: 1, 2");
        assert_eq!(
            allowed_members_at("/no/such/node"),
            allowed_members(&SCHEMA)
        );
        assert!(allowed_members_at("").contains("`certificate`, "));
        assert_eq!(allowed_members(&json!({"type": "string"})), "");
    }
}
