//! Ordered JSON values. serde_json's `Value` sorts object keys (no `preserve_order`), but
//! replies must reproduce upstream key order byte for byte, so they are built from `J`.

pub(crate) enum J {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    /// serde_json / PHP style: no spaces.
    pub(crate) fn compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, ",", ":");
        out
    }

    /// Python `json.dumps(x, ensure_ascii=False)` style, as found inside `original_stream`.
    pub(crate) fn python(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, ", ", ": ");
        out
    }

    fn write(&self, out: &mut String, item_sep: &str, key_sep: &str) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Int(i) => out.push_str(&i.to_string()),
            J::Str(s) => escape_into(out, s),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(item_sep);
                    }
                    item.write(out, item_sep, key_sep);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(item_sep);
                    }
                    escape_into(out, k);
                    out.push_str(key_sep);
                    v.write(out, item_sep, key_sep);
                }
                out.push('}');
            }
        }
    }
}

/// The escape set shared by serde_json and Python with `ensure_ascii=False`:
/// quote, backslash and C0 controls; everything else (non-ASCII included) stays raw.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<&str> for J {
    fn from(s: &str) -> J {
        J::Str(s.to_string())
    }
}
impl From<String> for J {
    fn from(s: String) -> J {
        J::Str(s)
    }
}
impl From<&String> for J {
    fn from(s: &String) -> J {
        J::Str(s.clone())
    }
}
impl From<bool> for J {
    fn from(b: bool) -> J {
        J::Bool(b)
    }
}
impl From<i64> for J {
    fn from(i: i64) -> J {
        J::Int(i)
    }
}
impl From<i32> for J {
    fn from(i: i32) -> J {
        J::Int(i64::from(i))
    }
}
impl From<u64> for J {
    fn from(i: u64) -> J {
        J::Int(i64::try_from(i).unwrap_or(i64::MAX))
    }
}
impl From<usize> for J {
    fn from(i: usize) -> J {
        J::Int(i64::try_from(i).unwrap_or(i64::MAX))
    }
}
impl From<Vec<J>> for J {
    fn from(v: Vec<J>) -> J {
        J::Arr(v)
    }
}

/// `obj! { "k" => v, … }`: an object with keys in the written order.
macro_rules! obj {
    ($($k:expr => $v:expr),* $(,)?) => {
        $crate::emulator::json::J::Obj(vec![
            $(($k.to_string(), $crate::emulator::json::J::from($v))),*
        ])
    };
}
pub(crate) use obj;

/// `{"e":code,"m":msg,"d":[]}`, the business-error envelope.
pub(crate) fn error_envelope(code: i64, msg: &str) -> J {
    obj! { "e" => code, "m" => msg, "d" => J::Arr(vec![]) }
}

/// `{"e":0,"m":"操作成功","d":d}`.
pub(crate) fn ok_envelope(d: J) -> J {
    obj! { "e" => 0, "m" => "操作成功", "d" => d }
}
