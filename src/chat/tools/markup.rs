//! The small pieces every form is read with: XML-like tags, the words of the call family
//! (with the model's typos), JSON call bodies and argument values.

use serde_json::{Map, Value};

use super::ToolCall;

/// What reading a piece at the start of a text gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Lex<T> {
    Done(T),
    /// The text ends while it could still be one.
    More,
    No,
}

/// A tag such as `<invoke name="f">`, `</tool_calls>` or `<read path='a.py'/>`.
#[derive(Debug, PartialEq, Eq)]
pub struct Tag<'a> {
    /// As written (compare with `eq_ignore_ascii_case`).
    pub name: &'a str,
    pub close: bool,
    pub self_closing: bool,
    /// Attribute names and values (unquoted), in order.
    pub attrs: Vec<(&'a str, &'a str)>,
    /// Bytes the tag takes.
    pub len: usize,
}

impl Tag<'_> {
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }
}

/// Longest tag read (attributes included); a longer one is text.
pub const MAX_TAG_BYTES: usize = 4096;
/// Whitespace allowed after `<`, around `/` and before `>`, as the old parser allowed.
const MAX_TAG_SPACE: usize = 3;

/// Reads a tag at the start of `s` (which starts with `<`). The name starts with a letter or
/// `_`; attributes are `name`, `name=value`, `name="value"` or `name='value'`.
pub fn tag(s: &str) -> Lex<Tag<'_>> {
    let b = s.as_bytes();
    let limit = b.len().min(MAX_TAG_BYTES);
    let more = || if b.len() >= MAX_TAG_BYTES { Lex::No } else { Lex::More };
    let mut i = 1;
    let space = |i: &mut usize, max: usize| {
        let start = *i;
        while *i < limit && *i - start < max && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    space(&mut i, MAX_TAG_SPACE);
    let close = b.get(i) == Some(&b'/');
    if close {
        i += 1;
        space(&mut i, MAX_TAG_SPACE);
    }
    let name_start = i;
    match b.get(i) {
        None if b.len() < MAX_TAG_BYTES => return Lex::More,
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return Lex::No,
    }
    while i < limit && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'-' | b':' | b'.')) {
        i += 1;
    }
    if i == limit {
        return more();
    }
    if i == name_start || !(b[name_start].is_ascii_alphabetic() || b[name_start] == b'_') {
        return Lex::No;
    }
    let name = &s[name_start..i];
    let mut attrs = Vec::new();
    loop {
        let before = i;
        space(&mut i, usize::MAX);
        if i == limit {
            return more();
        }
        match b[i] {
            b'>' => return Lex::Done(Tag { name, close, self_closing: false, attrs, len: i + 1 }),
            b'/' if !close => {
                let mut j = i + 1;
                space(&mut j, MAX_TAG_SPACE);
                return match b.get(j) {
                    _ if j == limit => more(),
                    Some(b'>') => Lex::Done(Tag { name, close, self_closing: true, attrs, len: j + 1 }),
                    _ => Lex::No,
                };
            }
            _ if close || i == before => return Lex::No, // an attribute needs space before it
            _ => {}
        }
        let a = i;
        while i < limit && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'-' | b':' | b'.')) {
            i += 1;
        }
        if i == limit {
            return more();
        }
        if i == a {
            return Lex::No;
        }
        let attr = &s[a..i];
        let mut j = i;
        space(&mut j, usize::MAX);
        if j == limit {
            return more();
        }
        if b[j] != b'=' {
            attrs.push((attr, ""));
            continue;
        }
        j += 1;
        space(&mut j, usize::MAX);
        if j == limit {
            return more();
        }
        let value = match b[j] {
            q @ (b'"' | b'\'') => match memchr::memchr(q, &b[j + 1..limit]) {
                Some(k) => {
                    i = j + 1 + k + 1;
                    &s[j + 1..j + 1 + k]
                }
                None => return more(),
            },
            _ => {
                let v = j;
                while j < limit && !b[j].is_ascii_whitespace() && !matches!(b[j], b'>' | b'/' | b'"' | b'\'') {
                    j += 1;
                }
                if j == limit {
                    return more();
                }
                i = j;
                &s[v..j]
            }
        };
        attrs.push((attr, value));
    }
}

