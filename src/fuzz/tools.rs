//! The tool-call parser: random replies built from markup pieces never panic, give the same
//! pieces however they are cut, never give out more text than came in, and give a reply in
//! which no call is found back unchanged.

use super::{run, text, Rng};
use crate::chat::tools::{CallParser, Piece};

/// Pieces a reply with markup is made of, odd ones included.
const PARTS: &[&str] = &[
    "<tool_call>",
    "</tool_call>",
    "< TOOL_CALL >",
    "</ tool_call\n>",
    "<tool_call",
    "<tool",
    "</",
    "<",
    ">",
    "{\"name\":\"f\",\"arguments\":{\"a\":1}}",
    "{\"name\":\"g\"}",
    "{\"arguments\":{\"s\":\"}</tool_call>\"},\"name\":\"h\"}",
    "{\"name\":\"f\",\"arguments\":{x: 1}}",
    "{\"name\":",
    "\"",
    "\\",
    "{",
    "}",
    "北科大",
    "\n",
    // The other forms (issue 17) and their pieces.
    "<tool_calls>",
    "</tool_calls>",
    "</calls>",
    "<invoke name=\"read\">",
    "<invoke name='f' x=1>",
    "<parameter name=\"path\">",
    "</parameter>",
    "</invoke>",
    "a.py",
    "<read path=\"a.py\"/>",
    "<b>",
    "</b>",
    "```xml\n",
    "```json\n",
    "```",
    "<｜tool▁calls▁begin｜>",
    "<｜tool▁call▁begin｜>function<｜tool▁sep｜>read\n",
    "<｜tool▁call▁end｜>",
    "<｜tool▁calls▁end｜>",
    "{\"name\": \"read\", \"parameters\": {\"path\": \"b\"}}",
    " ",
];

fn reply(rng: &mut Rng) -> String {
    (0..rng.size(24)).map(|_| if rng.one_in(4) { text(rng, 4) } else { rng.pick(PARTS).to_string() }).collect()
}

/// The pieces of `reply` fed in parts cut at random char boundaries, texts merged.
fn parse(reply: &str, rng: Option<&mut Rng>) -> Vec<Piece> {
    let mut cuts: Vec<usize> = match rng {
        Some(rng) => (0..rng.size(12)).map(|_| rng.below(reply.len() + 1)).collect(),
        None => Vec::new(),
    };
    cuts.retain(|&c| reply.is_char_boundary(c));
    cuts.sort_unstable();
    CallParser::new(["f", "g", "h", "read"].map(String::from)).cut_and_parse(reply, &cuts)
}

#[test]
fn tool_call_parser_is_split_invariant_and_loses_nothing() {
    run("tools", 6000, |rng| {
        let reply = reply(rng);
        let whole = parse(&reply, None);
        assert_eq!(parse(&reply, Some(rng)), whole, "{reply:?}");
        let calls = whole.iter().filter(|p| matches!(p, Piece::Call(_))).count();
        let texts: usize = whole.iter().map(|p| if let Piece::Text(t) = p { t.len() } else { 0 }).sum();
        assert!(texts <= reply.len());
        if calls == 0 {
            assert_eq!(whole, if reply.is_empty() { vec![] } else { vec![Piece::Text(reply.clone())] });
        }
    });
}
