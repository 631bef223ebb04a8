//! The reply side as a whole: every accepted form, cut anywhere, through the parser and the
//! stage. Each form of the table in docs/PROTOCOL.md ("Tool calls as the model writes them")
//! names the test here that covers it.

use serde_json::json;

use super::stage::CallParser;
use super::*;
use crate::chat::decode::Delta;
use crate::error::ErrorKind;
use crate::limits::MAX_TOOL_CALL_BYTES;

/// The tools every test declares.
const NAMES: &[&str] = &["f", "a", "b", "get_weather", "read", "search"];

fn parser() -> CallParser {
    CallParser::new(NAMES.iter().map(|n| n.to_string()))
}

fn call(name: &str, args: &str) -> Piece {
    Piece::Call(ToolCall { name: name.into(), arguments: args.into() })
}

fn text(t: &str) -> Piece {
    Piece::Text(t.into())
}

fn whole(reply: &str) -> Vec<Piece> {
    feed_split(reply, &[])
}

fn feed_split(reply: &str, cuts: &[usize]) -> Vec<Piece> {
    parser().cut_and_parse(reply, cuts)
}

/// Cut at every char boundary, at every pair of boundaries for short replies, and one char
/// per feed: always the unsplit result.
fn assert_split_invariant(reply: &str) {
    let expected = whole(reply);
    let bounds: Vec<usize> = (1..reply.len()).filter(|&i| reply.is_char_boundary(i)).collect();
    for &i in &bounds {
        assert_eq!(feed_split(reply, &[i]), expected, "{reply:?} cut at {i}");
    }
    if reply.len() <= 100 {
        for (k, &i) in bounds.iter().enumerate() {
            for &j in &bounds[k + 1..] {
                assert_eq!(feed_split(reply, &[i, j]), expected, "{reply:?} cut at {i} and {j}");
            }
        }
    }
    assert_eq!(feed_split(reply, &bounds), expected, "{reply:?} one char at a time");
}

