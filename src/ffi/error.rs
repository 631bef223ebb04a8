//! Status codes and per-call error objects.

use std::ffi::{c_char, c_int, CString};

use super::c_string;

use crate::error::{Error, ErrorKind};

/// The result of every fallible call. `USTB_OK` is 0; `USTB_END_OF_STREAM` and `USTB_STOPPED`
/// are normal outcomes, not errors; every other value is an error, described in detail by the
/// `ustb_error` the call hands out.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ustb_status {
    /// Success.
    USTB_OK = 0,
    /// `ustb_chat_stream_next`: the reply is complete; no chunk was returned.
    USTB_END_OF_STREAM = 1,
    /// A chunk callback returned non-zero and the stream was stopped early, as asked.
    USTB_STOPPED = 2,
    /// A NULL pointer, invalid UTF-8, malformed JSON or a bad option. Nothing was sent.
    USTB_INVALID_ARGUMENT = 3,
    /// The chat request cannot be put in a form the server accepts (e.g. the last message
    /// is not from the user, or the context is too long). Nothing was sent.
    USTB_INVALID_REQUEST = 4,
    /// No connection could be made, or the request failed before any of it was written:
    /// connection refused, host unreachable, a host name that does not resolve, any other
    /// network failure before sending began. Retried up to `max_retries` times first. Also a
    /// failed TLS handshake with the SSO (not retried; the message says why).
    USTB_CONNECT_ERROR = 5,
    /// The host name lookup or the connect took longer than `connect_timeout_ms` (the message
    /// says which), the server was silent for longer than `idle_timeout_ms`, or the request
    /// took longer than `timeout_ms`.
    USTB_TIMEOUT = 6,
    /// The connection broke after the request went out: closed before the reply started,
    /// reset, or the body cut short at the HTTP layer (also a body shorter than its
    /// `Content-Length`, even after `finish_reason`).
    USTB_CONNECTION_LOST = 7,
    /// The server answered with an HTTP status other than 2xx (see `http_status`). Redirects
    /// are not followed; for a 3xx the message says the login has probably expired.
    USTB_HTTP_STATUS = 8,
    /// The server refused the request with a JSON envelope `e != 0` (e.g. 4028
    /// `history参数异常`); see `ustb_error_api_code` and the detail's `e` and `m`. For a
    /// login call: the SSO refused (its `code`, e.g. 5054 wrong puzzle answer, 201 an SMS
    /// code was sent moments ago, and its message).
    USTB_API_ERROR = 9,
    /// The server says the caller is not logged in (`e = 10042`, `请登录`): the login
    /// cookie is missing or expired. Log in again (`ustb_login_*`, or `ustb-chat --login`)
    /// and give the client the new cookie (`ustb_login_install`). For
    /// `ustb_login_qr_wait`: the SSO says the QR session is invalid; start again.
    USTB_AUTH_ERROR = 10,
    /// The reply does not follow the protocol: malformed SSE, JSON or event shape, invalid
    /// UTF-8; a compressed body (e.g. gzip) although identity was asked for; an HTML page
    /// where a chat reply was expected (the message says the login has probably expired);
    /// reply headers over 64 KiB; lying HTTP framing (a chunk size that does not match its
    /// data). For a login call: a reply unlike the documented SSO flow (the message names
    /// the step).
    USTB_PROTOCOL_ERROR = 11,
    /// The reply body ended cleanly but incomplete: a stream of the current form before the
    /// server sent a `finish_reason`, a body with no event at all, or an older-form stream
    /// ending in the middle of an event. The reply was cut off upstream.
    USTB_TRUNCATED = 12,
    /// A reply exceeded a memory cap: one SSE event over 16 MiB; the whole reply held by
    /// `ustb_chat_create` or `ustb_chat_stream_collect` over the `max_reply_bytes` option
    /// (default 64 MiB; streaming is not capped); a non-stream (JSON) chat reply over 4 MiB;
    /// a `ustb_client_user_info` reply over 1 MiB; another platform call's reply over 16 MiB.
    USTB_TOO_LARGE = 13,
    /// The stream was cancelled with `ustb_chat_stream_cancel` (or its canceller), or a
    /// platform or login call with the canceller it was given.
    USTB_CANCELLED = 14,
    /// A bug: a panic inside the library was caught at the boundary. Please report it.
    USTB_PANIC = 15,
}

impl From<ErrorKind> for ustb_status {
    fn from(kind: ErrorKind) -> Self {
        use ustb_status::*;
        match kind {
            ErrorKind::InvalidArgument => USTB_INVALID_ARGUMENT,
            ErrorKind::InvalidRequest => USTB_INVALID_REQUEST,
            ErrorKind::Connect => USTB_CONNECT_ERROR,
            ErrorKind::Timeout => USTB_TIMEOUT,
            ErrorKind::ConnectionLost => USTB_CONNECTION_LOST,
            ErrorKind::HttpStatus => USTB_HTTP_STATUS,
            ErrorKind::Api => USTB_API_ERROR,
            ErrorKind::Auth => USTB_AUTH_ERROR,
            ErrorKind::Protocol => USTB_PROTOCOL_ERROR,
            ErrorKind::Truncated => USTB_TRUNCATED,
            ErrorKind::TooLarge => USTB_TOO_LARGE,
            ErrorKind::Cancelled => USTB_CANCELLED,
            ErrorKind::Panic => USTB_PANIC,
        }
    }
}

