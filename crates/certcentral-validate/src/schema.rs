//! Structural rules: exactly the constraints of `schema/order-request.schema.json`.
//!
//! The schema is mirrored as a small static table ([`ORDER`]) walked over a
//! `serde_json::Value`, so that every violation is reported with its JSON Pointer. The
//! `schema_agreement` property test checks that this walk and the `jsonschema` crate give
//! the same verdict on the schema file itself.
//!
//! One rule here is *not* in the schema and is tagged [`Rule::Extra`]: an integer field
//! written as a float (`1.0`, `1e2`) satisfies JSON Schema's `"type": "integer"` but does not
//! fit the typed order (`i64`/`u64`), so it is rejected.

use serde_json::Value;

use crate::codes;
use crate::email::is_valid_email;
use crate::pointer::Ptr;
use crate::{Findings, Rule, Violation};

/// What a value must be.
pub(crate) enum Kind {
    /// An object with the given members.
    Object(&'static ObjectSpec),
    /// An integer in `min..=max`.
    Int { min: i64, max: Option<i64> },
    /// An integer among the listed values.
    IntEnum(&'static [i64]),
    /// `true` or `false`.
    Bool,
    /// A string of `min..=max` characters (Unicode scalar values).
    Str { min: usize, max: Option<usize> },
    /// A string among the listed values.
    StrEnum(&'static [&'static str]),
    /// A `yyyy-MM-dd` calendar date (`format: date`).
    Date,
    /// An email address (`format: email`, see [`is_valid_email`]).
    Email,
    /// An array of items, with at least `min_items` of them.
    Array {
        items: &'static Field,
        min_items: usize,
    },
}

/// One member of an object (or the item type of an array).
pub(crate) struct Field {
    /// Member name (empty for array items).
    pub name: &'static str,
    /// What the value must be.
    pub kind: Kind,
    /// What is allowed, for messages: completes "must be …".
    pub expect: &'static str,
}

/// An object with `additionalProperties: false`.
pub(crate) struct ObjectSpec {
    /// The known members, in the order they are checked and reported.
    pub fields: &'static [Field],
    /// The required members.
    pub required: &'static [&'static str],
    /// The known members, for messages (checked against `fields` by a unit test).
    pub allowed: &'static str,
}

const fn field(name: &'static str, kind: Kind, expect: &'static str) -> Field {
    Field { name, kind, expect }
}

static EMAIL_ITEM: Field = field(
    "",
    Kind::Email,
    "an email address like `name@example.com` (dot-atom local part, host name domain with at least two labels)",
);
static OU_ITEM: Field = field(
    "",
    Kind::Str {
        min: 1,
        max: Some(64),
    },
    "a string of 1 to 64 characters",
);
static CUSTOM_FIELD_ITEM: Field = field(
    "",
    Kind::Object(&CUSTOM_FIELD),
    "an object `{\"metadata_id\": <positive integer>, \"value\": <string>}`",
);

static CERTIFICATE: ObjectSpec = ObjectSpec {
    fields: &[
        field(
            "common_name",
            Kind::Str {
                min: 1,
                max: Some(64),
            },
            "a string of 1 to 64 characters (the person's name)",
        ),
        field(
            "emails",
            Kind::Array {
                items: &EMAIL_ITEM,
                min_items: 1,
            },
            "a non-empty array of email addresses",
        ),
        field(
            "signature_hash",
            Kind::StrEnum(&["sha256"]),
            "one of: `sha256`",
        ),
        field(
            "organization_units",
            Kind::Array {
                items: &OU_ITEM,
                min_items: 0,
            },
            "an array of strings of 1 to 64 characters",
        ),
        field(
            "csr",
            Kind::Str { min: 0, max: None },
            "a string holding a PEM certificate signing request",
        ),
    ],
    required: &["common_name", "emails", "signature_hash"],
    allowed: "`common_name`, `emails`, `signature_hash`, `organization_units`, `csr`",
};

static ORGANIZATION: ObjectSpec = ObjectSpec {
    fields: &[field(
        "id",
        Kind::Int { min: 1, max: None },
        "a positive integer (the organization id)",
    )],
    required: &["id"],
    allowed: "`id`",
};

static CONTAINER: ObjectSpec = ObjectSpec {
    fields: &[field(
        "id",
        Kind::Int { min: 1, max: None },
        "a positive integer (the container id)",
    )],
    required: &[],
    allowed: "`id`",
};

static CUSTOM_FIELD: ObjectSpec = ObjectSpec {
    fields: &[
        field(
            "metadata_id",
            Kind::Int { min: 1, max: None },
            "a positive integer (the custom field id)",
        ),
        field("value", Kind::Str { min: 0, max: None }, "a string"),
    ],
    required: &["metadata_id", "value"],
    allowed: "`metadata_id`, `value`",
};

