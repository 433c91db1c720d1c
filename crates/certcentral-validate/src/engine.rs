//! The JSON Schema engine (the `jsonschema` crate, no HTTP or file resolving) compiled from the
//! embedded `schema/order-request.schema.json`, with the schema's custom keywords registered.
//!
//! Each custom keyword is implemented once, here (and in [`crate::csr`]); its meaning is
//! documented in `schema/README.md` for readers whose validators ignore it:
//!
//! - `x-plain-integer: true` — a number must be written as a JSON integer literal that fits
//!   in 64 bits (`1`, not `1.0` or `1e0`);
//! - `x-max-days-ahead: N` — a `format: date` string from today (UTC, the [`Context`]'s
//!   `today`) to N days after it;
//! - `x-unique-ignoring-case: true` — no two strings of an array equal ignoring ASCII and
//!   Unicode case;
//! - `x-csr: {rsa_bits, ec_curves}` — a PEM PKCS#10 request whose self-signature verifies,
//!   with one of the listed keys (feature `csr`; without it the keyword is not registered and
//!   a warning says the CSR was not checked).
//!
//! A custom keyword's error message carries its code and an optional path below the instance
//! (see [`custom_error`]); [`crate::report`] unpacks it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use certcentral_types::ProductId;
use chrono::NaiveDate;
use jsonschema::{Keyword, ValidationError, Validator, paths::Location};
use serde_json::{Map, Value, json};

use crate::codes;
use crate::describe::{expect, found};

/// The order request schema, as embedded by `certcentral-types`.
pub(crate) static SCHEMA: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(certcentral_types::schema::ORDER_REQUEST)
        .unwrap_or_else(|err| panic!("the embedded order schema is not JSON: {err}"))
});

/// A fast hasher for the tables keyed by the schema's own JSON Pointers (FxHash: one multiply
/// per 8 bytes). Their keys come from the embedded schema, never from an order, so a hasher
/// without flooding resistance is safe here; SipHash cost more than the rest of a lookup.
#[derive(Clone, Copy, Default)]
pub(crate) struct FastHash;

/// The state of [`FastHash`].
pub(crate) struct FastHasher(u64);

impl std::hash::BuildHasher for FastHash {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

impl FastHasher {
    fn add(&mut self, word: u64) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by the schema's JSON Pointers, with [`FastHash`].
pub(crate) type PointerMap<K, V> = HashMap<K, V, FastHash>;

/// Every node of [`SCHEMA`] by its JSON Pointer, indexed once: error mapping looks schema nodes
/// up per error, and `Value::pointer` would unescape and search every segment each time.
static NODES: LazyLock<PointerMap<String, &'static Value>> = LazyLock::new(|| {
    fn walk(
        pointer: &mut String,
        node: &'static Value,
        out: &mut PointerMap<String, &'static Value>,
    ) {
        out.insert(pointer.clone(), node);
        let len = pointer.len();
        let mut descend = |segment: &str, child: &'static Value| {
            pointer.push('/');
            pointer.push_str(segment);
            walk(pointer, child, out);
            pointer.truncate(len);
        };
        match node {
            Value::Object(members) => {
                for (key, child) in members {
                    descend(&key.replace('~', "~0").replace('/', "~1"), child);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    descend(&i.to_string(), child);
                }
            }
            _ => {}
        }
    }
    let mut out = PointerMap::default();
    walk(&mut String::new(), &SCHEMA, &mut out);
    out
});

/// The node of [`SCHEMA`] at the JSON Pointer `pointer`, if any.
pub(crate) fn schema_node(pointer: &str) -> Option<&'static Value> {
    NODES.get(pointer).copied()
}

/// Every node of [`SCHEMA`] with its JSON Pointer.
pub(crate) fn schema_nodes() -> impl Iterator<Item = (&'static str, &'static Value)> {
    NODES
        .iter()
        .map(|(pointer, node)| (pointer.as_str(), *node))
}

