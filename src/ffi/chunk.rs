//! Reading a chunk without a JSON parser (for C and C++).

use std::ffi::c_char;

use super::{give_string, guard, str_arg, ustb_error, ustb_status};

/// Reads the texts of a chunk (or a completion) JSON, for hosts without a JSON parser:
/// `choices[0].delta.content` (or `message.content`), `reasoning_content` and `finish_reason`.
/// Each out-pointer may be NULL (not wanted); each receives a string owned by the caller
/// (`ustb_string_free`), or NULL when the chunk has no such text (e.g. the usage chunk).
/// Tool calls (`delta.tool_calls`, `message.tool_calls`) are not read: take them from the JSON.
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
