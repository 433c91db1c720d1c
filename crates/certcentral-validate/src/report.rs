//! Engine errors mapped to [`Violation`]s: DigiCert's codes, JSON Pointer paths (for a missing
//! member, the member's own path) and messages that say what is allowed and what was found,
//! derived from the schema node the error comes from.

use jsonschema::ValidationError;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::describe::{allowed_members_at, expect, expect_at, found};
use crate::engine::{SCHEMA, resolve, schema_node, unpack_custom};
use crate::{Violation, codes};

/// Whether a violation comes from a standard keyword or from one of the schema's custom
/// keywords (which validators in other languages ignore).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Standard,
    Custom,
}

/// Every violation of `doc`, in the engine's order. At one path, a standard keyword's error
/// is reported once per subschema, and a custom keyword's error only when no standard keyword
/// failed there (so a wrong type is not also reported as, say, a float).
pub(crate) fn violations<'a>(
    doc: &Value,
    root: &str,
    errors: impl Iterator<Item = ValidationError<'a>>,
) -> Vec<(Origin, Violation)> {
    let mut out: Vec<(Origin, Violation, String)> = Vec::new();
    for error in errors {
        let location = keyword_location(&error);
        for (origin, violation) in map(doc, root, &error, &location) {
            let parent = location.rsplit_once('/').map_or("", |(p, _)| p).to_owned();
            let repeated = out.iter().any(|(o, v, p)| {
                v.path == violation.path
                    && match origin {
                        Origin::Standard => *o == Origin::Standard && *p == parent,
                        Origin::Custom => *o == Origin::Standard,
                    }
            });
            if !repeated {
                out.push((origin, violation, parent));
            }
        }
    }
    // A custom keyword's error before a standard one at the same path: keep the standard one.
    let standard_paths: Vec<String> = out
        .iter()
        .filter(|(o, _, _)| *o == Origin::Standard)
        .map(|(_, v, _)| v.path.clone())
        .collect();
    out.into_iter()
        .filter(|(o, v, _)| *o == Origin::Standard || !standard_paths.contains(&v.path))
        .map(|(o, v, _)| (o, v))
        .collect()
}

/// The JSON Pointer, in the schema document, of the keyword that failed.
fn keyword_location(error: &ValidationError<'_>) -> String {
    if let Some(uri) = error.absolute_keyword_location()
        && let Some(fragment) = uri.fragment()
    {
        return percent_decode(fragment.as_str());
    }
    error.schema_path().as_str().to_owned()
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The schema node at `pointer` (a keyword's parent), or the root.
fn node(pointer: &str) -> &'static Value {
    schema_node(pointer).unwrap_or(&SCHEMA)
}

fn violation(path: String, code: &str, message: String) -> Violation {
    Violation {
        path,
        code: code.to_owned(),
        message,
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The schema of member `name` of the object at `instance_path`, found by walking the body's
/// schema from its root (`root`, a JSON Pointer into the schema file): a rule set names a
/// member without restating its schema.
fn member_schema(root: &str, instance_path: &str, name: &str) -> Option<&'static Value> {
    let mut at = resolve(node(root));
    for segment in instance_path.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        at = match at.get("properties").and_then(|p| p.get(&segment)) {
            Some(member) => resolve(member),
            None => resolve(at.get("items")?),
        };
    }
    at.get("properties")?.get(name)
}

/// Why a rule applies, for people: the `description` of the `then` it sits in, or of the
/// rule set (`"x-rules": true`) it belongs to.
fn reason(location: &str) -> Option<&'static str> {
    if let Some((base, _)) = location.rsplit_once("/then/") {
        return node(&format!("{base}/then"))
            .get("description")
            .and_then(Value::as_str);
    }
    let name = location.strip_prefix("/$defs/")?.split('/').next()?;
    let def = schema_node(&format!("/$defs/{name}"))?;
    if def.get("x-rules") != Some(&Value::Bool(true)) {
        return None;
    }
    def.get("description")
        .and_then(Value::as_str)
        .map(|d| d.trim_end_matches('.'))
}