/// Every form, with what it must become.
pub(super) fn forms() -> Vec<(&'static str, &'static str, Vec<Piece>)> {
    let w = |city: &str| format!("{{\"city\":\"{city}\"}}");
    vec![
        // -- ours
        ("ours", "好的，我来查一下。\n<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"北京\"}}</tool_call>",
         vec![text("好的，我来查一下。\n"), call("get_weather", &w("北京"))]),
        ("ours, two, text after", "<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call>\n<tool_call>{\"name\":\"b\",\"arguments\":{\"x\":[1,{\"y\":\"}\"}]}}</tool_call>然后",
         vec![call("a", "{}"), call("b", "{\"x\":[1,{\"y\":\"}\"}]}"), text("然后")]),
        ("ours, spaces and case", "< TOOL_CALL >\n{ \"arguments\" : {\"q\": \"a<b\"}, \"name\" : \"search\" }\n< / Tool_Call >",
         vec![call("search", "{\"q\":\"a<b\"}")]),
        ("ours, arguments as a JSON string", "<tool_call>{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}</tool_call>",
         vec![call("f", "{\"a\":1}")]),
        ("ours, closing typo </calls>", "<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}}</calls>",
         vec![call("f", "{\"a\":1}")]),
        ("ours, closing typo </tool_calls>", "<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}}</tool_calls>",
         vec![call("f", "{\"a\":1}")]),
        ("ours, a brace short", "<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}</tool_call>",
         vec![call("f", "{\"a\":1}")]),
        ("ours, OpenAI's shape", "<tool_call>{\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}</tool_call>",
         vec![call("f", "{}")]),
        // -- the plural wrapper, JSON calls inside
        ("tool_calls wrapper", "前文\n<tool_calls>\n<tool_call>{\"name\":\"a\"}</tool_call>\n<tool_call>{\"name\":\"b\"}</tool_call>\n</tool_calls>\n后文",
         vec![text("前文\n"), call("a", "{}"), call("b", "{}"), text("\n后文")]),
        // -- XML invocations
        ("invoke in tool_calls", "<tool_calls>\n<invoke name=\"read\">\n<parameter name=\"path\">a.py</parameter>\n<parameter name=\"lines\">[1, 20]</parameter>\n</invoke>\n<invoke name=\"get_weather\"><parameter name=\"city\">北京</parameter></invoke>\n</tool_calls>",
         vec![call("read", "{\"path\":\"a.py\",\"lines\":[1,20]}"), call("get_weather", &w("北京"))]),
        ("invoke bare", "我来读。<invoke name='read' id=\"x\"><parameter name='path' string=\"true\">a.py</parameter></invoke>",
         vec![text("我来读。"), call("read", "{\"path\":\"a.py\"}")]),
        ("invoke in tool_call", "<tool_call>\n<INVOKE NAME=\"read\"><Parameter name=\"n\">3</Parameter></INVOKE>\n</tool_call>",
         vec![call("read", "{\"n\":3}")]),
        ("invoke, closing typo", "<tool_calls><invoke name=\"read\"><parameter name=\"path\">a.py</parameter></invoke></calls>",
         vec![call("read", "{\"path\":\"a.py\"}")]),
        // -- self-closing
        ("self-closing", "先读文件 <read path=\"a.py\"/> 再说", vec![text("先读文件 "), call("read", "{\"path\":\"a.py\"}"), text(" 再说")]),
        ("self-closing in a wrapper", "<tool_calls><read path='a.py' max=10 /></tool_calls>", vec![call("read", "{\"path\":\"a.py\",\"max\":10}")]),
        // -- fences
        ("fence xml", "好的：\n```xml\n<tool_calls>\n<invoke name=\"read\"><parameter name=\"path\">a.py</parameter></invoke>\n</tool_calls>\n```\n完成",
         vec![text("好的：\n"), call("read", "{\"path\":\"a.py\"}"), text("\n完成")]),
        ("fence json", "```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"北京\"}}\n```",
         vec![call("get_weather", &w("北京"))]),
        ("fence json, parameters", "```\n{\"name\":\"f\",\"parameters\":{\"a\":1}}\n```", vec![call("f", "{\"a\":1}")]),
        ("fence around ours", "```xml\n<tool_call>{\"name\":\"f\"}</tool_call>\n```", vec![call("f", "{}")]),
        // -- bare JSON
        ("bare json, whole answer", "\n{\"name\": \"search\", \"parameters\": {\"q\": \"北科大\"}}\n",
         vec![text("\n"), call("search", "{\"q\":\"北科大\"}")]),
        // -- DeepSeek's special tokens
        ("special tokens", "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"北京\"}\n```<｜tool▁call▁end｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>read\n```json\n{\"path\": \"a.py\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
         vec![call("get_weather", &w("北京")), call("read", "{\"path\":\"a.py\"}")]),
        ("special tokens, later variant", "<｜tool▁call▁begin｜>read<｜tool▁sep｜>{\"path\":\"b.py\"}<｜tool▁call▁end｜>",
         vec![call("read", "{\"path\":\"b.py\"}")]),
        // -- text that only looks like markup
        ("text with < and >", "1<2 且 3>1，<b>粗体</b>，<br/>，a < b <tool <tool_cal <tool_callx> <tool_call",
         vec![text("1<2 且 3>1，<b>粗体</b>，<br/>，a < b <tool <tool_cal <tool_callx> <tool_call")]),
        ("undeclared names", "<tool_call>{\"name\":\"rm\",\"arguments\":{}}</tool_call><invoke name=\"rm\"></invoke><rm path=\"/\"/>",
         vec![text("<tool_call>{\"name\":\"rm\",\"arguments\":{}}</tool_call><invoke name=\"rm\"></invoke><rm path=\"/\"/>")]),
        ("unclosed", "<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}", vec![text("<tool_call>{\"name\":\"f\",\"arguments\":{\"a\":1}")]),
        ("not JSON, no name", "<tool_call>not json</tool_call> and <tool_call>{\"arguments\":{}}</tool_call>",
         vec![text("<tool_call>not json</tool_call> and <tool_call>{\"arguments\":{}}</tool_call>")]),
        ("arguments not an object", "<tool_call>{\"name\":\"f\",\"arguments\":{city: 北京}}</tool_call>",
         vec![text("<tool_call>{\"name\":\"f\",\"arguments\":{city: 北京}}</tool_call>")]),
        ("stray closers", "x</tool_call>y<    tool_call>z", vec![text("x</tool_call>y<    tool_call>z")]),
        ("a code block stays", "例子：\n```python\nprint(1 < 2)\n```\n", vec![text("例子：\n```python\nprint(1 < 2)\n```\n")]),
        ("empty wrapper stays", "<tool_calls></tool_calls>", vec![text("<tool_calls></tool_calls>")]),
        ("JSON answer not a call", "{\"city\": \"北京\", \"temp\": 3}", vec![text("{\"city\": \"北京\", \"temp\": 3}")]),
        ("bare JSON with text after", "{\"name\":\"f\"} 然后", vec![text("{\"name\":\"f\"} 然后")]),
    ]
}

