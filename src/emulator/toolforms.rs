//! `@emu:tool-form=FORM`: the markup the fake model writes its `@emu:tool=…` calls in, one
//! directive per form the library reads (docs/PROTOCOL.md, "Tool calls as the model writes
//! them"), so that a test can run the tool loop through any of them.

use serde_json::{json, Value};

/// The forms, by directive value.
pub const FORMS: &[&str] = &[
    "ours",
    "invoke",
    "invoke-bare",
    "tool-call-invoke",
    "self-closing",
    "fence-xml",
    "fence-json",
    "special",
    "json",
    "typo",
    "reasoning",
];

/// The calls (name, JSON arguments text) in `form`; None for an unknown form. `reasoning` is
/// written as `ours` (the caller puts it in the reasoning).
pub fn render(form: &str, calls: &[(String, String)]) -> Option<String> {
    let each =
        |f: &dyn Fn(&str, &str) -> String, sep: &str| calls.iter().map(|(n, a)| f(n, a)).collect::<Vec<_>>().join(sep);
    let ours = |n: &str, a: &str| format!("<tool_call>{{\"name\":{},\"arguments\":{a}}}</tool_call>", json!(n));
    let invokes = || each(&invoke, "\n");
    Some(match form {
        "ours" | "reasoning" => each(&ours, "\n"),
        "typo" => each(&|n, a| format!("<tool_call>{{\"name\":{},\"arguments\":{a}}}</calls>", json!(n)), "\n"),
        "invoke" => format!("<tool_calls>\n{}\n</tool_calls>", invokes()),
        "invoke-bare" => invokes(),
        "tool-call-invoke" => each(&|n, a| format!("<tool_call>\n{}\n</tool_call>", invoke(n, a)), "\n"),
        "self-closing" => each(
            &|n, a| {
                let attrs: String =
                    params(a).iter().map(|(k, v)| format!(" {k}=\"{}\"", v.replace('"', "&quot;"))).collect();
                format!("<{n}{attrs}/>")
            },
            "\n",
        ),
        "fence-xml" => format!("```xml\n<tool_calls>\n{}\n</tool_calls>\n```", invokes()),
        "fence-json" => each(&|n, a| format!("```json\n{{\"name\": {}, \"arguments\": {a}}}\n```", json!(n)), "\n"),
        "json" => each(&|n, a| format!("{{\"name\": {}, \"parameters\": {a}}}", json!(n)), "\n"),
        "special" => format!(
            "<｜tool▁calls▁begin｜>{}<｜tool▁calls▁end｜>",
            each(
                &|n, a| format!("<｜tool▁call▁begin｜>function<｜tool▁sep｜>{n}\n```json\n{a}\n```<｜tool▁call▁end｜>"),
                ""
            )
        ),
        _ => return None,
    })
}

/// An XML invocation of `name` with the arguments object's members as parameters.
fn invoke(name: &str, args: &str) -> String {
    let ps: String = params(args).iter().map(|(k, v)| format!("\n<parameter name=\"{k}\">{v}</parameter>")).collect();
    format!("<invoke name=\"{name}\">{ps}\n</invoke>")
}

/// The arguments' members as parameter texts: a string as itself, anything else as JSON.
fn params(args: &str) -> Vec<(String, String)> {
    match serde_json::from_str::<Value>(args) {
        Ok(Value::Object(o)) => o
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    match v {
                        Value::String(s) => s,
                        v => v.to_string(),
                    },
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}