/// Separates the parts of a custom keyword's error message.
const SEP: char = '\u{1f}';

/// A custom keyword's error: `code` at the instance's path plus `suffix` (a JSON Pointer
/// below it, or `""`), with `message`.
pub(crate) fn custom_error(suffix: &str, code: &str, message: &str) -> ValidationError<'static> {
    ValidationError::custom(format!("{suffix}{SEP}{code}{SEP}{message}"))
}

/// Unpacks [`custom_error`]'s message into `(suffix, code, message)`.
pub(crate) fn unpack_custom(message: &str) -> Option<(&str, &str, &str)> {
    let mut parts = message.splitn(3, SEP);
    Some((parts.next()?, parts.next()?, parts.next()?))
}

/// Follows a local `$ref` (`#/$defs/Name`) to its target in [`SCHEMA`].
pub(crate) fn resolve(schema: &Value) -> &Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(schema_node)
            .map_or(schema, resolve),
        None => schema,
    }
}

/// The document the engine compiles for `product`: the order schema file, whose root is the
/// product's body (the file's root, or its request profile's `root` entry of `$defs`),
/// joined (`allOf`) with the product's own rule set (its catalog `rules`, a `$defs` entry
/// marked `"x-rules": true`). Every keyword location of this document's errors points into
/// the schema file, so messages are derived from the file's nodes.
pub fn product_schema(product: ProductId) -> Value {
    let spec = product.spec();
    let mut refs = Vec::new();
    let mut doc = match spec.profile.root {
        None => SCHEMA.clone(),
        Some(root) => {
            let mut doc = Map::new();
            for key in ["$schema", "$id"] {
                if let Some(value) = SCHEMA.get(key) {
                    doc.insert(key.to_owned(), value.clone());
                }
            }
            if let Some(node) = schema_node(&format!("/$defs/{root}")) {
                for key in ["title", "description"] {
                    if let Some(value) = node.get(key) {
                        doc.insert(key.to_owned(), value.clone());
                    }
                }
            }
            doc.insert("$defs".to_owned(), SCHEMA["$defs"].clone());
            refs.push(json!({"$ref": format!("#/$defs/{root}")}));
            Value::Object(doc)
        }
    };
    if let Some(rules) = spec.rules {
        refs.push(json!({"$ref": format!("#/$defs/{rules}")}));
    }
    if let Some(obj) = doc.as_object_mut() {
        obj.insert(
            "$comment".to_owned(),
            Value::String(format!(
                "The body of `POST /order/certificate/{}` ({}): certcentral's schema for this product.",
                product.as_str(),
                spec.name
            )),
        );
        if !refs.is_empty() {
            obj.insert("allOf".to_owned(), Value::Array(refs));
        }
    }
    doc
}

/// What a product's schema says about one member of its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberRule {
    /// The body requires it (its schema, or the product's rule set).
    Required,
    /// The body takes it.
    Optional,
    /// The product's body has no such member, or its rule set forbids it: the reason.
    Forbidden(String),
}

