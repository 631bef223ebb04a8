//! The event decoder and the chunk writer: mutated envelopes and `original_stream` payloads
//! never panic, fail only with the documented kinds, and every chunk written is valid JSON
//! that reads back to the delta it came from. Well-formed streams decode to what an
//! independent model of PROTOCOL.md 2.1 says.

use serde_json::{json, Value};

use super::{mutate_str, run, text, Rng};
use crate::chat::decode::{Decoder, Delta};
use crate::chat::output::{chunk_delta, ChunkWriter, Completion};
use crate::error::ErrorKind;

/// Any JSON value, small and odd.
fn any_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.one_in(2)),
        2 => rng
            .pick(&[json!(0), json!(1), json!(-1), json!(4028), json!(1.5), json!(u64::MAX), json!(i64::MIN)])
            .clone(),
        3 | 4 => json!(text(rng, 12)),
        5 => Value::Array((0..rng.size(4)).map(|_| any_value(rng, depth - 1)).collect()),
        _ => {
            let keys = ["e", "m", "d", "answer", "ext", "choices", "delta", "content", "usage", "x"];
            Value::Object((0..rng.size(4)).map(|_| (rng.pick(&keys).to_string(), any_value(rng, depth - 1))).collect())
        }
    }
}

/// Text rich in think tags and their pieces, so tags get split across events.
fn think_text(rng: &mut Rng) -> String {
    const PIECES: &[&str] =
        &["<think>", "</think>", "<", "</", "<th", "ink>", "think", ">", "/", " ", "\n", "想", "答", "a"];
    (0..rng.size(10)).map(|_| *rng.pick(PIECES)).collect()
}

/// One `original_stream` chunk: mostly the real shape, sometimes odd types.
fn inner_chunk(rng: &mut Rng) -> Value {
    let mut choices = Vec::new();
    for i in 0..rng.size(2) {
        let mut delta = json!({});
        if rng.one_in(2) {
            delta["content"] = if rng.one_in(8) { any_value(rng, 1) } else { json!(think_text(rng)) };
        }
        if rng.one_in(2) {
            delta["reasoning_content"] = if rng.one_in(8) { any_value(rng, 1) } else { json!(text(rng, 8)) };
        }
        let finish = match rng.below(6) {
            0 => json!("stop"),
            1 => json!("length"),
            2 if rng.one_in(4) => any_value(rng, 1),
            _ => Value::Null,
        };
        choices.push(json!({ "index": i, "delta": delta, "finish_reason": finish }));
    }
    let mut chunk = json!({ "id": "x", "object": "chat.completion.chunk", "choices": choices });
    if rng.one_in(5) {
        chunk["usage"] = if rng.one_in(4) {
            any_value(rng, 2)
        } else {
            json!({ "prompt_tokens": rng.below(100), "completion_tokens": rng.below(100), "total_tokens": rng.below(200) })
        };
    }
    chunk
}

/// One event's `data`: an envelope of either form, an error, `[DONE]`, or garbage.
fn event(rng: &mut Rng) -> String {
    if rng.one_in(20) {
        return rng.pick(&["[DONE]", " [DONE] ", "", "{}", "null"]).to_string();
    }
    let e = match rng.below(10) {
        0 => json!(1),
        1 => json!(*rng.pick(&[4028, 10042, -1, i64::MAX])),
        2 if rng.one_in(3) => any_value(rng, 1),
        _ => json!(0),
    };
    let mut ext = json!({});
    if rng.one_in(2) {
        let inner = inner_chunk(rng).to_string();
        ext["original_stream"] = match rng.below(8) {
            0 => json!(mutate_str(rng, &inner)),
            1 => any_value(rng, 2),
            _ => json!(inner),
        };
    }
    if rng.one_in(8) {
        ext["site_search"] =
            if rng.one_in(2) { json!([{ "title": text(rng, 5), "url": "http://x/" }]) } else { any_value(rng, 2) };
    }
    let answer = if rng.one_in(10) { any_value(rng, 1) } else { json!(think_text(rng)) };
    let d = match rng.below(10) {
        0 => any_value(rng, 2),
        1 => json!({ "answer": answer, "ext": [] }),
        _ => json!({ "type": "0", "answer": answer, "url": "", "ext": ext }),
    };
    let env = json!({ "e": e, "m": text(rng, 6), "d": d }).to_string();
    if rng.one_in(6) {
        mutate_str(rng, &env)
    } else {
        env
    }
}

/// Writes `d` as a chunk; the chunk must be JSON and read back to `d`'s texts.
fn write_and_check(w: &mut ChunkWriter, d: &Delta) {
    let Some(chunk) = w.delta_chunk(d) else {
        assert!(
            d.reasoning.is_empty() && d.content.is_empty() && d.finish_reason.is_none() && d.search_results.is_none()
        );
        return;
    };
    let v: Value = serde_json::from_str(&chunk).unwrap_or_else(|e| panic!("chunk is not JSON ({e}): {chunk}"));
    assert_eq!(v["object"], "chat.completion.chunk");
    let (content, reasoning, finish) = chunk_delta(&chunk).expect("chunk_delta reads our own chunk");
    assert_eq!(content.unwrap_or_default(), d.content);
    assert_eq!(reasoning.unwrap_or_default(), d.reasoning);
    assert_eq!(finish, d.finish_reason);
}