fn map(
    doc: &Value,
    root: &str,
    error: &ValidationError<'_>,
    location: &str,
) -> Vec<(Origin, Violation)> {
    let path = error.instance_path().as_str().to_owned();
    let parent_pointer = location.rsplit_once('/').map_or("", |(p, _)| p);
    let parent = node(parent_pointer);
    let instance = error.instance();
    let standard = |code: &str, message: String| {
        vec![(Origin::Standard, violation(path.clone(), code, message))]
    };
    match error.kind() {
        ValidationErrorKind::Custom { message, .. } => match unpack_custom(message) {
            Some((suffix, code, text)) => vec![(
                Origin::Custom,
                violation(format!("{path}{suffix}"), code, text.to_owned()),
            )],
            None => vec![(
                Origin::Custom,
                violation(path, codes::INVALID_VALUE, message.clone()),
            )],
        },
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let member = parent
                .get("properties")
                .and_then(|p| p.get(name))
                .filter(|m| m.get("required").is_none() || m.get("type").is_some())
                .or_else(|| member_schema(root, &path, name))
                .map_or_else(|| "a value".to_owned(), expect);
            let why = reason(location).map_or_else(String::new, |r| format!(" ({r})"));
            vec![(
                Origin::Standard,
                violation(
                    format!("{path}/{}", escape(name)),
                    codes::REQUIRED_PARAM,
                    format!("missing required field: must be {member}{why}"),
                ),
            )]
        }
        ValidationErrorKind::Not { .. } => {
            let what = parent
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("this member is not allowed here");
            standard(
                codes::INVALID_VALUE,
                format!("{what}; found {}", found(instance)),
            )
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let allowed = allowed_members_at(parent_pointer);
            let mut unexpected = unexpected.clone();
            unexpected.sort_unstable();
            unexpected
                .into_iter()
                .map(|key| {
                    (
                        Origin::Standard,
                        violation(
                            format!("{path}/{}", escape(&key)),
                            codes::UNKNOWN_PARAM,
                            format!(
                                "unknown field `{}`; allowed fields: {allowed}",
                                key.escape_debug()
                            ),
                        ),
                    )
                })
                .collect()
        }
        ValidationErrorKind::AnyOf { .. } if required_alternatives(parent).is_some() => {
            let groups = required_alternatives(parent).unwrap_or_default();
            let describe = |name: &String| {
                let member = parent
                    .get("properties")
                    .and_then(|p| p.get(name.as_str()))
                    .map_or_else(|| "a value".to_owned(), expect);
                if member == "a value" {
                    format!("`{name}`")
                } else {
                    format!("`{name}` ({member})")
                }
            };
            let give = groups
                .iter()
                .map(|group| group.iter().map(describe).collect::<Vec<_>>().join(" and "))
                .collect::<Vec<_>>();
            let give = match give.split_last() {
                Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
                _ => give.join(""),
            };
            // The path names the first member that is missing (of the first group).
            let first = groups
                .iter()
                .flatten()
                .find(|name| instance.get(name.as_str()).is_none())
                .or_else(|| groups.first().and_then(|g| g.first()))
                .map(String::as_str)
                .unwrap_or_default();
            let reason = parent
                .get("description")
                .and_then(Value::as_str)
                .filter(|_| groups.iter().any(|g| g.len() > 1))
                .map_or_else(String::new, |d| format!(" ({d})"));
            vec![(
                Origin::Standard,
                violation(
                    format!("{path}/{}", escape(first)),
                    codes::REQUIRED_PARAM,
                    format!("missing required field: give {give}{reason}"),
                ),
            )]
        }
        kind => {
            let found = match kind {
                ValidationErrorKind::MinLength { .. } | ValidationErrorKind::MaxLength { .. } => {
                    let chars = instance.as_str().map_or(0, |s| s.chars().count());
                    format!("{chars} characters")
                }
                ValidationErrorKind::MinItems { .. } | ValidationErrorKind::MaxItems { .. } => {
                    format!("{} item(s)", instance.as_array().map_or(0, Vec::len))
                }
                _ => found(instance),
            };
            if let Some((base, _)) = rsplit_segment(location, "then") {
                return standard(
                    codes::INVALID_VALUE,
                    conditional(doc, &path, base, parent, &found),
                );
            }
            let allowed = expect_at(parent_pointer);
            let note = member_note(error).map_or_else(String::new, |note| format!(" ({note})"));
            let subject = if path.is_empty() {
                "the order body must be"
            } else {
                "must be"
            };
            standard(
                codes::INVALID_VALUE,
                format!("{subject} {allowed}{note}; found {found}"),
            )
        }
    }
}