/// What `product`'s schema ([`product_schema`]) says about the member at `pointer` (a JSON
/// Pointer into the body, e.g. `/certificate/common_name`), for front ends that turn flags
/// into bodies and want to name the product's rule.
pub fn member_rule(product: ProductId, pointer: &str) -> MemberRule {
    thread_local! {
        /// This thread's rules already asked for: a bulk roster's checking threads ask the
        /// same few for every row, without a lock between them or a key to allocate.
        static ASKED: std::cell::RefCell<Vec<(ProductId, String, MemberRule)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    ASKED.with(|asked| {
        let mut asked = asked.borrow_mut();
        if let Some((.., rule)) = asked
            .iter()
            .find(|(p, at, _)| *p == product && at == pointer)
        {
            return rule.clone();
        }
        let rule = shared_member_rule(product, pointer);
        asked.push((product, pointer.to_owned(), rule.clone()));
        rule
    })
}

/// [`member_rule`] through the process-wide cache.
fn shared_member_rule(product: ProductId, pointer: &str) -> MemberRule {
    /// Rules already derived (they depend only on the embedded schema).
    #[allow(clippy::type_complexity)]
    static RULES: LazyLock<Mutex<HashMap<(ProductId, String), MemberRule>>> =
        LazyLock::new(Mutex::default);
    let mut rules = RULES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(rule) = rules.get(&(product, pointer.to_owned())) {
        return rule.clone();
    }
    let rule = derive_member_rule(product, pointer);
    rules.insert((product, pointer.to_owned()), rule.clone());
    rule
}

/// [`member_rule`], derived from the schema.
fn derive_member_rule(product: ProductId, pointer: &str) -> MemberRule {
    let spec = product.spec();
    let root = spec
        .profile
        .root
        .map_or_else(String::new, |r| format!("/$defs/{r}"));
    let mut body = schema_node(&root).map(resolve);
    let name = body
        .and_then(|b| b.get("title"))
        .and_then(Value::as_str)
        .unwrap_or("order");
    let mut rules = spec.rules.and_then(|r| schema_node(&format!("/$defs/{r}")));
    let segments: Vec<&str> = pointer.split('/').skip(1).collect();
    let Some((last, parents)) = segments.split_last() else {
        return MemberRule::Optional;
    };
    for segment in parents {
        body = body
            .and_then(|b| b.get("properties"))
            .and_then(|p| p.get(*segment))
            .map(resolve);
        rules = rules
            .and_then(|r| r.get("properties"))
            .and_then(|p| p.get(*segment));
    }
    let listed = |node: Option<&Value>| {
        node.and_then(|n| n.get("required"))
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|v| v.as_str() == Some(last)))
    };
    if let Some(forbidden) = rules
        .and_then(|r| r.get("properties"))
        .and_then(|p| p.get(*last))
        .filter(|m| m.get("not").is_some())
    {
        let reason = forbidden
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("the product's rules forbid it");
        return MemberRule::Forbidden(reason.to_owned());
    }
    if body
        .and_then(|b| b.get("properties"))
        .and_then(|p| p.get(*last))
        .is_none()
    {
        return MemberRule::Forbidden(format!(
            "`{}` takes the `{name}` body, which has no `{}`",
            product.as_str(),
            segments.join(".")
        ));
    }
    if listed(body) || listed(rules) {
        MemberRule::Required
    } else {
        MemberRule::Optional
    }
}

/// One warning rule of a product's rule set (`x-warnings`): when the body matches `when`,
/// the warning `code` at `path` with `message`.
pub(crate) struct WarningRule {
    pub(crate) when: Validator,
    pub(crate) code: &'static str,
    pub(crate) path: &'static str,
    pub(crate) message: &'static str,
}

/// Everything compiled for one product and one `today`.
pub(crate) struct ProductValidator {
    /// The product's document ([`product_schema`]) with every custom keyword registered.
    pub(crate) validator: Validator,
    /// The product's warning rules.
    pub(crate) warnings: Vec<WarningRule>,
    /// The JSON Pointer, in the schema file, of the product's body schema.
    pub(crate) root: String,
    /// The warning that the product is deprecated, when it is (the same for every order).
    pub(crate) deprecated: Option<crate::Violation>,
}

/// Compiled validators, one per (`today`, product) seen recently (the date rule depends on
/// `today`).
#[allow(clippy::type_complexity)]
static CACHE: Mutex<Vec<(NaiveDate, ProductId, Arc<ProductValidator>)>> = Mutex::new(Vec::new());

/// The validator for `product`'s order body with `today` as the date rule's reference.
pub(crate) fn validator(today: NaiveDate, product: ProductId) -> Arc<ProductValidator> {
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, _, compiled)) = cache
        .iter()
        .find(|(day, p, _)| *day == today && *p == product)
    {
        return Arc::clone(compiled);
    }
    let compiled = Arc::new(ProductValidator {
        validator: build(&product_schema(product), today),
        warnings: warning_rules(product),
        root: product
            .spec()
            .profile
            .root
            .map_or_else(String::new, |root| format!("/$defs/{root}")),
        deprecated: crate::deprecation(product),
    });
    if cache.len() >= 32 {
        cache.remove(0);
    }
    cache.push((today, product, Arc::clone(&compiled)));
    compiled
}

