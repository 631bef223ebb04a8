//! Every size limit and default of the library, in one place (the emulator uses the same
//! figures). docs/PROTOCOL.md explains where each comes from.

/// Contexts of this many characters or more failed upstream at once with 4028 (≈223k
/// characters); shorter ones (≈209k) passed. Requests are refused here before any traffic,
/// and the emulator refuses from the same figure.
pub const MAX_CONTEXT_CHARS: usize = 223_000;

/// A request JSON larger than this is refused before it is parsed: even fully escaped, a
/// context under `MAX_CONTEXT_CHARS` is a fraction of it.
pub const MAX_REQUEST_BYTES: usize = 16 << 20;

/// One SSE event (its data lines plus the line being read): larger is `USTB_TOO_LARGE`.
pub const MAX_EVENT_BYTES: usize = 16 << 20;

/// A non-stream chat reply (an error envelope or a moderation answer).
pub const MAX_JSON_REPLY_BYTES: usize = 4 << 20;

/// The body of an info endpoint such as `user_info`.
pub const MAX_INFO_REPLY_BYTES: usize = 1 << 20;

/// The body of every other platform endpoint (a session's chat history can hold several long
/// replies of ≈ 200 kB each).
pub const MAX_ENDPOINT_REPLY_BYTES: usize = 16 << 20;

/// The largest `page_size` of the session list (ours: the server's own bound is unknown).
pub const MAX_PAGE_SIZE: u32 = 100;
/// The longest `session_id` accepted (ours: real ones are 32 hex digits or a small number).
pub const MAX_SESSION_ID: usize = 128;

/// The start of an error status's body read for its message.
pub const MAX_ERROR_BODY_BYTES: usize = 64 << 10;

/// Default for the `max_reply_bytes` option: what `chat_create` and `collect` hold at most
/// (content, reasoning and tool calls as written, `Completion::bytes`). Far above the longest
/// reply seen (≈ 200 kB), far below what would hurt a host process.
pub const DEFAULT_MAX_REPLY_BYTES: u64 = 64 << 20;

/// Leading whitespace held back in an answer-only reply while a `<think>` may still open;
/// past this much the reply is taken as plain content.
pub const MAX_HELD_WHITESPACE: usize = 4096;

/// The most entries a request's `tools` list may have (OpenAI's own limit). Checked while the
/// request JSON is read: a longer list is refused at its 129th entry, before the rest is read.
pub const MAX_TOOLS: usize = 128;

/// One tool call's markup (`<tool_call>…</tool_call>`) held while its closing tag is awaited;
/// a longer one is taken for text and passed on as content.
pub const MAX_TOOL_CALL_BYTES: usize = 1 << 20;

/// The options JSON, checked before it is parsed.
pub const MAX_OPTIONS_JSON: usize = 64 << 10;
/// The `base_url` option.
pub const MAX_URL: usize = 2048;
/// The `user_agent` option.
pub const MAX_USER_AGENT: usize = 512;
/// One cookie value (real ones are a few dozen characters).
pub const MAX_COOKIE_VALUE: usize = 4096;

pub const DEFAULT_BASE_URL: &str = "http://chat.ustb.edu.cn";
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;
/// The first token can take tens of seconds with deep thinking; allow a long silence.
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 300_000;
/// Retries of failures before the reply starts (connect, DNS, a stale kept-alive socket).
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// The most `max_retries` may be.
pub const MAX_RETRIES: u32 = 10;