/// The `x-message-note` of the member whose value broke a rule: the annotation a schema
/// author adds for people (`"required unless `custom_expiration_date` is given"`), found on
/// the last `properties/NAME` step of the error's evaluation path, before any `$ref`.
fn member_note(error: &ValidationError<'_>) -> Option<&'static str> {
    let evaluation = error.evaluation_path().as_str();
    let (before, after) = rsplit_segment(evaluation, "properties")?;
    let name = after.split('/').next()?;
    if before.contains("$ref") {
        return None;
    }
    node(&format!("{before}/properties/{name}"))
        .get("x-message-note")?
        .as_str()
}

/// `path.rsplit_once("/SEGMENT/")`: split around the last whole segment `segment` of a
/// JSON Pointer, found by looking at each `/` from the end (cheaper, per error, than a
/// substring search).
fn rsplit_segment<'a>(path: &'a str, segment: &str) -> Option<(&'a str, &'a str)> {
    let bytes = path.as_bytes();
    let mut end = path.len();
    while let Some(slash) = path[..end].rfind('/') {
        let start = slash + 1;
        let stop = start + segment.len();
        if bytes.get(start..stop) == Some(segment.as_bytes()) && bytes.get(stop) == Some(&b'/') {
            return Some((&path[..slash], &path[stop + 1..]));
        }
        end = slash;
    }
    None
}

/// The member groups of an `anyOf` whose branches each only require members (one or more
/// each): `[[validity_years], [custom_expiration_date]]`, `[[first_name, last_name], [pseudonym]]`.
fn required_alternatives(schema: &Value) -> Option<Vec<Vec<String>>> {
    schema
        .get("anyOf")?
        .as_array()?
        .iter()
        .map(|branch| {
            let object = branch.as_object()?;
            let required = object.get("required")?.as_array()?;
            if object.len() != 1 || required.is_empty() {
                return None;
            }
            required
                .iter()
                .map(|name| name.as_str().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// The message of a `then` branch's failure: what is allowed, under which condition (the
/// `if`'s members, with the values found), and why (the `then`'s `description`).
fn conditional(doc: &Value, path: &str, base: &str, parent: &Value, found: &str) -> String {
    let condition_schema = node(&format!("{base}/if"));
    let reason = node(&format!("{base}/then"))
        .get("description")
        .and_then(Value::as_str);
    // The object the condition is about: the instance's parent.
    let object_path = path.rsplit_once('/').map_or("", |(p, _)| p);
    let object = doc.pointer(object_path);
    let members: Vec<String> = condition_schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.keys()
                .map(|k| {
                    let value = object.and_then(|o| o.get(k)).map_or_else(
                        || "absent".to_owned(),
                        |v| match v {
                            Value::String(s) => format!("`{}`", s.escape_debug()),
                            other => other.to_string(),
                        },
                    );
                    format!("`{k}` is {value}")
                })
                .collect()
        })
        .unwrap_or_default();
    let mut message = format!("must be {}", expect(resolve(parent)));
    if !members.is_empty() {
        message.push_str(" when ");
        message.push_str(&members.join(" and "));
    }
    if let Some(reason) = reason {
        message.push_str(" (");
        message.push_str(reason);
        message.push(')');
    }
    message.push_str("; found ");
    message.push_str(found);
    message
}

#[cfg(test)]
mod tests {
    use super::rsplit_segment;

    #[test]
    fn segments_split_like_substrings() {
        for (path, segment) in [
            ("/then/properties/auto_renew/const", "then"),
            ("/a/then/b/then/c", "then"),
            ("/thenx/then", "then"),
            ("/x/properties/properties/y", "properties"),
            ("/properties/é/properties/ü/type", "properties"),
            ("", "then"),
            ("/then/", "then"),
        ] {
            assert_eq!(
                rsplit_segment(path, segment),
                path.rsplit_once(&format!("/{segment}/")),
                "{path}"
            );
        }
    }
}