/// The order body (`OrderRequest`).
pub(crate) static ORDER: ObjectSpec = ObjectSpec {
    fields: &[
        field(
            "certificate",
            Kind::Object(&CERTIFICATE),
            "an object with `common_name`, `emails` and `signature_hash`",
        ),
        field(
            "organization",
            Kind::Object(&ORGANIZATION),
            "an object `{\"id\": <positive integer>}`",
        ),
        field(
            "container",
            Kind::Object(&CONTAINER),
            "an object `{\"id\": <positive integer>}`",
        ),
        field(
            "validity_years",
            Kind::IntEnum(&[1, 2]),
            "one of: 1, 2 (required unless `custom_expiration_date` is given)",
        ),
        field(
            "custom_expiration_date",
            Kind::Date,
            "a calendar date `yyyy-MM-dd`",
        ),
        field(
            "auto_renew",
            Kind::Int {
                min: 0,
                max: Some(99),
            },
            "an integer from 0 to 99",
        ),
        field(
            "renewal_of_order_id",
            Kind::Int { min: 1, max: None },
            "a positive integer (the previous order's id)",
        ),
        field("skip_approval", Kind::Bool, "`true` or `false`"),
        field(
            "payment_method",
            Kind::StrEnum(&["balance", "card", "profile"]),
            "one of: `balance`, `card`, `profile`",
        ),
        field(
            "custom_fields",
            Kind::Array {
                items: &CUSTOM_FIELD_ITEM,
                min_items: 0,
            },
            "an array of `{\"metadata_id\", \"value\"}` objects",
        ),
    ],
    required: &["certificate", "organization"],
    allowed: "`certificate`, `organization`, `container`, `validity_years`, `custom_expiration_date`, `auto_renew`, `renewal_of_order_id`, `skip_approval`, `payment_method`, `custom_fields`",
};

/// Checks `doc` against the order schema, pushing every violation into `findings`.
pub(crate) fn check_order(doc: &Value, findings: &mut Findings) {
    let root = Ptr::ROOT;
    let Some(object) = doc.as_object() else {
        findings.error(
            Rule::Schema,
            &root,
            codes::INVALID_VALUE,
            format!(
                "the order body must be a JSON object; found {}",
                describe(doc)
            ),
        );
        return;
    };
    check_object(object, &ORDER, &root, findings);
    // `anyOf: [{required: [validity_years]}, {required: [custom_expiration_date]}]`
    if !object.contains_key("validity_years") && !object.contains_key("custom_expiration_date") {
        findings.error(
            Rule::Schema,
            &root.key("validity_years"),
            codes::REQUIRED_PARAM,
            "missing required field: give `validity_years` (1 or 2) or `custom_expiration_date` (`yyyy-MM-dd`)"
                .to_owned(),
        );
    }
}

fn check_object(
    object: &serde_json::Map<String, Value>,
    spec: &ObjectSpec,
    path: &Ptr<'_>,
    findings: &mut Findings,
) {
    for field in spec.fields {
        match object.get(field.name) {
            Some(value) => check_value(value, field, &path.key(field.name), findings),
            None if spec.required.contains(&field.name) => findings.error(
                Rule::Schema,
                &path.key(field.name),
                codes::REQUIRED_PARAM,
                format!("missing required field: must be {}", field.expect),
            ),
            None => {}
        }
    }
    if object.len()
        > spec
            .fields
            .iter()
            .filter(|f| object.contains_key(f.name))
            .count()
    {
        let mut unknown: Vec<&str> = object
            .keys()
            .map(String::as_str)
            .filter(|key| !spec.fields.iter().any(|f| f.name == *key))
            .collect();
        unknown.sort_unstable();
        for key in unknown {
            findings.error(
                Rule::Schema,
                &path.key(key),
                codes::UNKNOWN_PARAM,
                format!(
                    "unknown field `{}`; allowed fields: {}",
                    key.escape_debug(),
                    spec.allowed
                ),
            );
        }
    }
}

/// An integer as JSON Schema sees it: exact, or a float with no fractional part.
enum Int {
    Exact(i128),
    WholeFloat(f64),
}

impl Int {
    fn of(value: &Value) -> Option<Int> {
        let Value::Number(n) = value else {
            return None;
        };
        if let Some(i) = n.as_i64() {
            Some(Int::Exact(i.into()))
        } else if let Some(u) = n.as_u64() {
            Some(Int::Exact(u.into()))
        } else {
            n.as_f64().filter(|f| f.fract() == 0.0).map(Int::WholeFloat)
        }
    }

    fn at_least(&self, min: i64) -> bool {
        match *self {
            Int::Exact(i) => i >= i128::from(min),
            Int::WholeFloat(f) => f >= min as f64,
        }
    }

    fn at_most(&self, max: i64) -> bool {
        match *self {
            Int::Exact(i) => i <= i128::from(max),
            Int::WholeFloat(f) => f <= max as f64,
        }
    }
}

