//! Engine errors mapped to [`Violation`]s: DigiCert's codes, JSON Pointer paths (for a missing
//! member, the member's own path) and messages that say what is allowed and what was found,
//! derived from the schema node the error comes from.
//!
//! What a message needs from the schema depends only on the keyword's location in the schema
//! file, so it is looked up once per location ([`SITES`], computed with the phrases of
//! [`crate::describe`]); per error, the mapping only reads the instance and appends the pieces
//! into one `String`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::LazyLock;

use jsonschema::ValidationError;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::describe::{allowed_members_at, expect, expect_at, push_escaped, push_found};
use crate::engine::{PointerMap, SCHEMA, resolve, schema_node, schema_nodes, unpack_custom};
use crate::{Violation, codes};

/// Whether a violation comes from a standard keyword or from one of the schema's custom
/// keywords (which validators in other languages ignore).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Standard,
    Custom,
}

/// What error mapping knows about one keyword location (the JSON Pointer, in the schema file,
/// of the keyword that failed), before any error.
struct Site<'a> {
    /// The keyword's location.
    location: &'a str,
    /// The JSON Pointer of the schema object holding the keyword.
    parent_pointer: &'a str,
    /// That object (the root when there is none).
    parent: &'static Value,
    /// For a keyword inside a `then` branch: the pointer of the object holding the `if` and
    /// the `then` (the location before its last `/then/`).
    then_base: Option<&'a str>,
    /// What the parent allows, completing "must be …" ([`expect_at`]).
    allowed: Cow<'static, str>,
}

impl<'a> Site<'a> {
    fn of(location: &'a str) -> Self {
        let parent_pointer = location.rsplit_once('/').map_or("", |(p, _)| p);
        Site {
            location,
            parent_pointer,
            parent: node(parent_pointer),
            then_base: rsplit_segment(location, "then").map(|(base, _)| base),
            allowed: expect_at(parent_pointer),
        }
    }
}

/// The [`Site`] of every member of an object of the schema (every possible keyword location),
/// computed once.
static SITES: LazyLock<PointerMap<&'static str, Site<'static>>> = LazyLock::new(|| {
    schema_nodes()
        .filter(|(pointer, _)| {
            let parent = pointer.rsplit_once('/').map_or("", |(p, _)| p);
            !pointer.is_empty() && schema_node(parent).is_some_and(Value::is_object)
        })
        .map(|(pointer, _)| (pointer, Site::of(pointer)))
        .collect()
});

/// The schema nodes that carry an `x-message-note`, by pointer, with the note: a note applies
/// only to an error whose evaluation path passes through one of them.
static NOTED: LazyLock<Vec<(&'static str, Option<&'static str>)>> = LazyLock::new(|| {
    schema_nodes()
        .filter_map(|(pointer, node)| {
            let note = node.get("x-message-note")?;
            Some((pointer, note.as_str()))
        })
        .collect()
});

/// Every violation of `doc` whose origin `keep` accepts, in the engine's order, one per path
/// and code: a member that several rules miss is reported once, with every rule's reason
/// ([`Missing`]); at one path, a standard keyword's error is reported once per subschema, and
/// a custom keyword's error only when no standard keyword failed there (so a wrong type is
/// not also reported as, say, a float).
pub(crate) fn violations<'a>(
    doc: &Value,
    root: &str,
    errors: impl Iterator<Item = ValidationError<'a>>,
    keep: impl Fn(Origin) -> bool,
) -> Vec<Violation> {
    // Nothing is allocated for a valid order.
    let mut found = Found::default();
    let mut mapped = Vec::new();
    for error in errors {
        let location = keyword_location(&error);
        let fallback;
        let (site, parent) = match SITES.get(location.as_ref()) {
            Some(site) => (site, Cow::Borrowed(site.parent_pointer)),
            None => {
                fallback = Site::of(&location);
                (&fallback, Cow::Owned(fallback.parent_pointer.to_owned()))
            }
        };
        map(doc, root, &error, site, &mut mapped);
        for (origin, item) in mapped.drain(..) {
            found.add(origin, item, parent.clone());
        }
    }
    found.finish(keep)
}

