//! Chat calls: non-stream, pull stream, push (callback) stream, cancel.

use std::ffi::{c_char, c_int, c_void};
use std::sync::{Mutex, MutexGuard, TryLockError};

use super::{
    c_string, give_string, guard, guard_void, out_arg, ref_arg, str_arg, string_call, ustb_client, ustb_error,
    ustb_status,
};
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
pub struct ustb_stream {
    token: CancelToken,
    inner: Mutex<ChatStream>,
}

impl ustb_stream {
    /// The stream for one read, or "busy" if a read is running (a wait could deadlock a
    /// callback that reads its own stream).
    fn lock(&self) -> Result<MutexGuard<'_, ChatStream>> {
        match self.inner.try_lock() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
            Err(TryLockError::WouldBlock) => Err(Error::invalid_argument(
                "the stream is busy: another read of it is running (called from its own callback, or from two threads at once)",
            )),
        }
    }
}

/// A handle that cancels one stream and stays valid after the stream is freed, so a host
/// need not order cancel against free (e.g. a Go context watcher or a JS AbortSignal).
///
/// Thread-safety: fully thread-safe. Owned by the caller, freed with `ustb_canceller_free`
/// (independently of the stream).
pub struct ustb_canceller {
    token: CancelToken,
}

/// Receives one `chat.completion.chunk` JSON. `chunk_json` is NUL-terminated UTF-8 of `len`
/// bytes, borrowed for the duration of the call only (copy it to keep it). Runs on the thread
/// that called `ustb_chat_stream_for_each` / `ustb_chat_stream_callback`. Return 0 to continue,
/// anything else to stop the stream (the call then returns `USTB_STOPPED`).
pub type ustb_chunk_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, chunk_json: *const c_char, len: usize) -> c_int>;

/// Sends a chat and waits for the whole reply: an OpenAI `chat.completion` JSON with
/// `choices[0].message.content`, `choices[0].message.reasoning_content` (null when the model
/// did not think), `choices[0].finish_reason` (`"stop"`, or `"content_filter"` when the
/// server's moderation answered instead of the model) and `usage` (null if the server sent
/// none). With `web_search`, a top-level `search_results` list (`{title, url, content}`, a
/// USTB extension) holds the pages the answer cites as `[citation:N]`.
///
/// `request_json` is an OpenAI chat-completions request: `messages` (required), `model`
/// (`"DeepSeek"`; `deepseek-r1`, `deepseek-chat` and `deepseek-reasoner` are aliases),
/// `stream_options.include_usage`, and the USTB extras `deep_thinking` (bool, default true),
/// `web_search` (bool, default false), `thinking_budget` (int, default 1000) and `compose_id`.
/// Other OpenAI parameters are accepted and ignored; `stream` is ignored here.
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
        let client = ref_arg(client, "client")?;
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
    stream_out: *mut *mut ustb_stream,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let out = out_arg(stream_out, "stream_out")?;
        let stream = open(client, request_json)?;
        *out = Box::into_raw(Box::new(stream));
        Ok(ustb_status::USTB_OK)
    })
}

unsafe fn open(client: *const ustb_client, request_json: *const c_char) -> Result<ustb_stream> {
    let client = ref_arg(client, "client")?;
    let stream = client.client.chat_stream(str_arg(request_json, "request_json")?)?;
    Ok(ustb_stream { token: stream.cancel_token(), inner: Mutex::new(stream) })
}

