//! Code fences around calls (```` ```xml ```` or ```` ```json ```` … ```` ``` ````), which
//! vanish with the calls they enclose, and a bare JSON call object,
//! `{"name": NAME, "arguments" | "parameters": {…}}`, alone: inside a fence, or as the whole
//! answer.

use super::super::markup::{json_call, Lex, MAX_TAG_BYTES};
use super::{until, Closer, Cx, Found, Item, Wait};

/// A fence line at the start of a line: an opening one with its language and line end, or
/// (inside a fence) the closing backticks.
pub fn recognise(s: &str, cx: &Cx) -> Found {
    if !cx.line_start {
        return Found::No;
    }
    match Closer::Fence.at(s) {
        Lex::Done(()) => {}
        Lex::More => return Found::More(Wait::Short),
        Lex::No => return Found::No,
    }
    if s.as_bytes().get(3) == Some(&b'`') {
        return Found::No; // four or more: not a fence we read
    }
    if cx.in_fence {
        return Found::Item(3, Item::Wrap { raw: "```".into(), open: false, fence: true });
    }
    let info = s[3..].find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | ' ' | '\t' | '\r')));
    match info {
        Some(k) if s.as_bytes()[3 + k] == b'\n' => {
            let len = 3 + k + 1;
            Found::Item(len, Item::Wrap { raw: s[..len].to_string(), open: true, fence: true })
        }
        Some(_) => Found::No,
        None if s.len() > MAX_TAG_BYTES => Found::No,
        None => Found::More(Wait::Short),
    }
}

/// A bare JSON call: first thing in a fence (up to the closing backticks), or the whole answer.
pub fn json(s: &str, cx: &Cx) -> Found {
    if cx.fence_start {
        return until(s, 0, Closer::Fence, cx, |at| match json_call(&s[..at], cx.declared) {
            Some(call) => Found::Item(at, Item::Call(call)),
            None => Found::No,
        });
    }
    if !cx.answer_start {
        return Found::No;
    }
    match first_key(s) {
        Lex::Done("name" | "type" | "function" | "arguments" | "parameters") => {}
        Lex::More if !cx.end => return Found::More(Wait::Short),
        _ => return Found::No,
    }
    if s.len() > cx.limit {
        return Found::No;
    }
    if !cx.end {
        return Found::More(Wait::Closer(Closer::End));
    }
    match json_call(s, cx.declared) {
        Some(call) => Found::Item(s.len(), Item::Call(call)),
        None => Found::No,
    }
}

/// The first key of the object `s` starts, as written (escapes make it no call key).
fn first_key(s: &str) -> Lex<&str> {
    let t = s[1..].trim_start();
    match t.as_bytes().first() {
        None => Lex::More,
        Some(b'"') => match t[1..].find(['"', '\\']) {
            Some(k) if t.as_bytes()[1 + k] == b'"' => Lex::Done(&t[1..1 + k]),
            Some(_) => Lex::No,
            None if t.len() > 64 => Lex::No,
            None => Lex::More,
        },
        Some(_) => Lex::No,
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::ToolCall;
    use super::*;

    fn cx(end: bool, answer_start: bool, fence_start: bool, line_start: bool) -> Cx<'static> {
        Cx {
            declared: &|n| n == "f",
            end,
            answer_start,
            fence_start,
            in_fence: fence_start,
            line_start,
            at: 0,
            memo: Box::leak(Box::default()),
            limit: crate::limits::MAX_TOOL_CALL_BYTES,
        }
    }

    #[test]
    fn fences_and_bare_json() {
        let call = Item::Call(ToolCall { name: "f".into(), arguments: "{\"a\":1}".into() });
        assert!(matches!(
            recognise("```xml\n<x>", &cx(false, false, false, true)),
            Found::Item(7, Item::Wrap { open: true, .. })
        ));
        assert_eq!(recognise("```xml", &cx(false, false, false, true)), Found::More(Wait::Short));
        assert_eq!(recognise("```xml\n", &cx(false, false, false, false)), Found::No, "not at a line start");
        assert_eq!(recognise("```a.b\n", &cx(false, false, false, true)), Found::No);
        assert!(matches!(
            recognise("```\n", &cx(false, false, true, true)),
            Found::Item(3, Item::Wrap { open: false, .. })
        ));
        let s = "{\"name\":\"f\",\"arguments\":{\"a\":1}}\n```";
        assert_eq!(json(s, &cx(false, false, true, false)), Found::Item(s.len() - 3, call.clone()));
        assert_eq!(json("{\"name\":\"f\"", &cx(false, false, true, false)), Found::More(Wait::Closer(Closer::Fence)));
        let s = "{\"name\": \"f\", \"parameters\": {\"a\": 1}}\n";
        assert_eq!(json(s, &cx(false, true, false, false)), Found::More(Wait::Closer(Closer::End)));
        assert_eq!(json(s, &cx(true, true, false, false)), Found::Item(s.len(), call));
        assert_eq!(json("{\"city\": 1}", &cx(false, true, false, false)), Found::No, "an ordinary JSON answer");
        assert_eq!(json("{\"name\":\"f\"} and more", &cx(true, true, false, false)), Found::No);
        assert_eq!(json("{\"name\":\"f\"}", &cx(true, false, false, false)), Found::No, "not alone");
    }
}
