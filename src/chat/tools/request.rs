//! Request side: OpenAI `tools` and `tool_choice` are checked, and turned into an instruction
//! in the system prefix that asks the model to answer a call with one markup,
//! `<tool_call>{"name":…,"arguments":{…}}</tool_call>`. Earlier assistant `tool_calls` are
//! rendered back into that markup, so the history reads as the model would have written it
//! (and shows the model the form once more).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::result_label;
use crate::error::{Error, Result};
use crate::limits::MAX_TOOLS;
use crate::upstream::envelope::excerpt;

/// What `tool_choice` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Auto,
    None,
    Required,
    Named(String),
}

/// The checked `tools` / `tool_choice` / `parallel_tool_calls` of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// One compact JSON line per tool: `{"name":…,"description":…,"parameters":…}`.
    lines: Vec<String>,
    /// The declared names: the only ones the reply side recognises as calls.
    pub names: Vec<String>,
    pub choice: Choice,
    parallel: bool,
}

impl ToolSpec {
    /// Reads and checks the request's tool fields; None when the request has no tools.
    pub fn parse(req: &Map<String, Value>) -> Result<Option<ToolSpec>> {
        let mut names: Vec<String> = Vec::new();
        // Where each name was declared: duplicates are found in one pass.
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut lines = Vec::new();
        match req.get("tools") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) if list.len() > MAX_TOOLS => return Err(too_many_tools()),
            Some(Value::Array(list)) => {
                for (i, tool) in list.iter().enumerate() {
                    let (name, line) = tool_line(tool, i)?;
                    if let Some(j) = seen.insert(name.clone(), i) {
                        return Err(Error::invalid_request(format!(
                            "tools[{j}] and tools[{i}] are both named {}; tool names must differ",
                            excerpt(&name)
                        )));
                    }
                    names.push(name);
                    lines.push(line);
                }
            }
            Some(_) => return Err(Error::invalid_request("\"tools\" must be a list of {\"type\":\"function\",…}")),
        }
        let choice = choice(req.get("tool_choice"))?;
        match &choice {
            Choice::Required if names.is_empty() => {
                return Err(Error::invalid_request("\"tool_choice\" is \"required\" but \"tools\" is missing or empty"))
            }
            Choice::Named(n) if !names.contains(n) => {
                return Err(Error::invalid_request(format!(
                    "\"tool_choice\" names the function {}, which is not in \"tools\"",
                    excerpt(n)
                )))
            }
            _ => {}
        }
        let parallel = match req.get("parallel_tool_calls") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(Error::invalid_request("\"parallel_tool_calls\" must be true or false")),
        };
        Ok((!names.is_empty()).then_some(ToolSpec { lines, names, choice, parallel }))
    }

    /// Whether the reply is searched for calls: there are tools and the choice is not `none`.
    pub fn parses_calls(&self) -> bool {
        self.choice != Choice::None
    }

    /// The tool-use instruction for the system prefix; None for `tool_choice: "none"`.
    pub fn instruction(&self) -> Option<String> {
        let last = match &self.choice {
            Choice::None => return None,
            Choice::Auto => {
                "- Call a tool only when it helps to answer; otherwise answer directly, without the markup.".to_string()
            }
            Choice::Required => "- You must call at least one of these tools now; do not answer directly.".to_string(),
            Choice::Named(n) => format!("- You must call the tool {n} in this reply; do not answer directly."),
        };
        let mut text = String::from(
            "## Tools\nYou can call these tools. Each line is one tool as JSON: its name, what it does, \
             and the JSON Schema of its arguments.\n",
        );
        for line in &self.lines {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(
            "\nTo call a tool, write exactly this markup, with arguments that follow the tool's schema:\n\
             <tool_call>{\"name\":\"TOOL_NAME\",\"arguments\":{\"PARAM\":\"VALUE\"}}</tool_call>\n\
             - One <tool_call> block per call, holding only that JSON; not in a code block.\n",
        );
        if self.parallel {
            text.push_str("- Several calls may follow one another in one reply.\n");
        } else {
            text.push_str("- Call at most one tool in a reply.\n");
        }
        text.push_str(&format!(
            "- After your calls, stop and wait: each result comes back in the next message as \"{}\" \
             followed by the result. Never make up a result.\n",
            result_label("TOOL_NAME")
        ));
        text.push_str(&last);
        Some(text)
    }
}

/// The refusal of a `tools` list over `MAX_TOOLS` entries.
pub fn too_many_tools() -> Error {
    Error::invalid_request(format!("\"tools\" has more than {MAX_TOOLS} entries; at most {MAX_TOOLS} are accepted"))
}

