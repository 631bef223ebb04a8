//! Push style: chunks delivered to a callback on the caller's thread.

use std::ffi::{c_char, c_int, c_void};

use super::chat::{open, ustb_chat_stream};
use super::handle::hold;
use super::{c_string, guard, ustb_client, ustb_error, ustb_status};
use crate::error::{Error, Result};

/// Receives one `chat.completion.chunk` JSON. `chunk_json` is NUL-terminated UTF-8 of `len`
/// bytes, borrowed for the duration of the call only (copy it to keep it). Runs on the thread
/// that called `ustb_chat_stream_for_each` / `ustb_chat_stream_callback`. Return 0 to continue,
/// anything else to stop the stream (the call then returns `USTB_STOPPED`). It must return
/// normally: no exception, `longjmp` or managed exception may leave it (catch them inside).
pub type ustb_chunk_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, chunk_json: *const c_char, len: usize) -> c_int>;

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
    stream: *mut ustb_chat_stream,
    callback: ustb_chunk_callback,
    userdata: *mut c_void,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let stream = hold(stream.cast_const(), "stream")?;
        for_each(&stream, callback, userdata)
    })
}

unsafe fn for_each(
    stream: &ustb_chat_stream,
    callback: ustb_chunk_callback,
    userdata: *mut c_void,
) -> Result<ustb_status> {
    let Some(callback) = callback else {
        return Err(Error::invalid_argument("callback is NULL"));
    };
    let mut inner = stream.lock()?;
    // One buffer for every chunk: the callback only borrows it.
    let mut chunk = Vec::with_capacity(1024);
    while inner.next_chunk_into(&mut chunk)? {
        if memchr::memchr(0, &chunk).is_some() {
            chunk = c_string(String::from_utf8_lossy(&chunk).into_owned()).into_bytes();
        }
        let len = chunk.len();
        chunk.push(0);
        if callback(userdata, chunk.as_ptr().cast(), len) != 0 {
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