#[test]
fn decoder_and_writer_never_panic() {
    run("decode", 8000, |rng| {
        let mut dec = Decoder::new();
        let mut w = ChunkWriter::new(&text(rng, 6), rng.one_in(2));
        let mut all = Completion::default();
        let mut usage = None;
        let mut failed = false;
        for _ in 0..1 + rng.size(30) {
            match dec.feed(&event(rng)) {
                Ok(d) => {
                    write_and_check(&mut w, &d);
                    usage = d.usage.or(usage);
                    all.add(d);
                }
                Err(e) => {
                    assert!(matches!(e.kind, ErrorKind::Protocol | ErrorKind::Api | ErrorKind::Auth), "{e:?}");
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            match dec.finish(rng.one_in(4)) {
                Ok(d) => {
                    write_and_check(&mut w, &d);
                    all.add(d);
                }
                Err(e) => assert_eq!(e.kind, ErrorKind::Truncated, "{e:?}"),
            }
        }
        if let Some(u) = w.usage_chunk(usage) {
            serde_json::from_str::<Value>(&u).expect("usage chunk is JSON");
        }
        all.usage = usage;
        let done = all.to_json(w.id(), w.created(), w.model());
        serde_json::from_str::<Value>(&done).expect("completion is JSON");
    });
}

/// What a well-formed answer-only stream means: thinking is `<think>…</think>` at the very
/// start (after whitespace); everything else is content.
fn answer_only_model(full: &str) -> (String, String) {
    match full.trim_start().strip_prefix("<think>") {
        Some(after) => match after.find("</think>") {
            Some(i) => (after[..i].to_string(), after[i + "</think>".len()..].to_string()),
            None => (after.to_string(), String::new()),
        },
        None => (String::new(), full.to_string()),
    }
}

/// `full` cut into `n` pieces at random character boundaries (empty pieces included).
fn cut(rng: &mut Rng, full: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = full.chars().collect();
    let mut at: Vec<usize> = (0..n.saturating_sub(1)).map(|_| rng.below(chars.len() + 1)).collect();
    at.sort();
    at.push(chars.len());
    let mut start = 0;
    let pieces: Vec<String> = at
        .iter()
        .map(|&end| {
            let piece = chars[start..end].iter().collect();
            start = end;
            piece
        })
        .collect();
    if n == 0 {
        Vec::new()
    } else {
        pieces
    }
}

#[test]
fn decoder_matches_the_protocol_model() {
    run("decode-model", 6000, |rng| {
        let mut dec = Decoder::new();
        let (mut reasoning, mut content, mut finish) = (String::new(), String::new(), None);
        let mut add = |d: Delta| {
            reasoning.push_str(&d.reasoning);
            content.push_str(&d.content);
            finish = d.finish_reason.or(finish.take());
        };
        let n = rng.size(20);
        if rng.one_in(2) {
            // Answer-only form, ending cleanly; one text cut anywhere, so tags get split.
            let full: String = (0..3).map(|_| think_text(rng)).collect();
            let answers = cut(rng, &full, n);
            for a in &answers {
                add(dec.feed(&json!({ "e": 0, "m": "", "d": { "answer": a, "ext": [] } }).to_string()).unwrap());
            }
            if n == 0 {
                assert_eq!(dec.finish(false).unwrap_err().kind, ErrorKind::Truncated);
                return;
            }
            add(dec.finish(false).unwrap());
            assert_eq!((reasoning, content), answer_only_model(&full), "answers {answers:?}");
            assert_eq!(finish.as_deref(), Some("stop"));
        } else {
            // 2026 form: texts are the inner deltas' texts; it must reach a finish_reason.
            let (mut want_r, mut want_c, mut want_f) = (String::new(), String::new(), None);
            for _ in 0..n {
                let r = text(rng, 6);
                let c = think_text(rng);
                let f = rng.one_in(6).then_some("stop");
                want_r.push_str(&r);
                want_c.push_str(&c);
                want_f = f.or(want_f);
                let inner =
                    json!({ "choices": [{ "delta": { "reasoning_content": r, "content": c }, "finish_reason": f }] });
                let ev = json!({ "e": 0, "m": "", "d": { "answer": "shown", "ext": { "original_stream": inner.to_string() } } });
                add(dec.feed(&ev.to_string()).unwrap());
            }
            match dec.finish(false) {
                Ok(d) => add(d),
                Err(e) => {
                    assert_eq!(e.kind, ErrorKind::Truncated);
                    assert!(want_f.is_none(), "finished stream reported as cut off");
                }
            }
            assert_eq!((reasoning, content), (want_r, want_c));
            assert_eq!(finish.as_deref(), want_f);
        }
    });
}