/// A member missing at `path`: what it must be and why. Two rules can miss the same member
/// (a product's rule set needs the person's names, and so does `common_name_indicator`): it
/// is one violation, which names the member's own schema rather than a list of alternatives
/// when one of the rules requires it alone, and gives every rule's reason.
struct Missing {
    path: String,
    /// `must be …` (the member's schema) or `give … or …` (alternatives).
    what: String,
    /// Whether `what` lists alternatives (`anyOf`) instead of the member's schema.
    alternatives: bool,
    /// Why the member is needed (the descriptions of the rules), without repeats.
    reasons: Vec<&'static str>,
}

impl Missing {
    fn new(path: String, what: String, alternatives: bool, reason: Option<&'static str>) -> Self {
        Missing {
            path,
            what,
            alternatives,
            reasons: reason.into_iter().collect(),
        }
    }

    /// Takes in `other`, missing at the same path: its reason, and its `what` when it names
    /// the member where this one only lists alternatives (its reason then comes first).
    fn merge(&mut self, other: Missing) {
        if self.alternatives && !other.alternatives {
            self.what = other.what;
            self.alternatives = false;
            let earlier = std::mem::replace(&mut self.reasons, other.reasons);
            self.add_reasons(earlier);
        } else {
            self.add_reasons(other.reasons);
        }
    }

    fn add_reasons(&mut self, reasons: Vec<&'static str>) {
        for reason in reasons {
            if !self.reasons.contains(&reason) {
                self.reasons.push(reason);
            }
        }
    }

    /// `missing required field: WHAT (REASON; REASON)`.
    fn into_violation(self) -> Violation {
        let mut message = String::with_capacity(
            32 + self.what.len() + self.reasons.iter().map(|r| r.len() + 2).sum::<usize>(),
        );
        message.push_str("missing required field: ");
        message.push_str(&self.what);
        for (i, reason) in self.reasons.iter().enumerate() {
            message.push_str(if i == 0 { " (" } else { "; " });
            message.push_str(reason);
        }
        if !self.reasons.is_empty() {
            message.push(')');
        }
        violation(self.path, codes::REQUIRED_PARAM, message)
    }
}

/// The violations found so far, with the origin of each and the schema object of its keyword.
#[derive(Default)]
struct Found {
    items: Vec<(Origin, Item, Cow<'static, str>)>,
}

/// What one engine error stands for, before the report is assembled.
enum Item {
    /// A finished violation.
    Done(Violation),
    /// A missing member (standard keywords only), completed when every rule that misses it
    /// is known.
    Missing(Missing),
}

impl Item {
    fn path(&self) -> &str {
        match self {
            Item::Done(v) => &v.path,
            Item::Missing(m) => &m.path,
        }
    }
}

impl Found {
    /// Adds `item` (from a keyword of the schema object at `parent`), unless it repeats one:
    /// a standard keyword's error at the same path and object, a custom keyword's error where
    /// a standard one failed. A member already missed by another rule, or a value that breaks
    /// a rule of another object with the same code, joins the earlier violation.
    fn add(&mut self, origin: Origin, item: Item, parent: Cow<'static, str>) {
        let item = match item {
            Item::Missing(missing) => match self.missing_at(&missing.path) {
                Some(earlier) => return earlier.merge(missing),
                None => Item::Missing(missing),
            },
            done => done,
        };
        let mut repeated = false;
        for (o, earlier, p) in &mut self.items {
            if earlier.path() != item.path() {
                continue;
            }
            match (origin, *o, earlier, &item) {
                (Origin::Standard, Origin::Standard, _, _) if *p == parent => repeated = true,
                (Origin::Custom, Origin::Standard, _, _) => repeated = true,
                (Origin::Standard, Origin::Standard, Item::Done(e), Item::Done(v))
                    if e.code == v.code =>
                {
                    if !e.message.contains(&*v.message) {
                        let message = e.message.to_mut();
                        message.push_str("; also ");
                        message.push_str(&v.message);
                    }
                    repeated = true;
                }
                _ => {}
            }
            if repeated {
                return;
            }
        }
        if self.items.capacity() == 0 {
            self.items.reserve(8);
        }
        self.items.push((origin, item, parent));
    }