fn check_value(value: &Value, field: &Field, path: &Ptr<'_>, findings: &mut Findings) {
    let must_be = |found: String| format!("must be {}; found {found}", field.expect);
    // The value is not one this field allows: one error saying what is expected and found.
    let invalid_value = |findings: &mut Findings| {
        findings.error(
            Rule::Schema,
            path,
            codes::INVALID_VALUE,
            must_be(describe(value)),
        )
    };
    match &field.kind {
        Kind::Object(spec) => match value.as_object() {
            Some(object) => check_object(object, spec, path, findings),
            None => invalid_value(findings),
        },
        Kind::Int { min, max } => match Int::of(value) {
            Some(int) if int.at_least(*min) && max.is_none_or(|max| int.at_most(max)) => {
                whole_float_extra(value, &int, field, path, findings);
            }
            _ => invalid_value(findings),
        },
        Kind::IntEnum(allowed) => match Int::of(value) {
            Some(int) if allowed.iter().any(|a| int.at_least(*a) && int.at_most(*a)) => {
                whole_float_extra(value, &int, field, path, findings);
            }
            _ => invalid_value(findings),
        },
        Kind::Bool => {
            if !value.is_boolean() {
                invalid_value(findings);
            }
        }
        Kind::Str { min, max } => match value.as_str() {
            Some(s) => {
                if *min > 0 || max.is_some() {
                    let chars = s.chars().count();
                    if chars < *min || max.is_some_and(|max| chars > max) {
                        findings.error(
                            Rule::Schema,
                            path,
                            codes::INVALID_VALUE,
                            must_be(format!("{chars} characters")),
                        );
                    }
                }
            }
            None => invalid_value(findings),
        },
        Kind::StrEnum(allowed) => {
            if !value.as_str().is_some_and(|s| allowed.contains(&s)) {
                invalid_value(findings);
            }
        }
        Kind::Date => match value.as_str() {
            Some(s) if parse_date(s).is_some() => {}
            _ => invalid_value(findings),
        },
        Kind::Email => match value.as_str() {
            Some(s) if is_valid_email(s) => {}
            _ => invalid_value(findings),
        },
        Kind::Array { items, min_items } => match value.as_array() {
            Some(array) => {
                if array.len() < *min_items {
                    findings.error(
                        Rule::Schema,
                        path,
                        codes::INVALID_VALUE,
                        must_be(format!("{} item(s)", array.len())),
                    );
                }
                for (i, item) in array.iter().enumerate() {
                    check_value(item, items, &path.index(i), findings);
                }
            }
            None => invalid_value(findings),
        },
    }
}

/// The extra (non-schema) rule: integers must be written as integers that fit 64 bits.
fn whole_float_extra(
    value: &Value,
    int: &Int,
    field: &Field,
    path: &Ptr<'_>,
    findings: &mut Findings,
) {
    if let Int::WholeFloat(_) = int {
        findings.error(
            Rule::Extra,
            path,
            codes::INVALID_VALUE,
            format!(
                "must be written as a plain integer that fits in 64 bits, without fraction or exponent (e.g. 1, not 1.0); found {value} (allowed: {})",
                field.expect
            ),
        );
    }
}

/// Parses a `format: date` value (RFC 3339 `full-date`: exactly `DDDD-DD-DD`, a real date).
pub(crate) fn parse_date(s: &str) -> Option<chrono::NaiveDate> {
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
    chrono::NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)
}

/// How a value looks, for "found …" in messages (long strings are shortened).
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            const MAX: usize = 80;
            if s.chars().count() > MAX {
                let head: String = s.chars().take(MAX).collect();
                format!("`{}…` (a string)", head.escape_debug())
            } else {
                format!("`{}` (a string)", s.escape_debug())
            }
        }
        Value::Array(a) => format!("an array of {} item(s)", a.len()),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// The schema violations of `doc` alone (no `Extra` rules), for tests and callers that want
/// the pure JSON Schema verdict.
pub(crate) fn schema_only(doc: &Value) -> Vec<Violation> {
    let mut findings = Findings::default();
    check_order(doc, &mut findings);
    findings
        .errors
        .into_iter()
        .filter(|(rule, _)| *rule == Rule::Schema)
        .map(|(_, v)| v)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_real_calendar_dates() {
        assert!(parse_date("2024-02-29").is_some());
        assert!(parse_date("2000-02-29").is_some());
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2024-04-31",
            "2024-13-01",
            "2024-00-10",
            "2024-01-00",
            "2024-1-01",
            "24-01-01",
            "+2024-01-01",
            "2024/01/01",
            "2024-01-01T00:00:00Z",
            "２０２４-01-01",
            "",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn allowed_lists_match_the_fields() {
        for spec in [
            &ORDER,
            &CERTIFICATE,
            &ORGANIZATION,
            &CONTAINER,
            &CUSTOM_FIELD,
        ] {
            let listed = spec
                .fields
                .iter()
                .map(|f| format!("`{}`", f.name))
                .collect::<Vec<_>>()
                .join(", ");
            assert_eq!(spec.allowed, listed);
        }
    }

    #[test]
    fn describe_shortens_long_strings() {
        let long = Value::String("x".repeat(200));
        assert!(describe(&long).len() < 100);
        assert_eq!(describe(&Value::Null), "null");
    }
}