/// Edit distance at most one (a letter missing, extra, changed or two swapped).
fn near(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a == b {
        return true;
    }
    if a.len() == b.len() {
        let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        return diff.len() == 1
            || (diff.len() == 2 && diff[1] == diff[0] + 1 && a[diff[0]] == b[diff[1]] && a[diff[1]] == b[diff[0]]);
    }
    let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
    if long.len() != short.len() + 1 {
        return false;
    }
    let i = (0..short.len()).find(|&i| short[i] != long[i]).unwrap_or(short.len());
    short[i..] == long[i + 1..]
}

/// A word of the call family as it appears in wrapper and closing tags: `tool_call`,
/// `tool_calls`, `function_calls`, `calls`, `tool-call`, `toolcall`, … and a one-letter typo of
/// `tool_call(s)` (`tool_cal`, `tool_calss`). `</calls>` is a closing-tag typo the model makes.
pub fn call_word(name: &str) -> bool {
    let w = name.to_ascii_lowercase().replace('-', "_");
    matches!(w.as_str(), "call" | "calls" | "toolcall" | "toolcalls" | "function_call" | "function_calls")
        || near(&w, "tool_call")
        || near(&w, "tool_calls")
}

/// `tool_call` itself (any case, `-` for `_`): the one tag that is either our JSON form or a
/// wrapper around invocations.
pub fn singular_call_word(name: &str) -> bool {
    name.eq_ignore_ascii_case("tool_call") || name.eq_ignore_ascii_case("tool-call")
}

/// A parameter or attribute value as an argument: JSON when it reads as JSON (number, bool,
/// null, object, array, quoted string), otherwise the text itself as a string.
pub fn arg_value(text: &str) -> Value {
    let t = text.trim();
    let json_like = t.starts_with(['{', '[', '"']) || matches!(t, "true" | "false" | "null") || number(t);
    if json_like {
        if let Ok(v) = serde_json::from_str::<Value>(t) {
            return v;
        }
    }
    Value::String(text.to_string())
}

fn number(t: &str) -> bool {
    let t = t.strip_prefix('-').unwrap_or(t);
    t.starts_with(|c: char| c.is_ascii_digit())
        && t.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
}

/// A JSON call body: `{"name": NAME, "arguments" | "parameters": {…}}` (also OpenAI's
/// `{"type":"function","function":{…}}` shape, and arguments written as a JSON string holding
/// an object). A missing or extra closing brace at the very end is forgiven. None unless the
/// name is declared and the arguments are an object (or absent: `{}`).
pub fn json_call(body: &str, declared: &dyn Fn(&str) -> bool) -> Option<ToolCall> {
    let t = body.trim();
    if !t.starts_with('{') {
        return None;
    }
    let object = serde_json::from_str::<Map<String, Value>>(t)
        .or_else(|_| serde_json::from_str(&format!("{t}}}")))
        .or_else(|e| t.strip_suffix('}').map(serde_json::from_str).unwrap_or(Err(e)))
        .ok()?;
    call_from_object(&object, declared)
}

