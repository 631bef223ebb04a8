//! Platform calls besides chat (`ustb_client_web_info` and the rest) and the canceller they
//! take. Each export checks its arguments, then runs `Client::endpoint` (`src/endpoints.rs`).

use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, Ordering};

use super::handle::{give, hold};
use super::{guard, out_arg, str_arg, string_call, ustb_canceller, ustb_client, ustb_error, ustb_status};
use crate::endpoints::Endpoint;
use crate::error::{Error, Result};
use crate::upstream::CancelToken;

/// Makes a canceller for platform calls (`ustb_client_web_info` and the others that take a
/// `cancel` argument). Pass it to a call, and call `ustb_canceller_cancel` from any thread to
/// stop that call: it returns `USTB_CANCELLED` promptly (the socket is shut down). A
/// cancelled canceller stays cancelled: every later call given it returns `USTB_CANCELLED`
/// without sending anything, so use a new one per call (or one for a group of calls that
/// should stop together). A canceller serves one call at a time: a call given a canceller
/// that another running call uses returns `USTB_INVALID_ARGUMENT` at once, and so does a call
/// given a canceller from `ustb_chat_stream_canceller` (that one belongs to its stream).
///
/// `*canceller_out` receives a handle owned by the caller (`ustb_canceller_free`); NULL on
/// failure. Returns `USTB_OK` or `USTB_INVALID_ARGUMENT`. Thread-safe; never blocks.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn ustb_canceller_new(
    canceller_out: *mut *mut ustb_canceller,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let out = out_arg(canceller_out, "canceller_out")?;
        let canceller = ustb_canceller { token: CancelToken::default(), in_call: Some(AtomicBool::new(false)) };
        *out = give(canceller);
        Ok(ustb_status::USTB_OK)
    })
}

/// Marks a canceller free again when the call ends, also by a panic.
struct InCall<'a>(&'a AtomicBool);

impl Drop for InCall<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// The common part of every platform export: `json_out`, `client` and the arguments
/// (`endpoint`) are checked, in that order, before any traffic; then the call runs with the
/// canceller's token, or with one nobody holds.
unsafe fn platform_call(
    client: *const ustb_client,
    endpoint: impl FnOnce() -> Result<Endpoint>,
    cancel: *const ustb_canceller,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    string_call(json_out, error, || {
        let client = hold(client, "client")?;
        let endpoint = endpoint()?;
        with_canceller(cancel, |token| client.client.endpoint(&endpoint, token))
    })
}

/// Runs `f` with the canceller's token (marked in use for the call), or with one nobody holds
/// when `cancel` is NULL. A stream's canceller, or one in use, is refused.
pub(crate) unsafe fn with_canceller<T>(
    cancel: *const ustb_canceller,
    f: impl FnOnce(&CancelToken) -> Result<T>,
) -> Result<T> {
    if cancel.is_null() {
        return f(&CancelToken::default());
    }
    let canceller = hold(cancel, "cancel")?;
    let Some(in_call) = &canceller.in_call else {
        return Err(Error::invalid_argument(
            "cancel: a canceller from ustb_chat_stream_canceller belongs to its stream; make one with ustb_canceller_new",
        ));
    };
    if in_call.swap(true, Ordering::SeqCst) {
        return Err(Error::invalid_argument("cancel: the canceller is in use by another call"));
    }
    let _in_call = InCall(in_call);
    f(&canceller.token)
}

/// A C `compose_id`: 0 means the client's default (the `compose_id` option); negative is
/// refused.
fn compose_id(id: i64) -> Result<Option<u64>> {
    match id {
        0 => Ok(None),
        n if n > 0 => Ok(Some(n as u64)),
        _ => Err(Error::invalid_argument("compose_id must be positive, or 0 for the client's default")),
    }
}

/// `GET /common/web_info`: the site's configuration (the envelope's `d` as JSON: name, logos,
/// `isCas`, `cookie_login_key`, …).
///
/// What every platform call (`ustb_client_web_info`, `_apps`, `_app_detail`,
/// `_page_settings`, `_new_session_id`, `_sessions`, `_session_delete`, `_chat_history`,
/// `_models`, `_login_state`) shares: arguments are checked first (`USTB_INVALID_ARGUMENT`,
/// nothing sent). The call blocks until the reply is read, bounded by the client's
/// `connect_timeout_ms`, `idle_timeout_ms` and `timeout_ms`. `cancel` may be NULL (the call is
/// then bounded by the timeouts only), else a canceller from `ustb_canceller_new` that stops
/// the call with `USTB_CANCELLED`. `*json_out` receives a string owned by the caller
/// (`ustb_string_free`); NULL on failure. Returns `USTB_OK`, `USTB_INVALID_ARGUMENT`,
/// `USTB_CANCELLED`, `USTB_CONNECT_ERROR`, `USTB_TIMEOUT`, `USTB_CONNECTION_LOST`,
/// `USTB_HTTP_STATUS` (a redirect: the login has probably expired), `USTB_API_ERROR` (the
/// envelope's `e`/`m` in the detail), `USTB_AUTH_ERROR` (`e = 10042`: not logged in),
/// `USTB_PROTOCOL_ERROR` (not an envelope, or an HTML page) or `USTB_TOO_LARGE` (a body over
/// 16 MiB). Messages never contain cookie values. Thread-safe: one client serves any number of
/// calls at once.
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the client and the canceller may be freed
/// from another thread while it runs: see `ustb_client_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_client_web_info(
    client: *const ustb_client,
    cancel: *const ustb_canceller,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    platform_call(client, || Ok(Endpoint::WebInfo), cancel, json_out, error)
}

