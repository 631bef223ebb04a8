//! JSON read into a `Value` that a cancel stops: a 16 MiB reply takes a few hundred
//! milliseconds to build into a tree, a long loop between two reads.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::CancelToken;

/// `serde_json::from_str::<Value>`, looking at `cancel` every 1024 values; a cancel is an
/// error (the caller tells it from bad JSON by the token).
pub fn parse(text: &str, cancel: &CancelToken) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Node(&Ticks { cancel, n: Cell::new(0) }).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

struct Ticks<'a> {
    cancel: &'a CancelToken,
    n: Cell<u32>,
}

impl Ticks<'_> {
    fn tick<E: de::Error>(&self) -> Result<(), E> {
        let n = self.n.get().wrapping_add(1);
        self.n.set(n);
        if n % 1024 == 0 && self.cancel.is_cancelled() {
            return Err(E::custom("cancelled"));
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Node<'a>(&'a Ticks<'a>);

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(n.into())
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(n.into())
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(n.into())
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(s.into())
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(s.into())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut list = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            self.0.tick()?;
            list.push(v);
        }
        Ok(Value::Array(list))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(self)?;
            self.0.tick()?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_as_serde_json_and_a_cancel_stops_it() {
        let text = r#"{"e":0,"m":"操作成功","d":{"a":[1,-2,3.5,true,null,"\u5f20\n",{"b":{}}],"c":"x","a":2}}"#;
        let never = CancelToken::default();
        assert_eq!(parse(text, &never).unwrap(), serde_json::from_str::<Value>(text).unwrap());
        for bad in ["{", "[1,]", "{} x", "\"\\x\""] {
            assert!(parse(bad, &never).is_err(), "{bad}");
        }
        let cancelled = CancelToken::default();
        cancelled.cancel();
        let long = serde_json::to_string(&vec![1; 5000]).unwrap();
        assert!(parse(&long, &cancelled).is_err());
        assert!(parse("[1,2]", &cancelled).is_ok(), "checked every 1024 values only");
    }
}
