//! The `{"e": int, "m": str, "d": any}` envelope every upstream reply is wrapped in.

use serde_json::Value;

use super::CancelToken;
use crate::error::{Error, Result};

fn not_json(err: &serde_json::Error, text: &str) -> Error {
    Error::protocol(format!("reply is not valid JSON ({err}): {}", excerpt(text)))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub e: i64,
    pub m: String,
    pub d: Value,
}

impl Envelope {
    /// Parses an envelope; anything else is a protocol error naming what was wrong.
    pub fn parse(text: &str) -> Result<Envelope> {
        let value: Value = serde_json::from_str(text).map_err(|err| not_json(&err, text))?;
        Envelope::from_value(value)
    }

    /// `parse` of a long body, which `cancel` stops (`ErrorKind::Cancelled`).
    pub fn parse_cancellable(text: &str, cancel: &CancelToken) -> Result<Envelope> {
        let value = super::cancellable_json::parse(text, cancel).map_err(|err| {
            if cancel.is_cancelled() {
                Error::cancelled()
            } else {
                not_json(&err, text)
            }
        })?;
        Envelope::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<Envelope> {
        let Value::Object(mut map) = value else {
            return Err(Error::protocol("reply is not a JSON object envelope"));
        };
        // `e` is an int upstream; accept a numeric string too, as PHP back ends sometimes send.
        let e = match map.get("e") {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| Error::protocol("reply envelope has no integer field \"e\""))?;
        let m = match map.remove("m") {
            Some(Value::String(s)) => s,
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let d = map.remove("d").unwrap_or(Value::Null);
        Ok(Envelope { e, m, d })
    }

    /// `Ok(d)` when `e == 0`, else the API (or auth) error the envelope carries.
    pub fn into_data(self, http_status: Option<u16>) -> Result<Value> {
        if self.e == 0 {
            Ok(self.d)
        } else {
            Err(Error::from_envelope(self.e, &self.m, http_status))
        }
    }
}

/// The start of a reply body for an error message (bodies are never secrets; cookies are).
pub fn excerpt(text: &str) -> String {
    let cut: String = text.chars().take(120).collect();
    if cut.len() < text.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn vector(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn vector_4028_is_an_api_error() {
        let err = Envelope::parse(&vector("reply-4028.json")).unwrap().into_data(Some(200)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Api);
        assert_eq!(err.api_code, Some(4028));
        assert_eq!(err.api_message.as_deref(), Some("history参数异常"));
    }

    #[test]
    fn vector_10042_is_an_auth_error() {
        let err = Envelope::parse(&vector("reply-10042.json")).unwrap().into_data(None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Auth);
        assert_eq!(err.api_message.as_deref(), Some("请登录"));
    }

    #[test]
    fn not_an_envelope() {
        assert_eq!(Envelope::parse("<html>").unwrap_err().kind, ErrorKind::Protocol);
        assert_eq!(Envelope::parse("[1]").unwrap_err().kind, ErrorKind::Protocol);
        assert_eq!(Envelope::parse("{\"m\":\"x\"}").unwrap_err().kind, ErrorKind::Protocol);
        assert_eq!(Envelope::parse("{\"e\":\"7\"}").unwrap().e, 7);
    }
}