/// `GET /site/ai/compose_list?classid=0`: the applications, a JSON list of objects with `id`,
/// `name`, `desc`, `welcome_message`, `is_stream`, `model_ids`, … (the envelope's `d`).
/// Blocks; `cancel` may be NULL; ownership, statuses and thread-safety as for
/// `ustb_client_web_info`.
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the client and the canceller may be freed
/// from another thread while it runs: see `ustb_client_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_client_apps(
    client: *const ustb_client,
    cancel: *const ustb_canceller,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    platform_call(client, || Ok(Endpoint::Apps), cancel, json_out, error)
}

/// `GET /site/ai/compose_detail?id=N`: one application (the envelope's `d`). `compose_id` is
/// the application's id, 0 for the client's default (the `compose_id` option, 3 unless set);
/// negative is `USTB_INVALID_ARGUMENT`. An unknown id is the server's `USTB_API_ERROR`.
/// Blocks; `cancel` may be NULL; ownership, statuses and thread-safety as for
/// `ustb_client_web_info`.
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the client and the canceller may be freed
/// from another thread while it runs: see `ustb_client_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_client_app_detail(
    client: *const ustb_client,
    compose_id: i64,
    cancel: *const ustb_canceller,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    platform_call(
        client,
        || Ok(Endpoint::AppDetail { compose_id: self::compose_id(compose_id)? }),
        cancel,
        json_out,
        error,
    )
}

/// `GET /site/voom/page-setting?compose_id=N&type=pc`: an application's page settings (the
/// envelope's `d`): `model_select.model_content.value` lists the selectable models as
/// `{label, value}` (see `ustb_client_models`), `deepThinking_select` and `networking_select`
/// the switches. `compose_id` as for `ustb_client_app_detail`. Blocks; `cancel` may be NULL;
/// ownership, statuses and thread-safety as for `ustb_client_web_info`.
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the client and the canceller may be freed
/// from another thread while it runs: see `ustb_client_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_client_page_settings(
    client: *const ustb_client,
    compose_id: i64,
    cancel: *const ustb_canceller,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    let endpoint = || Ok(Endpoint::PageSettings { compose_id: self::compose_id(compose_id)? });
    platform_call(client, endpoint, cancel, json_out, error)
}

/// `GET /site/voom/get_new_session_id?compose_id=N`: a new session id, as a JSON string
/// (e.g. `"9f1c…"`, the envelope's `d`). `compose_id` as for `ustb_client_app_detail`. Needs a
/// login (`USTB_AUTH_ERROR` without one). Blocks; `cancel` may be NULL; ownership, statuses
/// and thread-safety as for `ustb_client_web_info`.
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the client and the canceller may be freed
/// from another thread while it runs: see `ustb_client_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_client_new_session_id(
    client: *const ustb_client,
    compose_id: i64,
    cancel: *const ustb_canceller,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    let endpoint = || Ok(Endpoint::NewSessionId { compose_id: self::compose_id(compose_id)? });
    platform_call(client, endpoint, cancel, json_out, error)
}

/// `GET /site/voom/session_list?page=P&pageSize=S`: the caller's sessions, newest first, a
/// JSON list of `{id, sess_id, uid, compose_id, create_time, update_time, ext, last_content,
/// is_delete, youke_sign, ai_compose}` (the envelope's `d`; an empty list past the last page).
/// `page` counts from 1; `page_size` is 1 to 100; anything else is `USTB_INVALID_ARGUMENT`.
/// Needs a login (`USTB_AUTH_ERROR` without one). Blocks; `cancel` may be NULL; ownership,
/// statuses and thread-safety as for `ustb_client_web_info`.
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the client and the canceller may be freed
/// from another thread while it runs: see `ustb_client_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_client_sessions(
    client: *const ustb_client,
    page: u32,
    page_size: u32,
    cancel: *const ustb_canceller,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    platform_call(client, || Ok(Endpoint::Sessions { page, page_size }), cancel, json_out, error)
}