/// OpenAI's rule for function names.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks `tools[i]` and gives its name and its line in the instruction.
fn tool_line(tool: &Value, i: usize) -> Result<(String, String)> {
    let bad = |what: &str| Error::invalid_request(format!("tools[{i}]{what}"));
    let Value::Object(tool) = tool else {
        return Err(bad(" must be an object {\"type\":\"function\",\"function\":{…}}"));
    };
    match tool.get("type") {
        Some(Value::String(t)) if t == "function" => {}
        Some(Value::String(t)) => {
            return Err(bad(&format!(".type is {}; only \"function\" tools are supported", excerpt(t))))
        }
        _ => return Err(bad(".type must be \"function\"")),
    }
    let Some(Value::Object(f)) = tool.get("function") else {
        return Err(bad(".function must be an object with a \"name\""));
    };
    let name = match f.get("name") {
        Some(Value::String(n)) if valid_name(n) => n.clone(),
        Some(Value::String(n)) => {
            return Err(bad(&format!(".function.name {} must be 1 to 64 letters, digits, '_' or '-'", excerpt(n))))
        }
        _ => return Err(bad(".function.name must be a string")),
    };
    let mut line = json!({ "name": name });
    match f.get("description") {
        None | Some(Value::Null) => {}
        Some(Value::String(d)) => line["description"] = json!(d),
        Some(_) => return Err(bad(".function.description must be a string")),
    }
    match f.get("parameters") {
        None | Some(Value::Null) => {}
        Some(p @ Value::Object(_)) => line["parameters"] = p.clone(),
        Some(_) => return Err(bad(".function.parameters must be a JSON Schema object")),
    }
    if !matches!(f.get("strict"), None | Some(Value::Null) | Some(Value::Bool(_))) {
        return Err(bad(".function.strict must be true or false"));
    }
    Ok((name, line.to_string()))
}

fn choice(v: Option<&Value>) -> Result<Choice> {
    const EXPECTED: &str =
        "\"tool_choice\" must be \"auto\", \"none\", \"required\" or {\"type\":\"function\",\"function\":{\"name\":…}}";
    match v {
        None | Some(Value::Null) => Ok(Choice::Auto),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Ok(Choice::Auto),
            "none" => Ok(Choice::None),
            "required" => Ok(Choice::Required),
            _ => Err(Error::invalid_request(format!("{EXPECTED}, not {}", excerpt(s)))),
        },
        Some(Value::Object(o)) => {
            let name = o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str);
            match (o.get("type").and_then(Value::as_str), name) {
                (Some("function"), Some(n)) => Ok(Choice::Named(n.to_string())),
                _ => Err(Error::invalid_request(EXPECTED)),
            }
        }
        Some(_) => Err(Error::invalid_request(EXPECTED)),
    }
}

/// An assistant message's `tool_calls` (or legacy `function_call`) as the markup the model
/// would have written, one call per line; empty when it has none.
pub fn render_calls(msg: &Map<String, Value>, i: usize) -> Result<String> {
    let mut out = Vec::new();
    match msg.get("tool_calls") {
        None | Some(Value::Null) => {}
        Some(Value::Array(calls)) => {
            for (j, call) in calls.iter().enumerate() {
                let at = format!("messages[{i}].tool_calls[{j}]");
                let Value::Object(call) = call else {
                    return Err(Error::invalid_request(format!("{at} must be an object")));
                };
                if !matches!(call.get("type"), None | Some(Value::Null))
                    && call.get("type").and_then(Value::as_str) != Some("function")
                {
                    return Err(Error::invalid_request(format!("{at}.type must be \"function\"")));
                }
                out.push(render_function(call.get("function"), &format!("{at}.function"))?);
            }
        }
        Some(_) => return Err(Error::invalid_request(format!("messages[{i}].tool_calls must be a list"))),
    }
    if let Some(f) = msg.get("function_call").filter(|v| !v.is_null()) {
        out.push(render_function(Some(f), &format!("messages[{i}].function_call"))?);
    }
    Ok(out.join("\n"))
}

