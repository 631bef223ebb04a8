//! Our own form, `<tool_call>{"name":…,"arguments":{…}}</tool_call>` (any case, a few spaces
//! in the tags, a typo in the closing tag); the call family's wrapper tags (`<tool_calls>`,
//! `<tool_call>` around invocations, and their closing tags); and a self-closing tag named after
//! a declared tool, whose attributes are the arguments (`<read path="a.py"/>`).

use serde_json::{Map, Value};

use super::super::markup::{arg_value, call_word, json_call, singular_call_word, tag, Lex, MAX_TAG_BYTES};
use super::super::ToolCall;
use super::{until, Closer, Cx, Found, Item, Wait};

pub fn recognise(s: &str, cx: &Cx) -> Found {
    let t = match tag(s) {
        Lex::Done(t) => t,
        Lex::More => return Found::More(Wait::Short),
        Lex::No => return Found::No,
    };
    let raw = |len: usize| s[..len].to_string();
    if t.close {
        return match call_word(t.name) {
            true => Found::Item(t.len, Item::Wrap { raw: raw(t.len), open: false, fence: false }),
            false => Found::No,
        };
    }
    if t.self_closing {
        if !(cx.declared)(t.name) || singular_call_word(t.name) {
            return Found::No;
        }
        let args: Map<String, Value> = t.attrs.iter().map(|(k, v)| (k.to_string(), arg_value(v))).collect();
        let call = ToolCall { name: t.name.to_string(), arguments: Value::Object(args).to_string() };
        return Found::Item(t.len, Item::Call(call));
    }
    if !call_word(t.name) {
        return Found::No;
    }
    let wrapper = Found::Item(t.len, Item::Wrap { raw: raw(t.len), open: true, fence: false });
    if !singular_call_word(t.name) {
        return wrapper;
    }
    // `<tool_call>`: our JSON form when an object follows, a wrapper when a tag does.
    let rest = &s[t.len..];
    match rest.trim_start().as_bytes().first() {
        Some(b'{') => until(s, t.len, Closer::CallTag, cx, |at| {
            let close = match tag(&s[at..]) {
                Lex::Done(c) => c.len,
                _ => unreachable!("the closer is a whole tag"),
            };
            match json_call(&s[t.len..at], cx.declared) {
                Some(call) => Found::Item(at + close, Item::Call(call)),
                None => Found::No,
            }
        }),
        Some(b'<') => wrapper,
        Some(_) => Found::No,
        None if rest.len() > MAX_TAG_BYTES => Found::No,
        None => Found::More(Wait::Short),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(end: bool) -> Cx<'static> {
        super::super::test_cx(&|n| n == "read" || n == "f", end)
    }

    #[test]
    fn forms() {
        let call = |name: &str, args: &str| Item::Call(ToolCall { name: name.into(), arguments: args.into() });
        let s = "<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}}</calls>rest";
        assert_eq!(recognise(s, &cx(false)), Found::Item(s.len() - 4, call("f", "{\"a\":1}")));
        assert_eq!(
            recognise("<read path='a.py' n=2/>x", &cx(false)),
            Found::Item(23, call("read", "{\"path\":\"a.py\",\"n\":2}"))
        );
        assert_eq!(recognise("<tool_call>{\"name\":\"g\"}</tool_call>", &cx(false)), Found::No, "undeclared");
        assert_eq!(recognise("<tool_call>{\"name\":\"f\"}", &cx(false)), Found::More(Wait::Closer(Closer::CallTag)));
        assert_eq!(recognise("<tool_call>{\"name\":\"f\"}", &cx(true)), Found::No);
        assert_eq!(recognise("<tool_call>  ", &cx(false)), Found::More(Wait::Short));
        assert!(matches!(
            recognise("<tool_call>\n<invoke", &cx(false)),
            Found::Item(11, Item::Wrap { open: true, .. })
        ));
        assert!(matches!(recognise("<TOOL_CALLS id=1>", &cx(false)), Found::Item(17, Item::Wrap { open: true, .. })));
        assert!(matches!(recognise("</tool_calss>", &cx(false)), Found::Item(13, Item::Wrap { open: false, .. })));
        for no in ["<b>粗体</b>", "</b>", "<br/>", "<read path='a'>", "<tool_call>text</tool_call>"] {
            assert_eq!(recognise(no, &cx(false)), Found::No, "{no}");
        }
    }
}
