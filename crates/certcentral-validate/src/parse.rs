//! Reading an order body: a leading UTF-8 byte order mark is skipped (as the CSV reader does),
//! and a member written twice in one object is remembered with its JSON Pointer, so it can be
//! reported instead of silently keeping the last value.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The UTF-8 encoding of U+FEFF.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A parsed body and the members it repeats.
pub(crate) struct Parsed {
    /// The document (for a repeated member, the last value, as `serde_json` reads it).
    pub(crate) doc: Value,
    /// JSON Pointers of every repeated member (one per repetition), in document order.
    pub(crate) duplicates: Vec<String>,
}

/// Parses `bytes` as one JSON document, skipping a leading byte order mark.
///
/// One pass reads the document and notices whether any member is repeated, without keeping
/// track of paths; only a body that repeats a member is read a second time, with paths, to
/// say where.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, serde_json::Error> {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let (doc, state) = read(bytes, false)?;
    if !state.repeated.get() {
        return Ok(Parsed {
            doc,
            duplicates: Vec::new(),
        });
    }
    let (doc, state) = read(bytes, true)?;
    Ok(Parsed {
        doc,
        duplicates: state.duplicates.into_inner(),
    })
}

/// Reads `bytes` once; with `paths`, records the JSON Pointer of every repeated member.
fn read(bytes: &[u8], paths: bool) -> Result<(Value, State), serde_json::Error> {
    let state = State {
        paths,
        ..State::default()
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let doc = Node { state: &state }.deserialize(&mut de)?;
    de.end()?;
    Ok((doc, state))
}

/// The path being read and the duplicates found so far.
#[derive(Default)]
struct State {
    /// Whether paths are tracked (`path` and `duplicates` are filled only then).
    paths: bool,
    /// Whether some object repeats a member.
    repeated: Cell<bool>,
    /// Segments of the current position, already escaped for a JSON Pointer.
    path: RefCell<Vec<String>>,
    duplicates: RefCell<Vec<String>>,
}

/// Reads one value at the current path.
#[derive(Clone, Copy)]
struct Node<'s> {
    state: &'s State,
}

impl<'s> Node<'s> {
    /// Reads the next value one segment deeper.
    /// `segment` is only built when paths are tracked.
    fn child<'de, T>(
        self,
        segment: impl FnOnce() -> String,
        read: impl FnOnce(Node<'s>) -> T,
    ) -> T {
        if !self.state.paths {
            return read(self);
        }
        self.state.path.borrow_mut().push(segment());
        let out = read(self);
        self.state.path.borrow_mut().pop();
        out
    }
}

fn escape(key: &str) -> String {
    if key.contains(['~', '/']) {
        key.replace('~', "~0").replace('/', "~1")
    } else {
        key.to_owned()
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            let next = self.child(
                || items.len().to_string(),
                |node| seq.next_element_seed(node),
            )?;
            match next {
                Some(item) => items.push(item),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if !self.state.paths {
                let value = map.next_value_seed(self)?;
                if object.insert(key, value).is_some() {
                    self.state.repeated.set(true);
                }
                continue;
            }
            let value = self.child(|| escape(&key), |node| map.next_value_seed(node))?;
            if object.insert(key.clone(), value).is_some() {
                let path = self.state.path.borrow();
                let mut pointer = String::new();
                for segment in path.iter() {
                    pointer.push('/');
                    pointer.push_str(segment);
                }
                pointer.push('/');
                pointer.push_str(&escape(&key));
                self.state.duplicates.borrow_mut().push(pointer);
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_repeated_members_at_their_path() {
        let parsed =
            parse(br#"{"a": 1, "b": {"c/d": [{"e": 1, "e": 2}], "c/d": 3}, "a": 2}"#).unwrap();
        assert_eq!(parsed.duplicates, ["/b/c~1d/0/e", "/b/c~1d", "/a"]);
        assert_eq!(parsed.doc["a"], 2);
    }

    #[test]
    fn nested_repeats_keep_their_array_index() {
        let parsed = parse(br#"{"x": [{}, {"e": 1, "e": 2}]}"#).unwrap();
        assert_eq!(parsed.duplicates, ["/x/1/e"]);
    }

    #[test]
    fn skips_a_byte_order_mark() {
        let parsed = parse(b"\xEF\xBB\xBF{\"a\": 1}").unwrap();
        assert_eq!(parsed.doc["a"], 1);
        assert!(
            parse(b"\xEF\xBB\xBF\xEF\xBB\xBF{}").is_err(),
            "only one BOM"
        );
    }

    #[test]
    fn equals_serde_json_on_plain_documents() {
        let text = br#"{"n": [1, -2, 3.5, 1e300, 18446744073709551615], "s": "\u00e9", "z": null, "t": true}"#;
        let ours = parse(text).unwrap().doc;
        let theirs: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(ours, theirs);
    }
}
