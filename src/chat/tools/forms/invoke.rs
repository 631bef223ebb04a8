//! XML invocations, the markup another gateway for this server asks for:
//! `<invoke name="NAME"><parameter name="P">VALUE</parameter>…</invoke>`, bare or inside a
//! wrapper, extra attributes on either tag, either quotes, any case. Each parameter becomes a
//! key of the arguments object; its value keeps its JSON type when it reads as JSON.

use serde_json::{Map, Value};

use super::super::markup::{arg_value, tag, Lex};
use super::super::ToolCall;
#[cfg(test)]
use super::Wait;
use super::{until, Closer, Cx, Found, Item};

pub fn recognise(s: &str, cx: &Cx) -> Found {
    // A tag cut off by the end is waited for by `tagged`, which tries every tag.
    let Lex::Done(t) = tag(s) else { return Found::No };
    if t.close || !t.is("invoke") {
        return Found::No;
    }
    let Some(name) = t.attr("name").filter(|n| (cx.declared)(n)) else { return Found::No };
    let call = |arguments: Map<String, Value>| ToolCall {
        name: name.to_string(),
        arguments: Value::Object(arguments).to_string(),
    };
    if t.self_closing {
        return Found::Item(t.len, Item::Call(call(Map::new())));
    }
    until(s, t.len, Closer::Invoke, cx, |at| {
        let close = match tag(&s[at..]) {
            Lex::Done(c) => c.len,
            _ => unreachable!("the closer is a whole tag"),
        };
        match parameters(&s[t.len..at]) {
            Some(args) => Found::Item(at + close, Item::Call(call(args))),
            None => Found::No,
        }
    })
}

/// The parameters between the invocation's tags; None if anything else is there.
fn parameters(mut body: &str) -> Option<Map<String, Value>> {
    let mut args = Map::new();
    loop {
        body = body.trim_start();
        if body.is_empty() {
            return Some(args);
        }
        let Lex::Done(t) = tag(body) else { return None };
        if t.close || !t.is("parameter") {
            return None;
        }
        let name = t.attr("name")?.to_string();
        if t.self_closing {
            args.insert(name, Value::String(String::new()));
            body = &body[t.len..];
            continue;
        }
        let rest = &body[t.len..];
        // The value runs to its closing tag, or (forgiven) to the end of the invocation.
        let (value, next) = match find_close(rest, "parameter") {
            Some((at, len)) => (&rest[..at], &rest[at + len..]),
            None => (rest, ""),
        };
        args.insert(name, arg_value(value));
        body = next;
    }
}

/// The first `</NAME>` (any case, spaces allowed) in `s`: where it starts and its length.
fn find_close(s: &str, name: &str) -> Option<(usize, usize)> {
    let mut at = 0;
    while let Some(k) = memchr::memchr(b'<', &s.as_bytes()[at..]) {
        at += k;
        if let Lex::Done(t) = tag(&s[at..]) {
            if t.close && t.is(name) {
                return Some((at, t.len));
            }
        }
        at += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(end: bool) -> Cx<'static> {
        super::super::test_cx(&|n| n == "read", end)
    }

    #[test]
    fn invocations() {
        let call = |args: &str| Item::Call(ToolCall { name: "read".into(), arguments: args.into() });
        let s = "<invoke name=\"read\" id=\"1\">\n<parameter name=\"path\" string=\"true\">a.py</parameter>\n<PARAMETER name='n'>3</PARAMETER></invoke>!";
        assert_eq!(recognise(s, &cx(false)), Found::Item(s.len() - 1, call("{\"path\":\"a.py\",\"n\":3}")));
        let s = "<Invoke Name='read'><parameter name=\"code\">if a < b:\n  x = {\"k\": 1}</parameter></Invoke >";
        assert_eq!(
            recognise(s, &cx(false)),
            Found::Item(s.len(), call("{\"code\":\"if a < b:\\n  x = {\\\"k\\\": 1}\"}"))
        );
        let s = "<invoke name=\"read\"><parameter name=\"path\">a.py</invoke>";
        assert_eq!(recognise(s, &cx(false)), Found::Item(s.len(), call("{\"path\":\"a.py\"}")), "unclosed parameter");
        assert_eq!(
            recognise("<invoke name=\"read\"><parameter name=\"p\">", &cx(false)),
            Found::More(Wait::Closer(Closer::Invoke))
        );
        assert_eq!(recognise("<invo", &cx(false)), Found::No, "left to `tagged`");
        assert_eq!(recognise("<invoke name=\"other\"></invoke>", &cx(false)), Found::No);
        assert_eq!(recognise("<invoke name=\"read\">text</invoke>", &cx(false)), Found::No);
        assert_eq!(recognise("<inside>", &cx(false)), Found::No);
    }
}
