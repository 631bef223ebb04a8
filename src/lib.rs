//! ustb-openai: a native client for 北科大 AI 助手 (chat.ustb.edu.cn) with an OpenAI-style API.
//!
//! Rust callers use [`Client`]; every other language uses the C ABI in [`ffi`]
//! (`include/ustb_openai.h`). Data flows one way: request JSON → `chat::request` →
//! `upstream` (HTTP) → `sse` → `chat::decode` → OpenAI chunk JSON.

pub mod chat;
pub mod client;
pub mod error;
pub mod ffi;
pub mod sse;
pub mod upstream;
mod util;
#[cfg(test)] mod fuzz;

#[cfg(feature = "emulator")]
pub mod emulator;

pub use chat::ChatStream;
pub use client::{Client, Options};
pub use error::{Error, ErrorKind, Result};
pub use upstream::CancelToken;