/// Reads the next `chat.completion.chunk` JSON, blocking until it arrives.
///
/// Chunks share one `id` and `created`; the first delta carries `"role": "assistant"`;
/// deltas carry `reasoning_content` (thinking) and/or `content`; one chunk carries the
/// `finish_reason`; with `stream_options.include_usage` a last chunk has `"choices": []` and
/// `usage` (only when the server reported usage). With `web_search`, the chunk that brings
/// them has a top-level `search_results` list (a USTB extension).
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
/// Pointers are NULL or valid; `stream` is not freed during the call.
#[no_mangle]
pub unsafe extern "C" fn ustb_chat_stream_next(
    stream: *mut ustb_stream,
    chunk_out: *mut *mut c_char,
    len_out: *mut usize,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let out = out_arg(chunk_out, "chunk_out")?;
        if !len_out.is_null() {
            *len_out = 0;
        }
        let stream = ref_arg(stream.cast_const(), "stream")?;
        let next = stream.lock()?.next_chunk()?;
        match next {
            Some(chunk) => {
                give_string(chunk, out, len_out);
                Ok(ustb_status::USTB_OK)
            }
            None => Ok(ustb_status::USTB_END_OF_STREAM),
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
/// Pointers are NULL or valid; `stream` is not freed during the call.
#[no_mangle]
pub unsafe extern "C" fn ustb_chat_stream_collect(
    stream: *mut ustb_stream,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    string_call(json_out, error, || {
        let stream = ref_arg(stream.cast_const(), "stream")?;
        stream.lock()?.collect()
    })
}

/// Push style: calls `callback(userdata, chunk_json, len)` for every chunk, on the calling
/// thread, until the reply is complete (`USTB_OK`), the callback returns non-zero
/// (`USTB_STOPPED`; the stream is then cancelled), or an error (as for
/// `ustb_chat_stream_next`). The stream is not freed by this call.
///
/// Inside the callback, reading the same stream (`next`, `collect`, `for_each`) returns
/// `USTB_INVALID_ARGUMENT` ("busy") at once; `ustb_chat_stream_cancel` works, and makes this
/// call return `USTB_CANCELLED` after the callback returns.
///
/// # Safety
/// Pointers are NULL or valid; `callback` is safe to call with `userdata`.
#[no_mangle]
pub unsafe extern "C" fn ustb_chat_stream_for_each(
    stream: *mut ustb_stream,
    callback: ustb_chunk_callback,
    userdata: *mut c_void,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let stream = ref_arg(stream.cast_const(), "stream")?;
        for_each(stream, callback, userdata)
    })
}

unsafe fn for_each(stream: &ustb_stream, callback: ustb_chunk_callback, userdata: *mut c_void) -> Result<ustb_status> {
    let Some(callback) = callback else {
        return Err(Error::invalid_argument("callback is NULL"));
    };
    let mut inner = stream.lock()?;
    while let Some(chunk) = inner.next_chunk()? {
        let c = c_string(chunk);
        if callback(userdata, c.as_ptr(), c.as_bytes().len()) != 0 {
            stream.token.cancel();
            return Ok(ustb_status::USTB_STOPPED);
        }
    }
    Ok(ustb_status::USTB_OK)
}

/// One call, push style: opens a stream, runs `ustb_chat_stream_for_each`, frees it.
/// Returns what `ustb_chat_stream_open` or `ustb_chat_stream_for_each` returns. No other
/// thread can cancel it; for a cancellable push use `ustb_chat_stream_open`, a
/// `ustb_canceller`, then `ustb_chat_stream_for_each`.
///
/// # Safety
/// Pointers are NULL or valid; `callback` is safe to call with `userdata`.
#[no_mangle]
pub unsafe extern "C" fn ustb_chat_stream_callback(
    client: *const ustb_client,
    request_json: *const c_char,
    callback: ustb_chunk_callback,
    userdata: *mut c_void,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        if callback.is_none() {
            return Err(Error::invalid_argument("callback is NULL"));
        }
        let stream = open(client, request_json)?;
        for_each(&stream, callback, userdata)
    })
}