/// Runs `f` with the validator for `product` and `today` ([`validator`]), from this
/// thread's copy of the last one used when it matches: a bulk run's checking threads
/// validate every row for one product and day, without taking the cache's lock or
/// touching a shared reference count per row.
pub(crate) fn with_validator<T>(
    today: NaiveDate,
    product: ProductId,
    f: impl FnOnce(&ProductValidator) -> T,
) -> T {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(NaiveDate, ProductId, Arc<ProductValidator>)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with(|last| {
        if let Ok(cached) = last.try_borrow()
            && let Some((day, p, compiled)) = cached.as_ref()
            && *day == today
            && *p == product
        {
            return f(compiled);
        }
        let compiled = validator(today, product);
        if let Ok(mut slot) = last.try_borrow_mut() {
            *slot = Some((today, product, Arc::clone(&compiled)));
        }
        f(&compiled)
    })
}

/// The `x-warnings` of `product`'s rule set, compiled (standard keywords only).
fn warning_rules(product: ProductId) -> Vec<WarningRule> {
    let Some(rules) = product
        .spec()
        .rules
        .and_then(|name| schema_node(&format!("/$defs/{name}")))
    else {
        return Vec::new();
    };
    let text = |rule: &'static Value, key: &str| -> &'static str {
        rule.get(key).and_then(Value::as_str).unwrap_or_default()
    };
    rules
        .get("x-warnings")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|rule| WarningRule {
                    when: jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft202012)
                        .build(rule.get("when").unwrap_or(&Value::Bool(false)))
                        .unwrap_or_else(|err| {
                            panic!("an `x-warnings` condition does not compile: {err}")
                        }),
                    code: text(rule, "code"),
                    path: text(rule, "path"),
                    message: text(rule, "message"),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Compiles `schema` (the order schema or one of its subschemas) with formats asserted and
/// every custom keyword registered.
pub(crate) fn build(schema: &Value, today: NaiveDate) -> Validator {
    let options = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .with_keyword("x-plain-integer", plain_integer)
        .with_keyword("x-unique-ignoring-case", unique_ignoring_case)
        .with_keyword(
            "x-max-days-ahead",
            move |parent: &Map<String, Value>, value: &Value, _: Location| {
                days_ahead(parent, value, today)
            },
        );
    #[cfg(feature = "csr")]
    let options = options.with_keyword("x-csr", crate::csr::keyword);
    options
        .build(schema)
        .unwrap_or_else(|err| panic!("the embedded order schema does not compile: {err}"))
}

type Compiled<'a> = Result<Box<dyn for<'i> Keyword<'i>>, ValidationError<'a>>;

/// `x-plain-integer`.
struct PlainInteger {
    message: String,
}

impl<'i> Keyword<'i> for PlainInteger {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        if self.is_valid(instance) {
            Ok(())
        } else {
            Err(custom_error(
                "",
                codes::INVALID_VALUE,
                &format!("{}; found {}", self.message, found(instance)),
            ))
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        !matches!(instance, Value::Number(n) if n.is_f64())
    }

    fn iter_errors(
        &self,
        instance: &'i Value,
    ) -> Box<dyn Iterator<Item = ValidationError<'i>> + 'i> {
        one_error(self.validate(instance))
    }
}

/// At most one error as the engine's iterator: a valid instance costs no allocation (the
/// trait's default boxes an `Option` iterator on every call).
pub(crate) fn one_error<'i>(
    result: Result<(), ValidationError<'i>>,
) -> Box<dyn Iterator<Item = ValidationError<'i>> + 'i> {
    match result {
        Ok(()) => Box::new(std::iter::empty()),
        Err(error) => Box::new(std::iter::once(error)),
    }
}