#[test]
fn every_form_gives_its_calls_and_text() {
    for (name, reply, want) in forms() {
        assert_eq!(whole(reply), want, "{name}: {reply:?}");
    }
}

#[test]
fn every_form_split_anywhere_gives_the_unsplit_result() {
    for (name, reply, _) in forms() {
        if reply.len() > 400 {
            continue; // pairs of cuts grow with the square; one cut and one char each below
        }
        let _ = name;
        assert_split_invariant(reply);
    }
}

#[test]
fn a_call_longer_than_the_limit_is_text() {
    let long = format!(
        "<tool_call>{{\"name\":\"f\",\"arguments\":\"{}\"}}</tool_call>",
        "a".repeat(MAX_TOOL_CALL_BYTES + 10_000)
    );
    let mut p = parser();
    let mut out = Vec::new();
    for piece in long.as_bytes().chunks(4096) {
        p.feed(std::str::from_utf8(piece).unwrap(), &mut out);
    }
    p.finish(&mut out);
    let all: String = out.iter().map(|p| if let Piece::Text(t) = p { t.as_str() } else { panic!("a call") }).collect();
    assert_eq!(all, long);
}

/// Median CPU seconds of feeding `n` bytes of `unit` repeated, in 4 KiB pieces, to a parser
/// whose forms waiting for a closer hold at most `limit` bytes.
fn feeding_secs(unit: &str, n: usize, limit: usize) -> f64 {
    let reply = unit.repeat(n / unit.len() + 1);
    crate::util::median_cpu_secs(5, || {
        let mut p = CallParser::with_limit(NAMES.iter().map(|n| n.to_string()), limit);
        let mut out = Vec::new();
        let mut at = 0;
        while at < n {
            let mut end = (at + 4096).min(n);
            while !reply.is_char_boundary(end) {
                end += 1;
            }
            p.feed(&reply[at..end], &mut out);
            out.clear();
            at = end;
        }
        p.finish(&mut out);
    })
}

/// Near-markup of every family, repeated and never closed: four times the input costs at most
/// ~8× the CPU time (linear gives 4×, quadratic 16×). Below the limit, and far past it (where
/// forms are given up one after another, which once searched the whole held text again each
/// time: ~1,000× for a doubling).
#[test]
fn near_markup_parses_in_linear_time() {
    let units = [
        "<tool_call>",
        "<tool_call>{\"name\":\"f\",",
        "<invoke name=\"read\">",
        "<tool_calls><invoke name=\"read\"><parameter name=\"p\">",
        "<｜tool▁call▁begin｜>",
        "</b><b>1<2>",
        "```json\n{\"name\":\"f\"\n",
        // Forms waiting for different closers, taking turns.
        "<tool_call>{\"name\":\"f\",<invoke name=\"read\"><｜tool▁call▁begin｜>",
    ];
    for unit in units {
        for (size, limit) in [(128 << 10, MAX_TOOL_CALL_BYTES), (64 << 10, 32 << 10)] {
            let (one, four) = (feeding_secs(unit, size, limit), feeding_secs(unit, 4 * size, limit));
            eprintln!(
                "{unit:?}, limit {limit}: {size} bytes {one:.4} CPU s, {} bytes {four:.4}, ratio {:.2}",
                4 * size,
                four / one.max(1e-9)
            );
            assert!(four <= 8.0 * one || four < 0.02, "{unit:?}, limit {limit}: {one} → {four}");
        }
    }
}