/// `POST /site/voom/session_delete`: deletes a session (the envelope's `d` as JSON, normally
/// `[]`; an id the server does not know is not an error). `session_id` is a session's
/// `sess_id` (or its numeric `id`): 1 to 128 ASCII letters, digits, `-` or `_`, else
/// `USTB_INVALID_ARGUMENT`. Needs a login (`USTB_AUTH_ERROR` without one). Blocks; `cancel`
/// may be NULL; ownership, statuses and thread-safety as for `ustb_client_web_info`.
///
/// # Safety
/// Pointers are NULL or valid when the call starts; `session_id` is NUL-terminated (the
/// client and the canceller may be freed from another thread while it runs).
#[no_mangle]
pub unsafe extern "C" fn ustb_client_session_delete(
    client: *const ustb_client,
    session_id: *const c_char,
    cancel: *const ustb_canceller,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    let endpoint = || Ok(Endpoint::DeleteSession { session_id: str_arg(session_id, "session_id")?.to_string() });
    platform_call(client, endpoint, cancel, json_out, error)
}

/// `GET /site/voom/chat_history_info?session_id=…`: a session's messages, a JSON list of
/// objects with `role`, `content`, `ct` (the time), `compose_id`, … (the envelope's `d`; an
/// unknown session gives `[]`). `session_id` as for `ustb_client_session_delete`. Needs a
/// login (`USTB_AUTH_ERROR` without one). Blocks; `cancel` may be NULL; ownership, statuses
/// and thread-safety as for `ustb_client_web_info`.
///
/// # Safety
/// Pointers are NULL or valid when the call starts; `session_id` is NUL-terminated (the
/// client and the canceller may be freed from another thread while it runs).
#[no_mangle]
pub unsafe extern "C" fn ustb_client_chat_history(
    client: *const ustb_client,
    session_id: *const c_char,
    cancel: *const ustb_canceller,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    let endpoint = || Ok(Endpoint::ChatHistory { session_id: str_arg(session_id, "session_id")?.to_string() });
    platform_call(client, endpoint, cancel, json_out, error)
}

/// The models an application offers, as an OpenAI model list (what `GET /v1/models`
/// answers): `{"object": "list", "data": [{"id", "object": "model", "created", "owned_by",
/// "label", "compose_id"}]}`, made from one page-settings call
/// (`model_select.model_content.value`, a list of `{label, value}`). `id` is the entry's
/// `value`, which a chat request's `model` takes; `label` (an extension) is the name the web
/// page shows; `created` is 0 (the server gives no date); `owned_by` is `"ustb"`;
/// `compose_id` (an extension) is the application. Entries without a `value` use their
/// `label`; repeated ids are listed once; no model list gives `"data": []`. `compose_id` as
/// for `ustb_client_app_detail`. Blocks; `cancel` may be NULL, and also stops the making of
/// the list (time linear in its length); ownership, statuses and thread-safety as for
/// `ustb_client_web_info`.
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the client and the canceller may be freed
/// from another thread while it runs: see `ustb_client_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_client_models(
    client: *const ustb_client,
    compose_id: i64,
    cancel: *const ustb_canceller,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    let endpoint = || Ok(Endpoint::Models { compose_id: self::compose_id(compose_id)? });
    platform_call(client, endpoint, cancel, json_out, error)
}

/// Whether the client's login cookie works, with one cheap request of the chat page
/// (`GET /page/front/Mdefault/chat?ext=%7B%7D`, which answers 200 when logged in and
/// redirects to the university sign-in when not). `*json_out` is
/// `{"state": S, "detail": str, "http_status": int|null, "error": str|null}` where `S` is
/// `"logged_in"` (a 2xx), `"logged_out"` (a 3xx, 401 or 403: no login cookie, or an expired
/// one) or `"unreachable"` (no connection, a timeout, or the connection lost before an answer;
/// `error` is then the error's type, e.g. `"connect_error"`, and `detail` its message). These
/// three are `USTB_OK`; any other answer (e.g. HTTP 500) is the call's error
/// (`USTB_HTTP_STATUS`), and a cancel is `USTB_CANCELLED`. Blocks (retries before the answer
/// count, as for every call); `cancel` may be NULL; ownership and thread-safety as for
/// `ustb_client_web_info`.
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the client and the canceller may be freed
/// from another thread while it runs: see `ustb_client_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_client_login_state(
    client: *const ustb_client,
    cancel: *const ustb_canceller,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    platform_call(client, || Ok(Endpoint::LoginState), cancel, json_out, error)
}