    /// The missing member at `path` found so far, if any.
    fn missing_at(&mut self, path: &str) -> Option<&mut Missing> {
        self.items.iter_mut().find_map(|(_, item, _)| match item {
            Item::Missing(m) if m.path == path => Some(m),
            _ => None,
        })
    }

    /// The violations whose origin `keep` accepts, in order; a custom keyword's error before a
    /// standard one at the same path is dropped (the standard one is kept).
    fn finish(self, keep: impl Fn(Origin) -> bool) -> Vec<Violation> {
        let wanted: Vec<bool> = self
            .items
            .iter()
            .map(|(o, v, _)| {
                keep(*o)
                    && (*o == Origin::Standard
                        || !self
                            .items
                            .iter()
                            .any(|(s, w, _)| *s == Origin::Standard && w.path() == v.path()))
            })
            .collect();
        self.items
            .into_iter()
            .zip(wanted)
            .filter_map(|((_, item, _), wanted)| {
                wanted.then(|| match item {
                    Item::Done(v) => v,
                    Item::Missing(m) => m.into_violation(),
                })
            })
            .collect()
    }
}

/// The JSON Pointer, in the schema document, of the keyword that failed (borrowed from the
/// error unless it is percent-encoded).
fn keyword_location<'e>(error: &'e ValidationError<'_>) -> Cow<'e, str> {
    if let Some(uri) = error.absolute_keyword_location()
        && let Some(fragment) = uri.fragment()
    {
        let fragment = fragment.as_str();
        return if fragment.contains('%') {
            Cow::Owned(percent_decode(fragment))
        } else {
            Cow::Borrowed(fragment)
        };
    }
    Cow::Borrowed(error.schema_path().as_str())
}

fn percent_decode(s: &str) -> String {
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

fn violation(path: String, code: impl Into<Cow<'static, str>>, message: String) -> Violation {
    Violation {
        path: path.into(),
        code: code.into(),
        message: message.into(),
    }
}

fn escape(key: &str) -> Cow<'_, str> {
    if key.contains(['~', '/']) {
        Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(key)
    }
}

/// `path/key`, the key escaped for a JSON Pointer.
fn member_path(path: &str, key: &str) -> String {
    let key = escape(key);
    let mut out = String::with_capacity(path.len() + 1 + key.len());
    out.push_str(path);
    out.push('/');
    out.push_str(&key);
    out
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

/// Maps one engine error, at `site`, to the violations it stands for (pushed onto `out`).
fn map(
    doc: &Value,
    root: &str,
    error: &ValidationError<'_>,
    site: &Site<'_>,
    out: &mut Vec<(Origin, Item)>,
) {
    let path = error.instance_path().as_str();
    let instance = error.instance();
    match error.kind() {
        ValidationErrorKind::Custom { message, .. } => out.push(custom(path, message)),
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            out.push((
                Origin::Standard,
                Item::Missing(required(root, path, name, site)),
            ));
        }
        ValidationErrorKind::Not { .. } => out.push(forbidden(path, site.parent, instance)),
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            unknown_members(path, site, unexpected, out);
        }
        ValidationErrorKind::AnyOf { .. } if required_alternatives(site.parent).is_some() => {
            let groups = required_alternatives(site.parent).unwrap_or_default();
            let missing = alternatives(path, site.parent, instance, &groups);
            out.push((Origin::Standard, Item::Missing(missing)));
        }
        kind => out.push((
            Origin::Standard,
            Item::Done(violation(
                path.to_owned(),
                codes::INVALID_VALUE,
                invalid(doc, error, site, kind),
            )),
        )),
    }
}

/// A custom keyword's error ([`crate::engine::custom_error`]): its code, at the instance's
/// path plus the keyword's suffix.
fn custom(path: &str, message: &str) -> (Origin, Item) {
    let violation = match unpack_custom(message) {
        Some((suffix, code, text)) => {
            let mut full = String::with_capacity(path.len() + suffix.len());
            full.push_str(path);
            full.push_str(suffix);
            violation(full, code.to_owned(), text.to_owned())
        }
        None => violation(path.to_owned(), codes::INVALID_VALUE, message.to_owned()),
    };
    (Origin::Custom, Item::Done(violation))
}

