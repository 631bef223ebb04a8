//! Chat: the whole-reply call and the pull stream (`ustb_chat_stream_*`).

use std::ffi::c_char;
use std::sync::{Mutex, MutexGuard, TryLockError};

use super::handle::{give, hold, take};
use super::{give_json, guard, guard_void, out_arg, str_arg, string_call, ustb_client, ustb_error, ustb_status};
use crate::chat::ChatStream;
use crate::error::{Error, Result};
use crate::upstream::CancelToken;

/// One streamed chat reply.
///
/// Thread-safety: read it (`ustb_chat_stream_next`, `_collect`, `_for_each`) from one
/// thread at a time; the thread may change between calls. A read that starts while another
/// read of the same stream is running (from another thread, or from the stream's own
/// `for_each` callback) does not wait: it returns `USTB_INVALID_ARGUMENT` ("the stream is
/// busy") at once and leaves the stream as it was. `ustb_chat_stream_cancel` may be called
/// from any thread at any time until `ustb_chat_stream_free`, including from the callback.
pub struct ustb_chat_stream {
    pub(crate) token: CancelToken,
    inner: Mutex<ChatStream>,
}

/// The name this type had before 0.2; kept so existing code compiles.
pub type ustb_stream = ustb_chat_stream;

impl ustb_chat_stream {
    /// The stream for one read, or "busy" if a read is running (a wait could deadlock a
    /// callback that reads its own stream).
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, ChatStream>> {
        match self.inner.try_lock() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
            Err(TryLockError::WouldBlock) => Err(Error::invalid_argument(
                "the stream is busy: another read of it is running (called from its own callback, or from two threads at once)",
            )),
        }
    }
}

/// Sends a chat and waits for the whole reply: an OpenAI `chat.completion` JSON with
/// `choices[0].message.content`, `choices[0].message.reasoning_content` (null when the model
/// did not think), `choices[0].finish_reason` (`"stop"`, or `"content_filter"` when the
/// server's moderation answered instead of the model) and `usage` (null if the server sent
/// none). With `web_search`, a top-level `search_results` list (`{title, url, content}`, a
/// USTB extension) holds the pages the answer cites as `[citation:N]`. When the model called
/// tools, `choices[0].message.tool_calls` lists them (`{id, type: "function", function: {name,
/// arguments}}`, `arguments` always a JSON object as a string, whichever markup of
/// docs/PROTOCOL.md section 4.6 the model wrote the call in), `content` is null
/// unless there was text around the calls, and `finish_reason` is `"tool_calls"`.
///
/// `request_json` is an OpenAI chat-completions request: `messages` (required; `role: "tool"`
/// results and assistant `tool_calls` are sent back as text), `model` (`"DeepSeek"`;
/// `deepseek-r1`, `deepseek-chat` and `deepseek-reasoner` are aliases),
/// `stream_options.include_usage`, function calling with `tools` (`{"type":"function",
/// "function":{name, description, parameters}}`), `tool_choice` (`"auto"`, `"none"`,
/// `"required"` or `{"type":"function","function":{"name":…}}`) and `parallel_tool_calls`
/// (docs/PROTOCOL.md section 4.6: the server has no function calling, so the library asks the
/// model for calls in a markup and reads them back), and the USTB extras `deep_thinking`
/// (bool, default true), `web_search` (bool, default false), `thinking_budget` (int, default
/// 1000) and `compose_id`. Other OpenAI parameters are accepted and ignored; `stream` is
/// ignored here. Malformed tools, more than 128 tools (OpenAI's limit; refused at the 129th,
/// before the rest is read), a `tool_choice` naming no listed tool, or `"required"` without
/// tools are `USTB_INVALID_REQUEST`.
///
/// `*json_out` receives a string owned by the caller (`ustb_string_free`); NULL on failure.
/// Returns `USTB_OK`, `USTB_INVALID_ARGUMENT`, `USTB_INVALID_REQUEST` (both before any
/// network traffic), or a network/server error: `USTB_CONNECT_ERROR`, `USTB_TIMEOUT`,
/// `USTB_CONNECTION_LOST`, `USTB_HTTP_STATUS`, `USTB_API_ERROR`, `USTB_AUTH_ERROR`,
/// `USTB_PROTOCOL_ERROR`, `USTB_TRUNCATED`, `USTB_TOO_LARGE` (an event over 16 MiB, or a
/// reply over the client's `max_reply_bytes`). Thread-safe. Not cancellable (use
/// `ustb_chat_stream_open` + `ustb_chat_stream_collect` for that); bounded by the client's
/// timeouts.
///
/// # Safety
/// Pointers are NULL or valid; strings are NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ustb_chat_create(
    client: *const ustb_client,
    request_json: *const c_char,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    string_call(json_out, error, || {
        let client = hold(client, "client")?;
        client.client.chat_create(str_arg(request_json, "request_json")?)
    })
}

/// Opens a streamed chat (same request JSON as `ustb_chat_create`). The request is checked
/// now, so `USTB_INVALID_ARGUMENT` and `USTB_INVALID_REQUEST` come from here; it is sent by the
/// first `ustb_chat_stream_next` (or `for_each`), so that a cancel can interrupt everything
/// from connecting onwards.
///
/// On success `*stream_out` is a new stream, freed with `ustb_chat_stream_free`; NULL on
/// failure. Thread-safe with respect to the client.
///
/// # Safety
/// Pointers are NULL or valid; strings are NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ustb_chat_stream_open(
    client: *const ustb_client,
    request_json: *const c_char,
    stream_out: *mut *mut ustb_chat_stream,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let out = out_arg(stream_out, "stream_out")?;
        let stream = open(client, request_json)?;
        *out = give(stream);
        Ok(ustb_status::USTB_OK)
    })
}