fn call_from_object(o: &Map<String, Value>, declared: &dyn Fn(&str) -> bool) -> Option<ToolCall> {
    if let Some(Value::Object(f)) = o.get("function") {
        if !o.contains_key("name") {
            return call_from_object(f, declared);
        }
    }
    let name = o.get("name")?.as_str()?;
    if name.is_empty() || !declared(name) {
        return None;
    }
    let args = match o.get("arguments").or_else(|| o.get("parameters")) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(a)) => a.clone(),
        Some(Value::String(s)) if s.trim().is_empty() => Map::new(),
        Some(Value::String(s)) => serde_json::from_str(s).ok()?,
        Some(_) => return None,
    };
    Some(ToolCall { name: name.to_string(), arguments: Value::Object(args).to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(s: &str) -> Tag<'_> {
        match tag(s) {
            Lex::Done(t) => t,
            other => panic!("{s:?}: {other:?}"),
        }
    }

    #[test]
    fn tags() {
        let t = done("<invoke name=\"read\" id='1' flag>rest");
        assert_eq!((t.name, t.close, t.self_closing, t.len), ("invoke", false, false, 32));
        assert_eq!(t.attrs, vec![("name", "read"), ("id", "1"), ("flag", "")]);
        let t = done("<read path=\"a>b.py\" />");
        assert!(t.self_closing);
        assert_eq!(t.attr("PATH"), Some("a>b.py"));
        assert!(done("< / Tool_Call >").close);
        assert_eq!(done("<x a=1 b=two>").attrs, vec![("a", "1"), ("b", "two")]);
        for more in ["<", "<inv", "<invoke name=\"re", "<read path='a' /", "</x "] {
            assert_eq!(tag(more), Lex::More, "{more}");
        }
        for no in ["<2", "< >", "<a\"b>", "</x y>", "<a b=\"1\"c>", "<    x>", "<-x>"] {
            assert_eq!(tag(no), Lex::No, "{no}");
        }
        assert_eq!(tag(&format!("<x a=\"{}", "y".repeat(MAX_TAG_BYTES))), Lex::No);
    }

    #[test]
    fn call_words_and_typos() {
        for yes in [
            "tool_call",
            "TOOL_CALLS",
            "tool-call",
            "calls",
            "call",
            "function_calls",
            "tool_cal",
            "tool_calss",
            "toolcall",
            "tool_clal",
        ] {
            assert!(call_word(yes), "{yes}");
        }
        for no in ["invoke", "b", "tool", "tool_use", "callback", "recall"] {
            assert!(!call_word(no), "{no}");
        }
    }

    #[test]
    fn values_keep_their_json_type() {
        assert_eq!(arg_value("42"), Value::from(42));
        assert_eq!(arg_value(" true "), Value::Bool(true));
        assert_eq!(arg_value("[1,2]"), serde_json::json!([1, 2]));
        assert_eq!(arg_value("a.py"), Value::from("a.py"));
        assert_eq!(arg_value("12abc"), Value::from("12abc"));
        assert_eq!(arg_value("{broken"), Value::from("{broken"));
        assert_eq!(arg_value("\"q\""), Value::from("q"));
    }

    #[test]
    fn json_bodies() {
        let any = |_: &str| true;
        let call = |b: &str| json_call(b, &any).map(|c| (c.name, c.arguments));
        let f = |a: &str| Some(("f".to_string(), a.to_string()));
        assert_eq!(call(r#"{"name":"f"}"#), f("{}"));
        assert_eq!(call(r#"{"name":"f","arguments":null}"#), f("{}"));
        assert_eq!(call(r#"{"name":"f","parameters":{"a":1}}"#), f(r#"{"a":1}"#));
        assert_eq!(call(r#"{"name":"f","arguments":{"a":1}"#), f(r#"{"a":1}"#), "a brace short");
        assert_eq!(call(r#"{"name":"f","arguments":{"a":1}}}"#), f(r#"{"a":1}"#), "a brace over");
        assert_eq!(call(r#"{"name":"f","arguments":"{\"a\":1}"}"#), f(r#"{"a":1}"#));
        assert_eq!(call(r#"{"type":"function","function":{"name":"f","arguments":{"b":2}}}"#), f(r#"{"b":2}"#));
        assert_eq!(call(r#" { "arguments" : {"q": "a<b"}, "name" : "f" } "#), f(r#"{"q":"a<b"}"#));
        for no in [
            r#"{"name":""}"#,
            r#"{"name":5}"#,
            "[]",
            "",
            r#"{name:"f"}"#,
            r#"{"name":"f","arguments":5}"#,
            r#"{"name":"f","arguments":{x: 1}}"#,
        ] {
            assert_eq!(call(no), None, "{no}");
        }
        assert_eq!(json_call(r#"{"name":"g"}"#, &|n| n == "f"), None, "undeclared");
    }
}
