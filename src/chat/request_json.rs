//! The request JSON read into its top-level object, with the `tools` list bounded: past
//! `MAX_TOOLS` entries reading stops there, so an oversized list is refused before the rest of
//! it is read or built (a tree of 160k tools took 190 MB).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::tools::too_many_tools;
use crate::error::{Error, Result};
use crate::limits::MAX_TOOLS;

/// The object, or None when the JSON is valid but not an object; invalid JSON is
/// `InvalidArgument`, too many tools `InvalidRequest`.
pub fn parse_object(json: &str) -> Result<Option<Map<String, Value>>> {
    let invalid = |e: serde_json::Error| Error::invalid_argument(format!("request is not valid JSON: {e}"));
    if !json.trim_start().starts_with('{') {
        serde_json::from_str::<de::IgnoredAny>(json).map_err(invalid)?;
        return Ok(None);
    }
    match serde_json::from_str::<Top>(json) {
        Ok(Top(map)) => Ok(Some(map)),
        // A value tree has no data errors of its own: a data error is the bound's.
        Err(e) if e.is_data() => Err(too_many_tools()),
        Err(e) => Err(invalid(e)),
    }
}

struct Top(Map<String, Value>);

impl<'de> de::Deserialize<'de> for Top {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Top, D::Error> {
        d.deserialize_map(TopVisitor)
    }
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Top;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Top, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // A repeated key replaces the earlier value, as in a `Value`.
            let value = if key == "tools" { map.next_value_seed(Tools)? } else { map.next_value()? };
            out.insert(key, value);
        }
        Ok(Top(out))
    }
}

/// `tools` as a `Value`, a list of at most `MAX_TOOLS` entries.
struct Tools;

impl<'de> DeserializeSeed<'de> for Tools {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Tools {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut list = Vec::new();
        while let Some(tool) = seq.next_element()? {
            if list.len() == MAX_TOOLS {
                return Err(de::Error::custom("too many tools"));
            }
            list.push(tool);
        }
        Ok(Value::Array(list))
    }

    // Anything else is kept as it is, for `ToolSpec::parse` to refuse.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some((k, v)) = map.next_entry()? {
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> std::result::Result<Value, E> {
        Ok(n.into())
    }

    fn visit_u64<E>(self, n: u64) -> std::result::Result<Value, E> {
        Ok(n.into())
    }

    fn visit_f64<E>(self, n: f64) -> std::result::Result<Value, E> {
        Ok(n.into())
    }

    fn visit_str<E>(self, s: &str) -> std::result::Result<Value, E> {
        Ok(s.into())
    }
}
