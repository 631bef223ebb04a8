//! The tool-call parser over every form (issue 17): the first two bytes of the input choose
//! where to cut it; the rest is the reply. Fed whole or cut, it gives the same calls and text;
//! it never gives out more text than came in; a reply without calls comes back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ustb_openai::chat::tools::{CallParser, Piece};

fn parse(reply: &str, cuts: &[usize]) -> Vec<Piece> {
    CallParser::new(["f", "read", "get_weather"].map(String::from)).cut_and_parse(reply, cuts)
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 2 {
        return;
    }
    let reply = String::from_utf8_lossy(&input[2..]).into_owned();
    let mut cuts: Vec<usize> = [input[0], input[1]]
        .iter()
        .map(|&b| b as usize * reply.len() / 255)
        .filter(|&c| reply.is_char_boundary(c))
        .collect();
    cuts.sort_unstable();
    let whole = parse(&reply, &[]);
    assert_eq!(parse(&reply, &cuts), whole);
    let texts: usize = whole.iter().map(|p| if let Piece::Text(t) = p { t.len() } else { 0 }).sum();
    assert!(texts <= reply.len());
    if !whole.iter().any(|p| matches!(p, Piece::Call(_))) && !reply.is_empty() {
        assert_eq!(whole, vec![Piece::Text(reply.clone())]);
    }
});