/// Member `name` of the object at `path`, which `required` at `site` needs: what it must be
/// (its schema, where the rule states it, else the body's), and why (the rule's reason).
fn required(root: &str, path: &str, name: &str, site: &Site<'_>) -> Missing {
    let member = site
        .parent
        .get("properties")
        .and_then(|p| p.get(name))
        .filter(|m| m.get("required").is_none() || m.get("type").is_some())
        .or_else(|| member_schema(root, path, name))
        .map_or_else(|| "a value".to_owned(), expect);
    Missing::new(
        member_path(path, name),
        format!("must be {member}"),
        false,
        reason(site.location),
    )
}

/// A member a `not` forbids: the forbidding node's `description`, and what was found.
fn forbidden(path: &str, parent: &Value, instance: &Value) -> (Origin, Item) {
    let what = parent
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("this member is not allowed here");
    let mut message = String::with_capacity(what.len() + 40);
    message.push_str(what);
    message.push_str("; found ");
    push_found(&mut message, instance);
    (
        Origin::Standard,
        Item::Done(violation(path.to_owned(), codes::INVALID_VALUE, message)),
    )
}

/// One `unknown_param` per unexpected member of the object at `path` (sorted), each listing
/// the members the schema object at `site` allows.
fn unknown_members(
    path: &str,
    site: &Site<'_>,
    unexpected: &[String],
    out: &mut Vec<(Origin, Item)>,
) {
    let allowed = allowed_members_at(site.parent_pointer);
    let mut unexpected: Vec<&String> = unexpected.iter().collect();
    unexpected.sort_unstable();
    for key in unexpected {
        let mut message = String::with_capacity(key.len() + allowed.len() + 40);
        message.push_str("unknown field `");
        push_escaped(&mut message, key);
        message.push_str("`; allowed fields: ");
        message.push_str(&allowed);
        out.push((
            Origin::Standard,
            Item::Done(violation(
                member_path(path, key),
                codes::UNKNOWN_PARAM,
                message,
            )),
        ));
    }
}

/// An `anyOf` of required member `groups` that `instance` (at `path`) meets none of: one
/// missing member (the first missing one of the first group), with every alternative.
fn alternatives(
    path: &str,
    parent: &'static Value,
    instance: &Value,
    groups: &[Vec<String>],
) -> Missing {
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
        .filter(|_| groups.iter().any(|g| g.len() > 1));
    Missing::new(
        member_path(path, first),
        format!("give {give}"),
        true,
        reason,
    )
}

/// The message of a value that breaks a keyword at `site`: what is allowed (under which
/// condition, for a keyword in a `then`), with the member's note, and what was found.
fn invalid(
    doc: &Value,
    error: &ValidationError<'_>,
    site: &Site<'_>,
    kind: &ValidationErrorKind,
) -> String {
    let path = error.instance_path().as_str();
    let instance = error.instance();
    if let Some(base) = site.then_base {
        let mut found = String::new();
        push_found_for(&mut found, kind, instance);
        return conditional(doc, path, base, site.parent, &found);
    }
    let note = member_note(error);
    let subject = if path.is_empty() {
        "the order body must be"
    } else {
        "must be"
    };
    let mut message = String::with_capacity(
        subject.len() + site.allowed.len() + note.map_or(0, |n| n.len() + 3) + 48,
    );
    message.push_str(subject);
    message.push(' ');
    message.push_str(&site.allowed);
    if let Some(note) = note {
        message.push_str(" (");
        message.push_str(note);
        message.push(')');
    }
    message.push_str("; found ");
    push_found_for(&mut message, kind, instance);
    message
}