fn plain_integer<'a>(
    parent: &'a Map<String, Value>,
    value: &'a Value,
    _: Location,
) -> Compiled<'a> {
    if value != &Value::Bool(true) {
        return Err(ValidationError::schema("x-plain-integer must be `true`"));
    }
    let allowed = expect(&Value::Object(parent.clone()));
    Ok(Box::new(PlainInteger {
        message: format!(
            "must be {allowed}, written as a plain integer that fits in 64 bits, without fraction or exponent (e.g. 1, not 1.0)"
        ),
    }))
}

/// `x-unique-ignoring-case`.
struct UniqueIgnoringCase;

impl UniqueIgnoringCase {
    /// `(index, first index)` of every item equal (ignoring case) to an earlier one.
    fn repeats(items: &[Value]) -> Vec<(usize, usize)> {
        // A short list (the usual one or two emails) is compared pair by pair, without
        // lower-cased copies when both strings are ASCII; a long one through a hash map.
        if items.len() <= 16 {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Some(s) = item.as_str() else { continue };
                let first = items[..i]
                    .iter()
                    .position(|earlier| earlier.as_str().is_some_and(|e| same_ignoring_case(e, s)));
                if let Some(first) = first {
                    out.push((i, first));
                }
            }
            return out;
        }
        let mut first: HashMap<String, usize> = HashMap::with_capacity(items.len());
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(s) = item.as_str() else { continue };
            match first.entry(s.to_lowercase()) {
                std::collections::hash_map::Entry::Occupied(seen) => out.push((i, *seen.get())),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(i);
                }
            }
        }
        out
    }
}

/// Whether `a` and `b` are equal after `to_lowercase` (without the copies when both are ASCII,
/// where that is ASCII case folding; a non-ASCII character such as the Kelvin sign can
/// lower-case to an ASCII one, so any other pair is lower-cased).
fn same_ignoring_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
}

impl<'i> Keyword<'i> for UniqueIgnoringCase {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        self.iter_errors(instance).next().map_or(Ok(()), Err)
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        match instance.as_array() {
            Some(items) if items.len() > 1 => Self::repeats(items).is_empty(),
            _ => true,
        }
    }

    fn iter_errors(
        &self,
        instance: &'i Value,
    ) -> Box<dyn Iterator<Item = ValidationError<'i>> + 'i> {
        let Some(items) = instance.as_array().filter(|items| items.len() > 1) else {
            return Box::new(std::iter::empty());
        };
        let errors: Vec<ValidationError<'i>> = Self::repeats(items)
            .into_iter()
            .map(|(i, first)| {
                custom_error(
                    &format!("/{i}"),
                    codes::INVALID_VALUE,
                    &format!(
                        "{} duplicates {} (item {first}; compared ignoring case); list each once",
                        found(&items[i]).trim_end_matches(" (a string)"),
                        found(&items[first]).trim_end_matches(" (a string)"),
                    ),
                )
            })
            .collect();
        Box::new(errors.into_iter())
    }
}

fn unique_ignoring_case<'a>(
    _: &'a Map<String, Value>,
    value: &'a Value,
    _: Location,
) -> Compiled<'a> {
    if value != &Value::Bool(true) {
        return Err(ValidationError::schema(
            "x-unique-ignoring-case must be `true`",
        ));
    }
    Ok(Box::new(UniqueIgnoringCase))
}

/// `x-max-days-ahead`.
struct DaysAhead {
    today: NaiveDate,
    max: u64,
}

impl DaysAhead {
    fn last(&self) -> Option<NaiveDate> {
        self.today.checked_add_days(chrono::Days::new(self.max))
    }

    /// The date of `instance` when it is outside the window (`None` otherwise, or when it is
    /// not a date: `format: date` reports that).
    fn outside(&self, instance: &Value) -> Option<NaiveDate> {
        let date = parse_date(instance.as_str()?)?;
        (date < self.today || self.last().is_none_or(|last| date > last)).then_some(date)
    }