const NAMES: [&str; 16] = [
    "USTB_OK\0",
    "USTB_END_OF_STREAM\0",
    "USTB_STOPPED\0",
    "USTB_INVALID_ARGUMENT\0",
    "USTB_INVALID_REQUEST\0",
    "USTB_CONNECT_ERROR\0",
    "USTB_TIMEOUT\0",
    "USTB_CONNECTION_LOST\0",
    "USTB_HTTP_STATUS\0",
    "USTB_API_ERROR\0",
    "USTB_AUTH_ERROR\0",
    "USTB_PROTOCOL_ERROR\0",
    "USTB_TRUNCATED\0",
    "USTB_TOO_LARGE\0",
    "USTB_CANCELLED\0",
    "USTB_PANIC\0",
];

/// The name of a status code, e.g. `"USTB_TIMEOUT"`, or `"USTB_UNKNOWN"` for a value that
/// is not a status. Static storage: never free it. Thread-safe.
#[no_mangle]
pub extern "C" fn ustb_status_name(status: c_int) -> *const c_char {
    let name = usize::try_from(status).ok().and_then(|i| NAMES.get(i)).copied().unwrap_or("USTB_UNKNOWN\0");
    name.as_ptr().cast()
}

/// The error of one failed call. Owned by the caller, who frees it with `ustb_error_free`.
/// Not shared between threads by the library; an error object may be read from any thread.
pub struct ustb_error {
    status: ustb_status,
    message: CString,
    detail: CString,
    api_code: i64,
    http_status: u16,
}

impl ustb_error {
    pub(crate) fn new(err: &Error) -> ustb_error {
        ustb_error {
            status: err.kind.into(),
            message: c_string(err.message.clone()),
            detail: c_string(err.detail_json()),
            api_code: err.api_code.unwrap_or(0),
            http_status: err.http_status.unwrap_or(0),
        }
    }
}

/// The status of the failed call (never `USTB_OK`). Returns `USTB_INVALID_ARGUMENT` for NULL.
///
/// # Safety
/// `error` is NULL or an error from this library not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ustb_error_status(error: *const ustb_error) -> ustb_status {
    match error.as_ref() {
        Some(e) => e.status,
        None => ustb_status::USTB_INVALID_ARGUMENT,
    }
}

/// A readable, one-line English message. Borrowed: valid until `ustb_error_free(error)`.
/// Never contains cookie values. Returns `""` for NULL.
///
/// # Safety
/// `error` is NULL or an error from this library not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ustb_error_message(error: *const ustb_error) -> *const c_char {
    match error.as_ref() {
        Some(e) => e.message.as_ptr(),
        None => c"".as_ptr(),
    }
}

/// The detail as a JSON object: `{"type": "timeout"|"api_error"|…, "message": str,
/// "e": int|null, "m": str|null, "http_status": int|null}` (`e`/`m` are the server's envelope
/// code and message). Borrowed: valid until `ustb_error_free(error)`. `"{}"` for NULL.
///
/// # Safety
/// `error` is NULL or an error from this library not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ustb_error_detail(error: *const ustb_error) -> *const c_char {
    match error.as_ref() {
        Some(e) => e.detail.as_ptr(),
        None => c"{}".as_ptr(),
    }
}

/// The server's envelope code `e` (e.g. 4028, 10042), or 0 when the server sent none (and
/// for NULL).
///
/// # Safety
/// `error` is NULL or an error from this library not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ustb_error_api_code(error: *const ustb_error) -> i64 {
    error.as_ref().map_or(0, |e| e.api_code)
}

/// The HTTP status of the reply, or 0 when no reply was received (and for NULL).
///
/// # Safety
/// `error` is NULL or an error from this library not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ustb_error_http_status(error: *const ustb_error) -> u16 {
    error.as_ref().map_or(0, |e| e.http_status)
}

/// Frees an error. NULL is a no-op.
///
/// # Safety
/// `error` is NULL or an error from this library, freed at most once.
#[no_mangle]
pub unsafe extern "C" fn ustb_error_free(error: *mut ustb_error) {
    if !error.is_null() {
        drop(Box::from_raw(error));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn names_match_values() {
        for (i, name) in NAMES.iter().enumerate() {
            let got = unsafe { CStr::from_ptr(ustb_status_name(i as c_int)) }.to_str().unwrap();
            assert_eq!(got, name.trim_end_matches('\0'));
        }
        assert_eq!(unsafe { CStr::from_ptr(ustb_status_name(99)) }.to_str().unwrap(), "USTB_UNKNOWN");
        assert_eq!(unsafe { CStr::from_ptr(ustb_status_name(-1)) }.to_str().unwrap(), "USTB_UNKNOWN");
        assert_eq!(ustb_status::USTB_PANIC as usize, NAMES.len() - 1);
    }
}
