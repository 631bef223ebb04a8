//! ustb-openai: a native client for 北科大 AI 助手 (chat.ustb.edu.cn) with an OpenAI-style API.
//!
//! Every language but Rust uses the C ABI ([`ffi`], `include/ustb_openai.h`). Rust programs use
//! the safe API re-exported here: a [`Client`] (thread-safe, shares kept-alive connections)
//! opens a [`ChatStream`] per request; requests and replies are OpenAI chat-completions JSON.
//!
//! ```
//! # #[cfg(feature = "emulator")] {
//! use ustb_openai::emulator::{Config, Emulator};
//! use ustb_openai::Client;
//!
//! // The real server is campus-only; the bundled emulator answers like it.
//! let emu = Emulator::start(Config::default(), "127.0.0.1:0")?;
//! let options = format!(r#"{{"base_url": "{}", "vjuid_login": "my-login-cookie"}}"#, emu.base_url());
//! let client = Client::from_json(&options)?;
//!
//! let mut stream = client.chat_stream(r#"{"messages": [{"role": "user", "content": "你好"}]}"#)?;
//! let mut text = String::new();
//! while let Some(chunk) = stream.next_chunk()? {
//!     let chunk: serde_json::Value = serde_json::from_str(&chunk)?;
//!     text += chunk["choices"][0]["delta"]["content"].as_str().unwrap_or("");
//! }
//! assert!(text.contains("你好"));
//!
//! // Cancel from any thread; a blocked read then returns `ErrorKind::Cancelled`.
//! let mut stream = client.chat_stream(r#"{"messages": [{"role": "user", "content": "@emu:silent"}]}"#)?;
//! let token = stream.cancel_token();
//! std::thread::spawn(move || token.cancel());
//! // What came before the silence may be read first (the cancel may come late); then the read
//! // that waits returns the cancel.
//! let err = loop {
//!     match stream.next_chunk() {
//!         Ok(Some(_)) => continue,
//!         other => break other.unwrap_err(),
//!     }
//! };
//! assert_eq!(err.kind, ustb_openai::ErrorKind::Cancelled);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Data flows one way: request JSON → `chat::request` → `upstream` (HTTP) → `sse` →
//! `chat::decode` → OpenAI chunk JSON. Those modules are private; what is public is on purpose.

// Only `ffi` is the C API: cbindgen is told to skip every other module. `chat` and `sse` are
// public only to the cargo-fuzz targets in fuzz/ (built with `--cfg fuzzing`).
/// cbindgen:ignore
#[cfg(not(fuzzing))]
mod chat;
/// cbindgen:ignore
#[cfg(fuzzing)]
pub mod chat;
/// cbindgen:ignore
mod client;
/// cbindgen:ignore
mod doctor;
/// cbindgen:ignore
mod endpoints;
/// cbindgen:ignore
mod error;
pub mod ffi;
/// cbindgen:ignore
pub mod limits;
/// cbindgen:ignore
mod log;
/// cbindgen:ignore
mod login;
/// cbindgen:ignore
mod redact;
/// cbindgen:ignore
#[cfg(not(fuzzing))]
mod sse;
/// cbindgen:ignore
#[cfg(fuzzing)]
pub mod sse;
/// cbindgen:ignore
mod upstream;
/// cbindgen:ignore
mod util;

/// cbindgen:ignore
#[cfg(feature = "emulator")]
pub mod emulator;

/// cbindgen:ignore
#[cfg(test)]
mod fuzz;

pub use chat::ChatStream;
pub use client::{Client, Options};
pub use doctor::DoctorOptions;
pub use endpoints::Endpoint;
pub use error::{Error, ErrorKind, Result};
pub use log::{set_logger, Level, Logger};
/// Not API: the login's record of its name lookups and connects, for the tests.
#[doc(hidden)]
pub use login::{watch_lookups, LookupLog};
pub use login::{Login, State as LoginState};
pub use upstream::CancelToken;

/// Not API: the in-memory floors `make bench` compares the library with (no socket, no FFI).
#[doc(hidden)]
pub mod __bench {
    use crate::chat::decode::Decoder;
    use crate::chat::output::ChunkWriter;
    use crate::sse::EventReader;

    /// SSE split only: the number of events in `body`.
    pub fn sse_events(body: &[u8]) -> usize {
        let mut reader = EventReader::new(body);
        let mut n = 0;
        while let Ok(Some(_)) = reader.next_event_ref() {
            n += 1;
        }
        n
    }

    /// SSE split, event decode and OpenAI chunk JSON, as a stream does it: the number of
    /// chunks written and their total bytes.
    pub fn decode_chunks(body: &[u8]) -> (usize, usize) {
        let mut reader = EventReader::new(body);
        let mut decoder = Decoder::new();
        let mut writer = ChunkWriter::new("DeepSeek", true);
        let (mut n, mut bytes) = (0, 0);
        let mut chunk = Vec::with_capacity(512);
        while let Ok(Some(event)) = reader.next_event_ref() {
            let Ok(delta) = decoder.feed(event.data) else { break };
            if writer.delta_chunk_into(&delta, &mut chunk) {
                n += 1;
                bytes += chunk.len();
            }
        }
        (n, bytes)
    }

    /// `n` request and chunk log events as the library makes them: with logging off, the whole
    /// cost logging adds to a request and a chunk (tests/logging.rs times it).
    pub fn log_events(n: u64) {
        let mut stats = crate::log::StreamStats::default();
        stats.sending();
        for i in 0..n {
            crate::log::attempt("POST", "/site/ai/compose_chat", std::hint::black_box(i as usize), 1, 1);
            stats.chunk(std::hint::black_box(i as usize));
        }
    }
}
