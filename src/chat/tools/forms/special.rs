//! DeepSeek's native form, written with its special tokens:
//! `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME` + the arguments as
//! a fenced JSON object + `<｜tool▁call▁end｜><｜tool▁calls▁end｜>`. The later variant
//! `<｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{…}<｜tool▁call▁end｜>` is read too, and the tokens
//! are also accepted with ASCII `|` and `_`, as a model may write them as text.

use serde_json::{Map, Value};

use super::super::markup::Lex;
use super::super::ToolCall;
use super::{until, Closer, Cx, Found, Item, Wait};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    CallsBegin,
    CallsEnd,
    CallBegin,
    CallEnd,
    Sep,
}

/// Longest token (all of its characters three bytes wide).
const MAX_TOKEN_BYTES: usize = 64;

/// A special token at the start of `s` and its length.
pub fn token(s: &str) -> Lex<(Token, usize)> {
    let mut chars = s.char_indices();
    if chars.next().map(|(_, c)| c) != Some('<') {
        return Lex::No;
    }
    match chars.next() {
        Some((_, '｜' | '|')) => {}
        Some(_) => return Lex::No,
        None => return Lex::More,
    }
    let mut word = String::new();
    for (i, c) in chars {
        if i >= MAX_TOKEN_BYTES {
            return Lex::No;
        }
        match c {
            '｜' | '|' => {
                let end = i + c.len_utf8();
                return match s[end..].chars().next() {
                    None => Lex::More,
                    Some('>') => match word.as_str() {
                        "tool_calls_begin" => Lex::Done((Token::CallsBegin, end + 1)),
                        "tool_calls_end" => Lex::Done((Token::CallsEnd, end + 1)),
                        "tool_call_begin" => Lex::Done((Token::CallBegin, end + 1)),
                        "tool_call_end" => Lex::Done((Token::CallEnd, end + 1)),
                        "tool_sep" => Lex::Done((Token::Sep, end + 1)),
                        _ => Lex::No,
                    },
                    Some(_) => Lex::No,
                };
            }
            '▁' | '_' => word.push('_'),
            c if c.is_ascii_alphabetic() => word.push(c.to_ascii_lowercase()),
            _ => return Lex::No,
        }
    }
    Lex::More
}

pub fn recognise(s: &str, cx: &Cx) -> Found {
    let (t, len) = match token(s) {
        Lex::Done(t) => t,
        Lex::More => return Found::More(Wait::Short),
        Lex::No => return Found::No,
    };
    let wrap = |open| Found::Item(len, Item::Wrap { raw: s[..len].to_string(), open, fence: false });
    match t {
        Token::CallsBegin => wrap(true),
        Token::CallsEnd => wrap(false),
        Token::CallBegin => until(s, len, Closer::SpecialCallEnd, cx, |at| {
            let Lex::Done((_, end)) = token(&s[at..]) else { unreachable!("the closer is a whole token") };
            match call(&s[len..at], cx) {
                Some(call) => Found::Item(at + end, Item::Call(call)),
                None => Found::No,
            }
        }),
        Token::CallEnd | Token::Sep => Found::No,
    }
}

/// The text between a call's begin and end tokens.
fn call(body: &str, cx: &Cx) -> Option<ToolCall> {
    let sep = memchr::memchr_iter(b'<', body.as_bytes()).find_map(|i| match token(&body[i..]) {
        Lex::Done((Token::Sep, len)) => Some((i, len)),
        _ => None,
    })?;
    let (before, after) = (body[..sep.0].trim(), &body[sep.0 + sep.1..]);
    let (name, args) = if before.is_empty() || before == "function" {
        let after = after.trim_start();
        let end = after.find(|c: char| c.is_whitespace() || c == '`' || c == '{').unwrap_or(after.len());
        (&after[..end], &after[end..])
    } else {
        (before, after)
    };
    if name.is_empty() || !(cx.declared)(name) {
        return None;
    }
    let mut args = args.trim();
    if let Some(fenced) = args.strip_prefix("```") {
        args = fenced.split_once('\n').map_or("", |(_, rest)| rest).trim_end();
        args = args.strip_suffix("```").unwrap_or(args).trim();
    }
    let arguments: Map<String, Value> = if args.is_empty() { Map::new() } else { serde_json::from_str(args).ok()? };
    Some(ToolCall { name: name.to_string(), arguments: Value::Object(arguments).to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(end: bool) -> Cx<'static> {
        super::super::test_cx(&|n| n == "get_weather", end)
    }

    #[test]
    fn tokens_and_calls() {
        let call = |args: &str| Item::Call(ToolCall { name: "get_weather".into(), arguments: args.into() });
        let s = "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"北京\"}\n```<｜tool▁call▁end｜>";
        assert_eq!(recognise(s, &cx(false)), Found::Item(s.len(), call("{\"city\":\"北京\"}")));
        let s = "<|tool_call_begin|>get_weather<|tool_sep|>{\"city\":\"上海\"}<|tool_call_end|>x";
        assert_eq!(recognise(s, &cx(false)), Found::Item(s.len() - 1, call("{\"city\":\"上海\"}")));
        assert!(matches!(
            recognise("<｜tool▁calls▁begin｜>", &cx(false)),
            Found::Item(_, Item::Wrap { open: true, .. })
        ));
        assert_eq!(recognise("<｜tool▁call", &cx(false)), Found::More(Wait::Short));
        assert_eq!(
            recognise("<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather", &cx(false)),
            Found::More(Wait::Closer(Closer::SpecialCallEnd))
        );
        assert_eq!(
            recognise("<｜tool▁call▁begin｜>function<｜tool▁sep｜>other\n{}<｜tool▁call▁end｜>", &cx(false)),
            Found::No
        );
        assert_eq!(recognise("<｜end▁of▁sentence｜>", &cx(false)), Found::No);
        assert_eq!(recognise("<|x", &cx(false)), Found::More(Wait::Short));
        assert_eq!(recognise("<| 1 |>", &cx(false)), Found::No);
    }
}