/// Appends what was found, for an error of `kind` on `instance`: a length for the length
/// keywords, a count for the item-count keywords, the value otherwise.
fn push_found_for(out: &mut String, kind: &ValidationErrorKind, instance: &Value) {
    match kind {
        ValidationErrorKind::MinLength { .. } | ValidationErrorKind::MaxLength { .. } => {
            let chars = instance.as_str().map_or(0, |s| s.chars().count());
            let _ = write!(out, "{chars} characters");
        }
        ValidationErrorKind::MinItems { .. } | ValidationErrorKind::MaxItems { .. } => {
            let _ = write!(out, "{} item(s)", instance.as_array().map_or(0, Vec::len));
        }
        _ => push_found(out, instance),
    }
}

/// The `x-message-note` of the member whose value broke a rule: the annotation a schema
/// author adds for people (`"required unless `custom_expiration_date` is given"`), found on
/// the last `properties/NAME` step of the error's evaluation path, before any `$ref`.
fn member_note(error: &ValidationError<'_>) -> Option<&'static str> {
    note_at(error.evaluation_path().as_str())
}

/// [`member_note`] of the evaluation path `evaluation`.
fn note_at(evaluation: &str) -> Option<&'static str> {
    // Only a path through a node with a note can name one (the root has none: checked by a
    // test), so most errors stop here, before any search or lookup.
    if !NOTED.iter().any(|(noted, _)| {
        evaluation
            .strip_prefix(noted)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }) {
        return None;
    }
    note_by_search(evaluation)
}

/// [`note_at`] by its definition: the node of the last `properties/NAME` step.
fn note_by_search(evaluation: &str) -> Option<&'static str> {
    let (before, after) = rsplit_segment(evaluation, "properties")?;
    let name = after.split('/').next()?;
    if before.contains("$ref") {
        return None;
    }
    // The step is usually a noted node itself (a pointer without a lookup).
    let step = &evaluation[..before.len() + "/properties/".len() + name.len()];
    if let Some((_, note)) = NOTED.iter().find(|(noted, _)| *noted == step) {
        return *note;
    }
    node(step).get("x-message-note")?.as_str()
}

