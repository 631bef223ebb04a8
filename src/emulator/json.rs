//! Upstream's two JSON styles and its envelope. Values are serde_json `Value`s built with
//! `json!`; the `preserve_order` feature keeps keys in the written order, which replies must
//! reproduce byte for byte. The compact style is serde_json's own (`Value::to_string`).

use std::io::{Result, Write};

use serde::Serialize;
use serde_json::ser::Formatter;
use serde_json::{json, Value};

/// Python `json.dumps(x, ensure_ascii=False)` style, as found inside `original_stream`.
/// Only the separators differ from compact output: serde_json escapes exactly what Python does
/// with `ensure_ascii=False` (quote, backslash, C0 controls as `\b \f \n \r \t` or lowercase
/// `\u00xx`; everything else, DEL and non-ASCII included, raw).
pub(crate) fn python(v: &Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonStyle);
    v.serialize(&mut ser).expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// `", "` between items and `": "` after keys; the rest as `CompactFormatter`.
struct PythonStyle;

impl Formatter for PythonStyle {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> Result<()> {
        self.begin_array_value(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> Result<()> {
        w.write_all(b": ")
    }
}

/// `{"e":code,"m":msg,"d":[]}`, the business-error envelope.
pub(crate) fn error_envelope(code: i64, msg: &str) -> Value {
    json!({ "e": code, "m": msg, "d": [] })
}

/// `{"e":0,"m":"操作成功","d":d}`.
pub(crate) fn ok_envelope(d: Value) -> Value {
    json!({ "e": 0, "m": "操作成功", "d": d })
}