/// Reads the texts of a chunk (or a completion) JSON, for hosts without a JSON parser:
/// `choices[0].delta.content` (or `message.content`), `reasoning_content` and `finish_reason`.
/// Each out-pointer may be NULL (not wanted); each receives a string owned by the caller
/// (`ustb_string_free`), or NULL when the chunk has no such text (e.g. the usage chunk).
/// Returns `USTB_OK` or `USTB_INVALID_ARGUMENT` (NULL or non-UTF-8 `chunk_json`, not a
/// chunk). Thread-safe; no network.
///
/// # Safety
/// Pointers are NULL or valid; `chunk_json` is NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ustb_chunk_delta(
    chunk_json: *const c_char,
    content_out: *mut *mut c_char,
    reasoning_out: *mut *mut c_char,
    finish_reason_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let outs = [content_out, reasoning_out, finish_reason_out];
        for out in outs {
            if let Some(out) = out.as_mut() {
                *out = std::ptr::null_mut();
            }
        }
        let (content, reasoning, finish) = crate::chat::output::chunk_delta(str_arg(chunk_json, "chunk_json")?)?;
        for (out, value) in outs.into_iter().zip([content, reasoning, finish]) {
            if let (Some(out), Some(value)) = (out.as_mut(), value) {
                give_string(value, out, std::ptr::null_mut());
            }
        }
        Ok(ustb_status::USTB_OK)
    })
}

/// Cancels a stream: a `next`/`collect`/`for_each` running in another thread (connecting,
/// waiting for headers, reading the body, or waiting on a silent server) returns
/// `USTB_CANCELLED` promptly (the socket is shut down; a connect in progress notices within
/// 10 ms), and so does every later read.
/// A reply that was already complete still ends with `USTB_END_OF_STREAM`. Idempotent,
/// thread-safe, never blocks; NULL is a no-op.
///
/// # Safety
/// `stream` is NULL or a stream not yet freed (the caller orders `cancel` before `free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_chat_stream_cancel(stream: *const ustb_stream) {
    if let Some(stream) = stream.as_ref() {
        guard_void(|| stream.token.cancel());
    }
}

/// Gives a `ustb_canceller` for `stream`: `ustb_canceller_cancel` then acts like
/// `ustb_chat_stream_cancel`, but may be called at any time, also after
/// `ustb_chat_stream_free(stream)` (it is then a no-op).
///
/// `*canceller_out` receives a handle owned by the caller (`ustb_canceller_free`); NULL on
/// failure. Returns `USTB_OK` or `USTB_INVALID_ARGUMENT`. Thread-safe.
///
/// # Safety
/// Pointers are NULL or valid; `stream` is not freed during the call.
#[no_mangle]
pub unsafe extern "C" fn ustb_chat_stream_canceller(
    stream: *const ustb_stream,
    canceller_out: *mut *mut ustb_canceller,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let out = out_arg(canceller_out, "canceller_out")?;
        let stream = ref_arg(stream, "stream")?;
        *out = Box::into_raw(Box::new(ustb_canceller { token: stream.token.clone() }));
        Ok(ustb_status::USTB_OK)
    })
}

/// Cancels the stream the canceller was made for (see `ustb_chat_stream_cancel`); a no-op
/// once that stream is complete or freed. Idempotent, thread-safe, never blocks; NULL is a
/// no-op.
///
/// # Safety
/// `canceller` is NULL or a canceller not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ustb_canceller_cancel(canceller: *const ustb_canceller) {
    if let Some(c) = canceller.as_ref() {
        guard_void(|| c.token.cancel());
    }
}

/// Frees a canceller (the stream is not affected). NULL is a no-op.
///
/// # Safety
/// `canceller` is NULL or from `ustb_chat_stream_canceller`, freed once, with no call on it
/// still running.
#[no_mangle]
pub unsafe extern "C" fn ustb_canceller_free(canceller: *mut ustb_canceller) {
    if !canceller.is_null() {
        guard_void(|| drop(Box::from_raw(canceller)));
    }
}

/// Frees a stream, closing its connection if the reply was not read to the end (a
/// completely read connection goes back to the pool). NULL is a no-op.
///
/// # Safety
/// `stream` is NULL or from `ustb_chat_stream_open`, freed once, with no call on it running.
#[no_mangle]
pub unsafe extern "C" fn ustb_chat_stream_free(stream: *mut ustb_stream) {
    if !stream.is_null() {
        guard_void(|| drop(Box::from_raw(stream)));
    }
}