#[test]
fn one_long_event_is_queued_a_slice_at_a_time() {
    // 20k calls in one delta were 40k deltas queued at once (a 16 MiB event of tiny calls
    // held 334 MB), whatever max_reply_bytes said.
    let unit = "<tool_call>{\"name\":\"f\"}</tool_call>";
    let mut stage = ToolStage::new(NAMES.iter().map(|n| n.to_string()), "");
    stage.push(Delta { content: unit.repeat(20_000), finish_reason: Some("stop".into()), ..Delta::default() });
    let most = 2 * (64 * 1024 / unit.len() + 1) + 2;
    let (mut calls, mut finish) = (0, None);
    loop {
        assert!(stage.queued() <= most, "{} deltas queued", stage.queued());
        let Some(d) = stage.pop() else { break };
        calls += d.tool_calls.iter().filter(|c| c.id.is_some()).count();
        finish = d.finish_reason.or(finish);
    }
    assert_eq!((calls, finish.as_deref()), (20_000, Some("tool_calls")));
}

#[test]
fn rendered_calls_parse_back_to_the_same_call() {
    // Arguments that are an object (or none) read back as the same object; others are not
    // a call the library would have made, and read back as text.
    let args = [
        ("{\"city\":\"北京\"}", Some("{\"city\":\"北京\"}")),
        ("  {\"a\": [1, 2]}  ", Some("{\"a\":[1,2]}")),
        ("", Some("{}")),
        ("{city: 北京}", None),
        ("\"quoted\"", None),
        ("[1]", None),
        ("7", None),
    ];
    for (a, want) in args {
        let msg = json!({"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                             "function": {"name": "f", "arguments": a}}]});
        let markup = render_calls(msg.as_object().unwrap(), 0).unwrap();
        let want = match want {
            Some(w) => vec![call("f", w)],
            None => vec![text(&markup)],
        };
        assert_eq!(whole(&markup), want, "{a:?} → {markup}");
    }
    let msg = json!({"role": "assistant", "function_call": {"name": "g", "arguments": "{}"},
                         "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]});
    assert_eq!(
            render_calls(msg.as_object().unwrap(), 2).unwrap(),
            "<tool_call>{\"name\":\"f\",\"arguments\":{\"x\":1}}</tool_call>\n<tool_call>{\"name\":\"g\",\"arguments\":{}}</tool_call>"
        );
    let bad = [
        (json!({"tool_calls": {}}), "messages[2].tool_calls must be a list"),
        (json!({"tool_calls": [1]}), "messages[2].tool_calls[0] must be an object"),
        (json!({"tool_calls": [{"type": "x", "function": {"name": "f"}}]}), "tool_calls[0].type"),
        (json!({"tool_calls": [{"function": {"name": ""}}]}), "tool_calls[0].function.name"),
        (json!({"tool_calls": [{"function": {"name": "f", "arguments": 1}}]}), "arguments must be a string"),
        (json!({"tool_calls": [{"id": "x"}]}), "tool_calls[0].function must be an object"),
        (json!({"function_call": "f"}), "messages[2].function_call must be an object"),
    ];
    for (msg, want) in bad {
        let e = render_calls(msg.as_object().unwrap(), 2).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert!(e.message.contains(want), "{msg}: {}", e.message);
    }
}

/// Deltas of a stage fed `pieces` of content (the first with `reasoning`) and a finish.
fn stage_run(pieces: &[&str], reasoning: &str) -> Vec<Delta> {
    let mut stage = ToolStage::new(
        NAMES.iter().map(|n| n.to_string()),
        "<tool_call>{\"name\":\"read\",\"arguments\":{\"path\":\"old\"}}</tool_call>",
    );
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let r = if i == 0 { reasoning.to_string() } else { String::new() };
        stage.push(Delta { content: p.to_string(), reasoning: r, ..Delta::default() });
        out.extend(std::iter::from_fn(|| stage.pop()));
    }
    stage.push(Delta { finish_reason: Some("stop".into()), ..Delta::default() });
    out.extend(std::iter::from_fn(|| stage.pop()));
    out
}

#[test]
fn stage_turns_calls_into_deltas_in_order() {
    let reasoning = "想想 <tool_call>{\"name\":\"a\"}</tool_call>";
    let deltas =
        stage_run(&["先说<tool_", "call>{\"name\":\"f\",\"arguments\":{\"a\":1}}</tool_call>", "后记"], reasoning);
    assert_eq!(deltas[0].reasoning, reasoning, "reasoning passes untouched");
    assert_eq!(deltas[0].content, "先说");
    let first = &deltas[1].tool_calls[0];
    assert_eq!((first.index, first.name.as_deref(), first.arguments.as_str()), (0, Some("f"), ""));
    assert!(first.id.as_deref().unwrap().starts_with("call_") && first.id.as_ref().unwrap().len() == 29);
    assert_eq!(
        deltas[2].tool_calls,
        vec![ToolCallDelta { index: 0, id: None, name: None, arguments: "{\"a\":1}".into() }]
    );
    assert_eq!(deltas[3].content, "后记");
    assert_eq!(deltas[4].finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(deltas.len(), 5, "the answer made a call: the reasoning's is not made");

    // No call: the finish stays "stop"; an unclosed markup comes back before it.
    let deltas = stage_run(&["a<tool_call>{\"name\":"], "");
    assert_eq!(deltas.iter().map(|d| d.content.as_str()).collect::<String>(), "a<tool_call>{\"name\":");
    assert_eq!(deltas.last().unwrap().finish_reason.as_deref(), Some("stop"));

    // Two calls: indexes 0 and 1, distinct ids; the finish in a chunk of its own.
    let deltas = stage_run(&["<tool_call>{\"name\":\"a\"}</tool_call><tool_call>{\"name\":\"b\"}</tool_call>"], "");
    let ids: Vec<_> = deltas.iter().flat_map(|d| &d.tool_calls).filter_map(|t| t.id.clone()).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert_eq!(deltas.iter().flat_map(|d| &d.tool_calls).map(|t| t.index).collect::<Vec<_>>(), [0, 0, 1, 1]);
    let last = deltas.last().unwrap();
    assert!(last.tool_calls.is_empty() && last.content.is_empty());
    assert_eq!(last.finish_reason.as_deref(), Some("tool_calls"));
}

#[test]
fn a_call_written_only_in_the_reasoning_is_the_replys_call() {
    let names = |deltas: &[Delta]| -> Vec<String> {
        deltas.iter().flat_map(|d| &d.tool_calls).filter_map(|t| t.name.clone()).collect()
    };
    let reasoning = "先查天气：<tool_calls><invoke name=\"get_weather\"><parameter name=\"city\">北京</parameter></invoke></tool_calls>";
    let deltas = stage_run(&["我来查一下。"], reasoning);
    assert_eq!(deltas[0].reasoning, reasoning, "reasoning text stays as it was");
    assert_eq!(deltas.iter().map(|d| d.content.as_str()).collect::<String>(), "我来查一下。");
    assert_eq!(names(&deltas), ["get_weather"]);
    assert_eq!(deltas.last().unwrap().finish_reason.as_deref(), Some("tool_calls"));
    // The last group only: an earlier call the model then talked past is not made twice.
    let deltas = stage_run(&["好"], "<read path=\"x\"/> 不对，应该 <tool_call>{\"name\":\"a\"}</tool_call><tool_call>{\"name\":\"b\"}</tool_call> 然后回答");
    assert_eq!(names(&deltas), ["a", "b"]);
    // A call the history holds, recalled: not made again.
    let deltas = stage_run(&["完成了"], "刚才 <read path=\"old\"/> 已经读过");
    assert!(names(&deltas).is_empty());
    // Undeclared, or no call at all in the reasoning: nothing.
    let deltas = stage_run(&["好"], "<tool_call>{\"name\":\"rm\"}</tool_call>");
    assert!(names(&deltas).is_empty());
    assert_eq!(deltas.last().unwrap().finish_reason.as_deref(), Some("stop"));
}

/// Past a (small) limit, what is a call and what is text still does not depend on the cuts:
/// the limit counts bytes before a form's closer, not text that came in the same piece.
#[test]
fn the_limit_does_not_depend_on_the_cuts() {
    let names = || NAMES.iter().map(|n| n.to_string());
    for limit in [24, 40, 64] {
        for (name, reply, _) in forms() {
            let reply = format!("{reply}{}", "后文 and more text ".repeat(8));
            let whole = CallParser::with_limit(names(), limit).cut_and_parse(&reply, &[]);
            let bounds: Vec<usize> = (1..reply.len()).filter(|&i| reply.is_char_boundary(i)).collect();
            let trickled = CallParser::with_limit(names(), limit).cut_and_parse(&reply, &bounds);
            assert_eq!(trickled, whole, "{name}, limit {limit}, one char at a time");
            for &i in bounds.iter().step_by(7) {
                let cut = CallParser::with_limit(names(), limit).cut_and_parse(&reply, &[i]);
                assert_eq!(cut, whole, "{name}, limit {limit}, cut at {i}");
            }
        }
    }
}
