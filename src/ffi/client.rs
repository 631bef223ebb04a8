//! `ustb_client`: creation, cookies, user info.

use std::ffi::c_char;

use super::handle::{give, hold, take};
use super::{guard, guard_void, out_arg, str_arg, string_call, ustb_error, ustb_status};
use crate::client::{Client, Options};

/// A client of one server (base URL and identity cookies).
///
/// Thread-safety: fully thread-safe. One client may serve any number of threads at once, and
/// its kept-alive connections are shared between them. Streams opened from it keep what they
/// need and may outlive it.
///
/// Lifetime: freed once with `ustb_client_free`, from any thread, also while calls on it run
/// in other threads (see `ustb_client_free`).
pub struct ustb_client {
    pub(crate) client: Client,
}

/// Creates a client. Never touches the network.
///
/// `options_json` is NULL, `""`, `"{}"` (all defaults) or an object with any of:
/// `base_url` (default `"http://chat.ustb.edu.cn"`; http only), `easy_session` (32
/// alphanumerics), `vjuid_login` (the login cookie), `cookie` (a raw
/// `"easy_session=…; cookie_vjuid_login=…"` string, as copied from a browser),
/// `connect_timeout_ms` (default 10000; bounds the host name lookup, then the TCP connect,
/// each), `idle_timeout_ms` (longest silence allowed while
/// waiting for or reading a reply, default 300000), `timeout_ms` (whole request, default none),
/// `max_retries` (failures before the reply starts, including an unknown host name; default
/// 2, at most 10), `user_agent` (at most 512 bytes), `compose_id` (default 3), `model`
/// (default `"DeepSeek"`), `max_reply_bytes` (the most `ustb_chat_create` and
/// `ustb_chat_stream_collect` hold: content, reasoning, and each tool call as its JSON is
/// written; default 67108864 = 64 MiB;
/// streaming is not limited by it) and `record` (capture mode: a file each exchange is appended
/// to as a JSON line, secrets redacted, the body written as it is read; see the README; a new
/// file is created 0600; a path that is not a regular file, such as a FIFO, is refused at once,
/// never waited on; opening it may fail). Unknown keys
/// are an error. Environment proxy variables
/// are ignored. Sizes are checked first: the options JSON may be at most 64 KiB, `base_url`
/// 2048 bytes, a cookie value 4096 bytes.
///
/// On success `*client_out` is a new client, freed with `ustb_client_free`; on failure it is
/// NULL. Returns `USTB_OK` or `USTB_INVALID_ARGUMENT` (NULL `client_out`, invalid UTF-8, bad
/// JSON, unknown key, bad value, too long). Messages never repeat cookie values.
///
/// # Safety
/// Pointers are NULL or valid; `options_json` is NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ustb_client_new(
    options_json: *const c_char,
    client_out: *mut *mut ustb_client,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let out = out_arg(client_out, "client_out")?;
        let options = if options_json.is_null() {
            Options::default()
        } else {
            Options::from_json(str_arg(options_json, "options_json")?)?
        };
        *out = give(ustb_client { client: Client::new(options) });
        Ok(ustb_status::USTB_OK)
    })
}

/// Frees a client. NULL is a no-op. Open streams stay usable.
///
/// May be called from any thread while calls on the client run in other threads (e.g. from
/// a garbage collector's finalizer): it does not wait for them and does not cancel them. Each
/// running call holds the client until it returns, finishes as it would have (bounded by the
/// client's timeouts, or stopped by its canceller), and the last of them releases the memory.
/// Calls that *start* after the free are use after free: the pointer is dead once this
/// returns.
///
/// # Safety
/// `client` is NULL or from `ustb_client_new` or `ustb_login_client`, freed once, and not used
/// by a call that starts after this one.
#[no_mangle]
pub unsafe extern "C" fn ustb_client_free(client: *mut ustb_client) {
    if !client.is_null() {
        guard_void(|| drop(take(client)));
    }
}

/// The client's current identity cookies as JSON:
/// `{"easy_session": str|null, "vjuid_login": str|null, "cookie": str|null}`, where `cookie`
/// is the header value sent. Includes an `easy_session` the server issued, so it can be saved
/// and passed to `ustb_client_new` next time. The values are secrets: do not log them.
///
/// `*json_out` receives a string owned by the caller (`ustb_string_free`); NULL on failure.
/// Returns `USTB_OK` or `USTB_INVALID_ARGUMENT`. Thread-safe.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn ustb_client_cookies(
    client: *const ustb_client,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    string_call(json_out, error, || Ok(hold(client, "client")?.client.cookies_json()))
}

/// `GET /site/user_info`: the caller's profile (the envelope's `d`, as JSON). For a
/// cookieless visitor the server issues an `easy_session`, which the client keeps from then
/// on (see `ustb_client_cookies`). Blocks until the reply is read; not cancellable, but
/// bounded by the client's `connect_timeout_ms`, `idle_timeout_ms` and `timeout_ms`.
///
/// `*json_out` receives a string owned by the caller (`ustb_string_free`); NULL on failure.
/// Returns `USTB_OK`, `USTB_INVALID_ARGUMENT`, `USTB_CONNECT_ERROR`, `USTB_TIMEOUT`,
/// `USTB_CONNECTION_LOST`, `USTB_HTTP_STATUS`, `USTB_API_ERROR`, `USTB_AUTH_ERROR`,
/// `USTB_PROTOCOL_ERROR` or `USTB_TOO_LARGE`. Thread-safe.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn ustb_client_user_info(
    client: *const ustb_client,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    string_call(json_out, error, || hold(client, "client")?.client.user_info())
}
