//! Function calling on a server that has none (docs/PROTOCOL.md, "Function calling (ours)").
//!
//! Request side (`request.rs`): OpenAI `tools` and `tool_choice` are checked and turned into an
//! instruction that asks for our markup, `<tool_call>{"name":…,"arguments":{…}}</tool_call>`.
//!
//! Reply side: the model does not always write what it is asked for, so every form it is
//! known to write is read (`forms/`, one recogniser per family: ours and the call family's
//! wrappers, XML invocations, DeepSeek's special tokens, fences and bare JSON), by one
//! streaming stage (`scan.rs`), and turned into OpenAI `tool_calls` deltas (`stage.rs`). Only
//! declared tool names are calls; everything else stays text, in order.

mod forms;
mod markup;
mod request;
mod scan;
mod stage;
#[cfg(test)]
mod tests;

pub use request::{render_calls, too_many_tools, ToolSpec};
#[cfg(any(test, fuzzing))]
pub use stage::CallParser;
pub use stage::{ToolCallDelta, ToolStage};

/// The label of a tool result in the history (the 2026 client's convention).
pub fn result_label(name: &str) -> String {
    format!("[工具 {name} 执行结果]")
}

/// One call found in the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub name: String,
    /// Always a JSON object, as a string.
    pub arguments: String,
}

/// What the parser hands on, in reply order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Call(ToolCall),
}