/// `{"name":…,"arguments":…}` → `<tool_call>…</tool_call>`. The arguments are written as they
/// were given (a JSON string literal is written encoded), so that parsing the markup gives them
/// back unchanged.
fn render_function(f: Option<&Value>, at: &str) -> Result<String> {
    let Some(Value::Object(f)) = f else {
        return Err(Error::invalid_request(format!("{at} must be an object with \"name\" and \"arguments\"")));
    };
    let name = match f.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => n,
        _ => return Err(Error::invalid_request(format!("{at}.name must be a non-empty string"))),
    };
    let args = match f.get("arguments") {
        None | Some(Value::Null) => "{}".to_string(),
        Some(Value::String(s)) if s.trim().is_empty() => "{}".to_string(),
        Some(Value::String(s)) if s.trim_start().starts_with('"') => Value::String(s.clone()).to_string(),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(v @ (Value::Object(_) | Value::Array(_))) => v.to_string(),
        Some(_) => return Err(Error::invalid_request(format!("{at}.arguments must be a string"))),
    };
    Ok(format!("<tool_call>{{\"name\":{},\"arguments\":{args}}}</tool_call>", Value::String(name.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn spec(req: Value) -> Result<Option<ToolSpec>> {
        ToolSpec::parse(req.as_object().unwrap())
    }

    fn weather() -> Value {
        json!({"type": "function", "function": {"name": "get_weather", "description": "Current weather of a city",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
    }

    #[test]
    fn tools_and_choices_are_checked() {
        let tools = json!([weather()]);
        assert_eq!(spec(json!({})).unwrap(), None);
        assert_eq!(spec(json!({"tools": []})).unwrap(), None);
        assert_eq!(spec(json!({"tools": [], "tool_choice": "none"})).unwrap(), None);
        assert_eq!(spec(json!({"tools": tools})).unwrap().unwrap().choice, Choice::Auto);
        let named = json!({"type": "function", "function": {"name": "get_weather"}});
        assert_eq!(
            spec(json!({"tools": tools, "tool_choice": named})).unwrap().unwrap().choice,
            Choice::Named("get_weather".into())
        );
        let none = spec(json!({"tools": tools, "tool_choice": "none"})).unwrap().unwrap();
        assert!(!none.parses_calls() && none.instruction().is_none());
        let f = |name: &str| json!({"type": "function", "function": {"name": name}});
        let bad = [
            (json!({"tools": {}}), "\"tools\" must be a list"),
            (json!({"tools": [1]}), "tools[0] must be an object"),
            (json!({"tools": [{"type": "code_interpreter"}]}), "only \"function\" tools"),
            (json!({"tools": [{"function": {"name": "f"}}]}), "tools[0].type must be \"function\""),
            (json!({"tools": [{"type": "function"}]}), "tools[0].function must be an object"),
            (json!({"tools": [f("a b")]}), "letters, digits"),
            (json!({"tools": [f(&"x".repeat(65))]}), "letters, digits"),
            (json!({"tools": [{"type": "function", "function": {}}]}), "function.name must be a string"),
            (json!({"tools": [f("a"), f("b"), f("a")]}), "tools[0] and tools[2] are both named"),
            (json!({"tools": [{"type": "function", "function": {"name": "a", "parameters": "{}"}}]}), "JSON Schema"),
            (json!({"tools": [{"type": "function", "function": {"name": "a", "description": 1}}]}), "description"),
            (json!({"tools": [{"type": "function", "function": {"name": "a", "strict": "yes"}}]}), "strict"),
            (json!({"tools": tools, "tool_choice": "any"}), "\"tool_choice\" must be"),
            (json!({"tools": tools, "tool_choice": {"type": "function"}}), "\"tool_choice\" must be"),
            (json!({"tools": tools, "tool_choice": 1}), "\"tool_choice\" must be"),
            (
                json!({"tools": tools, "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
                "not in \"tools\"",
            ),
            (json!({"tool_choice": "required"}), "\"tools\" is missing or empty"),
            (json!({"tools": tools, "parallel_tool_calls": 1}), "parallel_tool_calls"),
        ];
        for (req, msg) in bad {
            let e = spec(req.clone()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{req}");
            assert!(e.message.contains(msg), "{req}: {}", e.message);
        }
    }

    #[test]
    fn instruction_lists_the_tools_and_the_choice() {
        let tools = json!([weather(), {"type": "function", "function": {"name": "now"}}]);
        let text = |extra: Value| {
            let mut req = json!({"tools": tools});
            req.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            spec(req).unwrap().unwrap().instruction().unwrap()
        };
        let auto = text(json!({}));
        assert!(auto.contains(r#"{"name":"get_weather","description":"Current weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}"#));
        assert!(auto.contains("\n{\"name\":\"now\"}\n"));
        assert!(auto.contains("<tool_call>{\"name\":\"TOOL_NAME\""));
        assert!(auto.contains("[工具 TOOL_NAME 执行结果]"));
        assert!(auto.ends_with("otherwise answer directly, without the markup."));
        assert!(text(json!({"tool_choice": "required"}))
            .ends_with("at least one of these tools now; do not answer directly."));
        let named = text(json!({"tool_choice": {"type": "function", "function": {"name": "now"}}}));
        assert!(named.ends_with("You must call the tool now in this reply; do not answer directly."));
        assert!(text(json!({"parallel_tool_calls": false})).contains("at most one tool"));
        // The instruction of docs/PROTOCOL.md is the one the code writes.
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/PROTOCOL.md")).unwrap();
        let one = spec(json!({"tools": [weather()]})).unwrap().unwrap().instruction().unwrap();
        assert!(doc.contains(&format!("```text\n{one}\n```")), "docs/PROTOCOL.md shows another instruction:\n{one}");
    }
}