/// `path.rsplit_once("/SEGMENT/")`: split around the last whole segment `segment` of a
/// JSON Pointer, found by looking at each `/` from the end (cheaper, per error, than a
/// substring search).
fn rsplit_segment<'a>(path: &'a str, segment: &str) -> Option<(&'a str, &'a str)> {
    let bytes = path.as_bytes();
    let wanted = segment.as_bytes();
    // `/SEGMENT/` ends at `end` (exclusive): look at each `/` from the back as its last byte.
    let mut end = bytes.len();
    while end > wanted.len() + 1 {
        end -= 1;
        if bytes[end] != b'/' {
            continue;
        }
        let start = end - wanted.len();
        if &bytes[start..end] == wanted && bytes[start - 1] == b'/' {
            return Some((&path[..start - 1], &path[end + 1..]));
        }
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
    use super::*;

    /// The shortcuts of [`note_at`] give what its definition gives (the node of the last
    /// `properties/NAME` step, when no `$ref` comes before it), on every path through the
    /// schema and a few steps below each.
    #[test]
    fn notes_found_by_prefix_equal_the_definition() {
        fn definition(evaluation: &str) -> Option<&'static str> {
            let (before, after) = evaluation.rsplit_once("/properties/")?;
            let name = after.split('/').next()?;
            if before.contains("$ref") {
                return None;
            }
            node(&format!("{before}/properties/{name}"))
                .get("x-message-note")?
                .as_str()
        }
        assert!(SCHEMA.get("x-message-note").is_none());
        assert!(!NOTED.is_empty());
        let mut found = 0;
        for (pointer, _) in schema_nodes() {
            for suffix in ["", "/$ref/enum", "/type", "/$ref/properties/x/type", "/x"] {
                let path = format!("{pointer}{suffix}");
                let note = note_at(&path);
                assert_eq!(note, definition(&path), "{path}");
                found += usize::from(note.is_some());
            }
        }
        assert!(found > 0);
    }

    /// Sites are computed for the keyword locations, with the parent's phrase and `then`.
    #[test]
    fn sites_cover_every_object_member() {
        assert!(SITES.len() > 100, "{}", SITES.len());
        let site = &SITES["/$defs/ValidityYears/enum"];
        assert_eq!(site.parent_pointer, "/$defs/ValidityYears");
        assert_eq!(site.allowed, "one of: 1, 2");
        assert!(site.then_base.is_none());
        assert!(
            SITES
                .keys()
                .any(|location| SITES[location].then_base.is_some())
        );
    }

    fn missing(what: &str, alternatives: bool, reason: &'static str) -> Missing {
        Missing::new(
            "/a/b".to_owned(),
            what.to_owned(),
            alternatives,
            Some(reason),
        )
    }

    /// A member two rules miss is one violation: the member's own schema wins over a list of
    /// alternatives, whichever rule comes first, and every reason is given once.
    #[test]
    fn missing_members_merge_their_reasons() {
        let message = |first: Missing, second: Missing, third: Missing| {
            let mut merged = first;
            merged.merge(second);
            merged.merge(third);
            let v = merged.into_violation();
            assert_eq!((&*v.path, &*v.code), ("/a/b", codes::REQUIRED_PARAM));
            v.message
        };
        assert_eq!(
            message(
                missing("must be a string", false, "rule one"),
                missing("give `b` or `c`", true, "rule two"),
                missing("must be a string", false, "rule one"),
            ),
            "missing required field: must be a string (rule one; rule two)"
        );
        assert_eq!(
            message(
                missing("give `b` or `c`", true, "rule two"),
                missing("must be a string", false, "rule one"),
                missing("give `b` or `c`", true, "rule two"),
            ),
            "missing required field: must be a string (rule one; rule two)"
        );
        let single = Missing::new("/x".to_owned(), "must be 1".to_owned(), false, None);
        assert_eq!(
            single.into_violation().message,
            "missing required field: must be 1"
        );
    }

    fn errors(doc: &Value, product: certcentral_types::ProductId) -> Vec<Violation> {
        let ctx = crate::Context::new(product)
            .with_today(chrono::NaiveDate::from_ymd_opt(2026, 1, 15).unwrap_or_default());
        crate::validate_value(doc, &ctx).errors
    }

    /// The Secure Email sponsor order without a surname: the product's "one of the names" rule
    /// and `common_name_indicator`'s rule both miss it; it is reported once, with both reasons.
    #[test]
    fn a_member_two_rules_need_is_missing_once() {
        use certcentral_types::ProductId as P;
        let mut doc = certcentral_testkit::secure_email_body_without_csr();
        if let Some(individual) = doc["certificate"]["individual"].as_object_mut() {
            individual.remove("last_name");
        }
        let errors = errors(&doc, P::SecureEmailSponsor);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].path, "/certificate/individual/last_name");
        assert_eq!(errors[0].code, codes::REQUIRED_PARAM);
        let message = &errors[0].message;
        assert!(
            message.starts_with("missing required field: must be a string of 1 to 64 characters"),
            "{message}"
        );
        assert!(message.contains("`common_name_indicator` `given_name_surname` takes the name"));
        assert!(message.contains("; a sponsor-validated certificate names the person"));
        // Without the product's rule, one rule and one reason.
        let errors = self::errors(&doc, P::SecureEmailMailbox);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert!(
            !errors[0].message.contains("sponsor"),
            "{}",
            errors[0].message
        );
    }

    /// A value that breaks two rules with the same code is one violation saying both.
    #[test]
    fn a_value_breaking_two_rules_is_one_violation() {
        let mut doc = certcentral_testkit::seed_body_without_csr();
        doc["auto_renew"] = 150.into();
        doc["payment_method"] = "card".into();
        let errors = errors(&doc, certcentral_types::ProductId::ClientPremiumSha2);
        let at: Vec<&Violation> = errors.iter().filter(|v| v.path == "/auto_renew").collect();
        assert_eq!(at.len(), 1, "{errors:#?}");
        assert_eq!(at[0].code, codes::INVALID_VALUE);
        assert!(at[0].message.contains("0 to 99"), "{}", at[0].message);
        assert!(
            at[0]
                .message
                .contains("; found 150; also must be 0 when `payment_method` is `card`"),
            "{}",
            at[0].message
        );
    }

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