    fn problem(&self, instance: &Value) -> Option<String> {
        let date = self.outside(instance)?;
        let last = self
            .last()
            .map_or_else(|| "(out of calendar range)".to_owned(), |d| d.to_string());
        let window = format!(
            "must be from {} (today, UTC) to {last} ({} days after today)",
            self.today, self.max
        );
        if date < self.today {
            Some(format!("{date} is in the past; {window}"))
        } else {
            Some(format!("{date} is too far in the future; {window}"))
        }
    }
}

impl<'i> Keyword<'i> for DaysAhead {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        match self.problem(instance) {
            Some(message) => Err(custom_error("", codes::INVALID_VALUE, &message)),
            None => Ok(()),
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        self.outside(instance).is_none()
    }

    fn iter_errors(
        &self,
        instance: &'i Value,
    ) -> Box<dyn Iterator<Item = ValidationError<'i>> + 'i> {
        one_error(self.validate(instance))
    }
}

fn days_ahead<'a>(_: &'a Map<String, Value>, value: &'a Value, today: NaiveDate) -> Compiled<'a> {
    let Some(max) = value.as_u64() else {
        return Err(ValidationError::schema(
            "x-max-days-ahead must be a non-negative integer",
        ));
    };
    Ok(Box::new(DaysAhead { today, max }))
}

/// Parses a `format: date` value (RFC 3339 `full-date`: exactly `DDDD-DD-DD`, a real date);
/// other strings are left to `format: date`.
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(digits(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_real_calendar_dates() {
        assert!(parse_date("2024-02-29").is_some());
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "+2024-01-01",
            "2024-01-01T00:00:00Z",
            "２０２４-01-01",
            "",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn custom_messages_round_trip() {
        let err = custom_error("/1", "invalid_value", "m; with: colons");
        let jsonschema::error::ValidationErrorKind::Custom { message, .. } = err.kind() else {
            panic!("not custom");
        };
        assert_eq!(
            unpack_custom(message),
            Some(("/1", "invalid_value", "m; with: colons"))
        );
    }

    #[test]
    fn the_node_index_agrees_with_json_pointers() {
        let mut count = 0;
        for (pointer, node) in schema_nodes() {
            assert!(
                std::ptr::eq(SCHEMA.pointer(pointer).expect(pointer), node),
                "{pointer}"
            );
            count += 1;
        }
        assert!(count > 50, "{count}");
        assert!(schema_node("/$defs/NoSuchDef").is_none());
    }

    #[test]
    fn short_and_long_lists_find_the_same_repeats() {
        let words = [
            "a@x.io",
            "A@X.IO",
            "\u{212a}@x.io",
            "k@x.io",
            "b@x.io",
            "K@x.io",
            "ß@x.io",
        ];
        for len in [2, 5, 17, 40] {
            let items: Vec<Value> = (0..len)
                .map(|i| {
                    if i % 5 == 3 {
                        Value::from(i)
                    } else {
                        Value::from(words[i % words.len()])
                    }
                })
                .collect();
            let reference: Vec<(usize, usize)> = {
                let mut first = HashMap::new();
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let Some(s) = item.as_str() else { continue };
                    match first.get(&s.to_lowercase()) {
                        Some(&f) => out.push((i, f)),
                        None => {
                            first.insert(s.to_lowercase(), i);
                        }
                    }
                }
                out
            };
            assert_eq!(UniqueIgnoringCase::repeats(&items), reference, "{len}");
        }
        assert!(same_ignoring_case("\u{212a}@x.io", "k@x.io"));
        assert!(!same_ignoring_case("a@x.io", "b@x.io"));
    }

    #[test]
    fn references_resolve_in_the_schema() {
        let r = serde_json::json!({"$ref": "#/$defs/ValidityYears"});
        assert_eq!(resolve(&r)["enum"], serde_json::json!([1, 2]));
    }
}