pub(crate) unsafe fn open(client: *const ustb_client, request_json: *const c_char) -> Result<ustb_chat_stream> {
    let client = hold(client, "client")?;
    let stream = client.client.chat_stream(str_arg(request_json, "request_json")?)?;
    Ok(ustb_chat_stream { token: stream.cancel_token(), inner: Mutex::new(stream) })
}

/// Reads the next `chat.completion.chunk` JSON, blocking until it arrives.
///
/// Chunks share one `id` and `created`; the first delta carries `"role": "assistant"`;
/// deltas carry `reasoning_content` (thinking) and/or `content`; one chunk carries the
/// `finish_reason`; with `stream_options.include_usage` a last chunk has `"choices": []` and
/// `usage` (only when the server reported usage). With `web_search`, the chunk that brings
/// them has a top-level `search_results` list (a USTB extension). With `tools`, each call the
/// model makes comes as OpenAI streams it: a chunk whose delta has `tool_calls:
/// [{index, id, type: "function", function: {name, arguments: ""}}]`, then chunks with
/// `tool_calls: [{index, function: {arguments}}]` fragments (`index` counts the reply's calls
/// from 0); the text around the calls comes as `content`, and the finishing chunk says
/// `"tool_calls"` when any call was made. A call is handed out when its markup is complete.
///
/// Returns `USTB_OK` with `*chunk_out` set (owned by the caller, `ustb_string_free`) and
/// `*len_out` (if not NULL) its length in bytes; `USTB_END_OF_STREAM` with `*chunk_out` NULL
/// when the reply is complete (and again on every later call); or an error with
/// `*chunk_out` NULL: `USTB_CANCELLED`, `USTB_TRUNCATED` (ended before a finish_reason),
/// `USTB_CONNECTION_LOST`, `USTB_TIMEOUT`, `USTB_PROTOCOL_ERROR`, `USTB_API_ERROR`,
/// `USTB_AUTH_ERROR`, `USTB_HTTP_STATUS`, `USTB_CONNECT_ERROR`, `USTB_TOO_LARGE`,
/// `USTB_INVALID_ARGUMENT`. After an error, later calls return the same error. While another
/// read of this stream runs (e.g. this is called from its own `for_each` callback) it returns
/// `USTB_INVALID_ARGUMENT` ("the stream is busy") at once and changes nothing.
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the stream may be freed from another
/// thread while it runs: see `ustb_chat_stream_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_chat_stream_next(
    stream: *mut ustb_chat_stream,
    chunk_out: *mut *mut c_char,
    len_out: *mut usize,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let out = out_arg(chunk_out, "chunk_out")?;
        if !len_out.is_null() {
            *len_out = 0;
        }
        let stream = hold(stream.cast_const(), "stream")?;
        let mut chunk = Vec::with_capacity(512);
        if stream.lock()?.next_chunk_into(&mut chunk)? {
            give_json(chunk, out, len_out);
            Ok(ustb_status::USTB_OK)
        } else {
            Ok(ustb_status::USTB_END_OF_STREAM)
        }
    })
}

/// Reads the rest of an open stream into one `chat.completion` JSON, as `ustb_chat_create`
/// returns it, but cancellable: `ustb_chat_stream_cancel` (or a canceller) from another
/// thread makes it return `USTB_CANCELLED`. Texts already read with `next` are not included.
///
/// `*json_out` receives a string owned by the caller (`ustb_string_free`); NULL on failure.
/// Returns what `ustb_chat_create` returns (`USTB_TOO_LARGE` past `max_reply_bytes`, after
/// which the stream stays failed), `USTB_CANCELLED`, and "busy" as `ustb_chat_stream_next`.
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the stream may be freed from another
/// thread while it runs: see `ustb_chat_stream_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_chat_stream_collect(
    stream: *mut ustb_chat_stream,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    string_call(json_out, error, || {
        let stream = hold(stream.cast_const(), "stream")?;
        let collected = stream.lock()?.collect();
        collected
    })
}

/// Frees a stream, closing its connection if the reply was not read to the end (a
/// completely read connection goes back to the pool). NULL is a no-op.
///
/// May be called from any thread while a read of the stream (`next`, `collect`, `for_each`)
/// runs in another thread, or from the stream's own `for_each` callback: the running read is
/// then cancelled (it returns `USTB_CANCELLED` promptly, as after `ustb_chat_stream_cancel`)
/// and releases the stream's memory as it returns. This call never waits for it. A canceller
/// made from the stream stays valid (its cancel is then a no-op). Calls that *start* after the
/// free are use after free: the pointer is dead once this returns.
///
/// # Safety
/// `stream` is NULL or from `ustb_chat_stream_open`, freed once, and not used by a call that
/// starts after this one.
#[no_mangle]
pub unsafe extern "C" fn ustb_chat_stream_free(stream: *mut ustb_chat_stream) {
    if !stream.is_null() {
        guard_void(|| {
            let stream = take(stream);
            // A read holds the lock: stop it, so its thread lets go of the stream promptly.
            if stream.inner.try_lock().is_err() {
                stream.token.cancel();
            }
        });
    }
}
