//! `ustb_login`: logging in through the university SSO (WeChat QR code or SMS code) to get
//! the `cookie_vjuid_login` cookie and a ready client. The flow is in `src/login/`.
//!
//! QR code: `ustb_login_new` → `ustb_login_qr_start` → show `ustb_login_qr_png` (or
//! `ustb_login_qr_text` in a terminal) → `ustb_login_qr_wait` until `USTB_LOGIN_CONFIRMED`
//! (on `USTB_LOGIN_EXPIRED`, `ustb_login_qr_start` again for a new code) →
//! `ustb_login_client` or `ustb_login_cookie`.
//!
//! SMS code: `ustb_login_new` → `ustb_login_sms_send(phone, USTB_PUZZLE_AUTO)` (the library
//! solves the slider puzzle; or `ustb_login_sms_puzzle` + `ustb_login_puzzle_images` to let a
//! person solve it, then `ustb_login_sms_send(phone, x)`) → `ustb_login_sms_submit(code)` →
//! `ustb_login_client` or `ustb_login_cookie`.

use std::ffi::c_char;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use super::endpoints::with_canceller;
use super::handle::{give, hold, take};
use super::{give_string, guard, guard_void, out_arg, str_arg, ustb_canceller, ustb_client, ustb_error, ustb_status};
use crate::error::{Error, Result};
use crate::login::{Login, State};
use crate::upstream::CancelToken;

/// `x` for `ustb_login_sms_send` that lets the library solve the slider puzzle itself.
pub const USTB_PUZZLE_AUTO: i32 = -1;

/// Where a QR code login is (`ustb_login_qr_wait`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ustb_login_state {
    /// Nobody has scanned the code yet.
    USTB_LOGIN_WAITING = 0,
    /// Scanned on a phone, not yet confirmed there.
    USTB_LOGIN_SCANNED = 1,
    /// Confirmed: the login is complete and the cookie is ready.
    USTB_LOGIN_CONFIRMED = 2,
    /// The code expired (after about 3 minutes): `ustb_login_qr_start` gives a new one.
    USTB_LOGIN_EXPIRED = 3,
    /// The call failed: see its status and error.
    USTB_LOGIN_FAILED = 4,
}

/// A login in progress and, once it succeeded, its cookie.
///
/// Thread-safety: use it from one thread at a time; a call made while another call on the
/// same login runs returns `USTB_INVALID_ARGUMENT` ("busy") at once. Calls that use the network
/// take a `cancel` argument (NULL or a canceller from `ustb_canceller_new`):
/// `ustb_canceller_cancel` from any thread makes them return `USTB_CANCELLED` promptly.
/// Freed with `ustb_login_free`, from any thread, also while a call on it runs (that call is
/// then cancelled; see `ustb_login_free`).
pub struct ustb_login {
    login: Mutex<Login>,
    /// The token of the network call running now, and whether the host has freed the login.
    running: Mutex<Running>,
}

#[derive(Default)]
struct Running {
    token: Option<CancelToken>,
    freed: bool,
}

/// Forgets the running call's token when the call ends, also by a panic.
struct RunningCall<'a>(&'a ustb_login);

impl Drop for RunningCall<'_> {
    fn drop(&mut self) {
        self.0.running().token = None;
    }
}

impl ustb_login {
    fn running(&self) -> MutexGuard<'_, Running> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a network call on the locked login with the canceller's token, which a free from
    /// another thread cancels.
    unsafe fn network<T>(
        &self,
        cancel: *const ustb_canceller,
        call: impl FnOnce(&mut Login, &CancelToken) -> Result<T>,
    ) -> Result<T> {
        let mut login = self.lock()?;
        with_canceller(cancel, |token| {
            let _running = {
                let mut running = self.running();
                if running.freed {
                    token.cancel();
                }
                running.token = Some(token.clone());
                RunningCall(self)
            };
            call(&mut login, token)
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Login>> {
        match self.login.try_lock() {
            Ok(guard) => Ok(guard),
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
            Err(TryLockError::WouldBlock) => {
                Err(Error::invalid_argument("the login is busy: another call on it is running"))
            }
        }
    }
}

/// Creates a login. Never touches the network.
///
/// `options_json` is NULL, `""`, `"{}"` or an object with every option of `ustb_client_new`
/// (they configure the client `ustb_login_client` makes; `base_url` is also where the SSO sends
/// the browser back to) plus: `sso_base_url` (default `"https://sso.ustb.edu.cn"`),
/// `sis_base_url` (default `"https://sis.ustb.edu.cn"`), and `ca_file` (a PEM file whose
/// certificates are trusted instead of the bundled Mozilla root set: for a network that
/// intercepts TLS, or a test server). http:// base URLs are allowed (the emulator). Timeouts
/// and `max_retries` apply to every SSO request.
///
/// Hosts: the login contacts only the hosts of `sso_base_url`, `sis_base_url` and `base_url`.
/// A URL in an SSO reply that the login follows (the QR page, `returnUrl`, a redirect, the
/// destination page's address) and that names `sso.ustb.edu.cn`, `sis.ustb.edu.cn`,
/// `chat.ustb.edu.cn` or a configured host is moved onto the configured base URL; any other
/// host is refused with `USTB_PROTOCOL_ERROR` naming the step, and is never looked up. Only a
/// `cookie_vjuid_login` set by the `base_url` host itself counts as the login's result.
///
/// `*login_out` receives a login freed with `ustb_login_free` (NULL on failure). Returns
/// `USTB_OK` or `USTB_INVALID_ARGUMENT` (bad JSON, unknown key, bad value, unreadable
/// `ca_file` or one without a certificate).
///
/// # Safety
/// Pointers are NULL or valid; `options_json` is NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ustb_login_new(
    options_json: *const c_char,
    login_out: *mut *mut ustb_login,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let out = out_arg(login_out, "login_out")?;
        let json = if options_json.is_null() { "" } else { str_arg(options_json, "options_json")? };
        let login = Login::new(json)?;
        *out = give(ustb_login { login: Mutex::new(login), running: Mutex::default() });
        Ok(ustb_status::USTB_OK)
    })
}

/// Starts the QR code login, or renews the QR code (after `USTB_LOGIN_EXPIRED`, or any time):
/// asks the SSO for a login context (first call only) and a new QR code, and downloads its
/// image. Then show it and call `ustb_login_qr_wait`.
///
/// Returns `USTB_OK`, `USTB_CANCELLED`, a network status (`USTB_CONNECT_ERROR` also for a
/// failed TLS handshake, and for a host name not found, which the message names with the
/// option that chose it; the university's hosts are found only on the campus network or its
/// VPN; `USTB_TIMEOUT`, naming the limit that fired and its value; `USTB_CONNECTION_LOST`),
/// `USTB_API_ERROR` when the SSO refuses (its code and message in the error),
/// `USTB_HTTP_STATUS`, `USTB_TOO_LARGE` (a reply over 4 MiB, or a request the SSO's replies
/// made too large to send), or `USTB_PROTOCOL_ERROR` when a reply does not look as expected
/// or names a host that is not configured (the message names the step).
///
/// `cancel` may be NULL (the call is then bounded only by the timeouts).
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the login and the canceller may be freed
/// from another thread while it runs: see `ustb_login_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_login_qr_start(
    login: *mut ustb_login,
    cancel: *const ustb_canceller,
    error: *mut *mut ustb_error,
) -> ustb_status {
    network_call(login, cancel, error, |login, token| login.qr_start(token))
}

/// The current QR code as PNG bytes, borrowed: `*png_out` stays valid until the next
/// `ustb_login_qr_start` or `ustb_login_free` on this login. `USTB_INVALID_ARGUMENT` before
/// `ustb_login_qr_start` succeeded.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn ustb_login_qr_png(
    login: *const ustb_login,
    png_out: *mut *const u8,
    len_out: *mut usize,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let (png, len) = bytes_out(png_out, len_out, "png_out")?;
        let login = hold(login, "login")?;
        let login = login.lock()?;
        let bytes = login.qr_png().ok_or_else(no_qr)?;
        (*png, *len) = (bytes.as_ptr(), bytes.len());
        Ok(ustb_status::USTB_OK)
    })
}

/// The current QR code drawn as text for a terminal (Unicode half blocks, one line per two
/// rows of modules, dark modules filled, no colour codes; print it on a light background or
/// invert it if a phone cannot read it). `*text_out` is owned by the caller
/// (`ustb_string_free`). `USTB_INVALID_ARGUMENT` before a QR code; `USTB_PROTOCOL_ERROR` if
/// the image is not a QR code the library can read.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn ustb_login_qr_text(
    login: *const ustb_login,
    text_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let out = out_arg(text_out, "text_out")?;
        let login = hold(login, "login")?;
        let login = login.lock()?;
        let text = crate::login::qrtext::render(login.qr_png().ok_or_else(no_qr)?)?;
        give_string(text, out, std::ptr::null_mut());
        Ok(ustb_status::USTB_OK)
    })
}

/// The address of the SSO's web page that shows the current QR code (for a browser), owned
/// by the caller (`ustb_string_free`). It carries a one-time token: do not log it.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn ustb_login_qr_page_url(
    login: *const ustb_login,
    url_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let out = out_arg(url_out, "url_out")?;
        let login = hold(login, "login")?;
        let login = login.lock()?;
        give_string(login.qr_page_url().ok_or_else(no_qr)?.to_string(), out, std::ptr::null_mut());
        Ok(ustb_status::USTB_OK)
    })
}

/// Waits up to `timeout_ms` for the QR code's state to change and reports it in
/// `*state_out`: `USTB_LOGIN_WAITING` or `USTB_LOGIN_SCANNED` (no change within the time, or
/// newly scanned), `USTB_LOGIN_CONFIRMED` (the login is complete: the library has already
/// fetched the cookie), or `USTB_LOGIN_EXPIRED`. Later calls after CONFIRMED or EXPIRED return
/// the same state at once.
///
/// Polling: the SSO holds each poll (about 15 s) until something changes; the library keeps
/// one poll open until `timeout_ms` ends, at most 180 s (`idle_timeout_ms` does not cut it
/// short), then starts another. Polls start at most once a second, also across calls (a
/// server that answers at once is not asked in a loop, and many short waits share that
/// rate); every pause ends when `timeout_ms` does, so the call returns on time.
///
/// On failure `*state_out` is `USTB_LOGIN_FAILED`: `USTB_AUTH_ERROR` when the SSO says the
/// QR session is invalid (codes 101/102; start again), `USTB_CANCELLED`, or the statuses of
/// `ustb_login_qr_start`. A failed poll is retried after 1 s while time remains, so a network
/// status means the network stayed down. After a network failure waiting again is allowed.
///
/// `cancel` may be NULL (the call is then bounded only by the timeouts).
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the login and the canceller may be freed
/// from another thread while it runs: see `ustb_login_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_login_qr_wait(
    login: *mut ustb_login,
    timeout_ms: u32,
    cancel: *const ustb_canceller,
    state_out: *mut ustb_login_state,
    error: *mut *mut ustb_error,
) -> ustb_status {
    if let Some(s) = state_out.as_mut() {
        *s = ustb_login_state::USTB_LOGIN_FAILED;
    }
    guard(error, || {
        let state_out = state_out.as_mut().ok_or_else(|| Error::invalid_argument("state_out is NULL"))?;
        let timeout = Duration::from_millis(timeout_ms.into());
        let state = hold(login.cast_const(), "login")?.network(cancel, |login, token| login.qr_wait(timeout, token))?;
        *state_out = match state {
            State::Waiting => ustb_login_state::USTB_LOGIN_WAITING,
            State::Scanned => ustb_login_state::USTB_LOGIN_SCANNED,
            State::Confirmed => ustb_login_state::USTB_LOGIN_CONFIRMED,
            State::Expired => ustb_login_state::USTB_LOGIN_EXPIRED,
        };
        Ok(ustb_status::USTB_OK)
    })
}

/// Fetches a new slider puzzle for the SMS login (asking the SSO for a login context first if
/// needed), for a person to solve: see `ustb_login_puzzle_images`. Not needed with
/// `USTB_PUZZLE_AUTO`. Returns as `ustb_login_qr_start`; `USTB_PROTOCOL_ERROR` with HTTP
/// status set when the SSO says SMS login is not available.
///
/// `cancel` may be NULL (the call is then bounded only by the timeouts).
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the login and the canceller may be freed
/// from another thread while it runs: see `ustb_login_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_login_sms_puzzle(
    login: *mut ustb_login,
    cancel: *const ustb_canceller,
    error: *mut *mut ustb_error,
) -> ustb_status {
    network_call(login, cancel, error, |login, token| login.sms_puzzle(token))
}

/// The current puzzle's two PNG images, borrowed until the next call that fetches or answers
/// a puzzle, or `ustb_login_free`: the background with a piece-shaped hole, and the piece
/// (as tall as the background, transparent around the piece). The answer is how many pixels
/// from the background's left edge the piece's left edge belongs. `USTB_INVALID_ARGUMENT`
/// when there is no puzzle.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn ustb_login_puzzle_images(
    login: *const ustb_login,
    background_out: *mut *const u8,
    background_len_out: *mut usize,
    piece_out: *mut *const u8,
    piece_len_out: *mut usize,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        // Both pairs are cleared before either is checked: every out-pointer is NULL on failure.
        for (p, len) in [(background_out, background_len_out), (piece_out, piece_len_out)] {
            if let Some(p) = p.as_mut() {
                *p = std::ptr::null();
            }
            if let Some(len) = len.as_mut() {
                *len = 0;
            }
        }
        let (bg, bg_len) = bytes_out(background_out, background_len_out, "background_out")?;
        let (piece, piece_len) = bytes_out(piece_out, piece_len_out, "piece_out")?;
        let login = hold(login, "login")?;
        let login = login.lock()?;
        let (b, p) = login.puzzle_images().ok_or_else(no_puzzle)?;
        (*bg, *bg_len, *piece, *piece_len) = (b.as_ptr(), b.len(), p.as_ptr(), p.len());
        Ok(ustb_status::USTB_OK)
    })
}

/// The library's answer to the current puzzle (image matching; no network), in `*x_out`.
/// `USTB_INVALID_ARGUMENT` when there is no puzzle; `USTB_PROTOCOL_ERROR` when the images
/// cannot be read.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn ustb_login_puzzle_solve(
    login: *const ustb_login,
    x_out: *mut u32,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let x_out = x_out.as_mut().ok_or_else(|| Error::invalid_argument("x_out is NULL"))?;
        *x_out = hold(login, "login")?.lock()?.puzzle_solve()?;
        Ok(ustb_status::USTB_OK)
    })
}

/// Sends an SMS code to `phone` (11 digits starting with 1; checked before any traffic).
/// `x` answers the current puzzle (from `ustb_login_sms_puzzle`; one answer per puzzle);
/// `USTB_PUZZLE_AUTO` makes the library fetch and solve puzzles itself, trying up to 3 when
/// the SSO refuses an answer.
///
/// Returns `USTB_OK` (the code is on its way), `USTB_API_ERROR` when the SSO refuses (code
/// 5054: wrong puzzle answer, fetch a new puzzle; 201: a code was sent moments ago, wait a
/// minute), `USTB_INVALID_ARGUMENT` (bad phone, no puzzle for an explicit `x`), or the
/// statuses of `ustb_login_qr_start`. The phone number never appears in errors or logs.
///
/// `cancel` may be NULL (the call is then bounded only by the timeouts).
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the login and the canceller may be freed
/// from another thread while it runs: see `ustb_login_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_login_sms_send(
    login: *mut ustb_login,
    phone: *const c_char,
    x: i32,
    cancel: *const ustb_canceller,
    error: *mut *mut ustb_error,
) -> ustb_status {
    network_call(login, cancel, error, |login, token| {
        let phone = str_arg(phone, "phone")?;
        let x = match x {
            USTB_PUZZLE_AUTO => None,
            x => Some(u32::try_from(x).map_err(|_| Error::invalid_argument("x must be >= 0 or USTB_PUZZLE_AUTO"))?),
        };
        login.sms_send(phone, x, token)
    })
}

/// Submits the SMS code the phone received and completes the login (the cookie is then
/// ready). Returns `USTB_OK`, `USTB_API_ERROR` when the SSO refuses the code (its code and
/// message in the error; another try is allowed), `USTB_INVALID_ARGUMENT` (no code sent yet,
/// or not 1–16 letters or digits), or the statuses of `ustb_login_qr_start`.
///
/// `cancel` may be NULL (the call is then bounded only by the timeouts).
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the login and the canceller may be freed
/// from another thread while it runs: see `ustb_login_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_login_sms_submit(
    login: *mut ustb_login,
    code: *const c_char,
    cancel: *const ustb_canceller,
    error: *mut *mut ustb_error,
) -> ustb_status {
    network_call(login, cancel, error, |login, token| login.sms_submit(str_arg(code, "code")?, token))
}

/// The `cookie_vjuid_login` value the login obtained, for the caller to store securely (it is
/// a secret) and pass later as the `vjuid_login` client option. Owned by the caller
/// (`ustb_string_free`). `USTB_INVALID_ARGUMENT` before the login succeeded.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn ustb_login_cookie(
    login: *const ustb_login,
    cookie_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let out = out_arg(cookie_out, "cookie_out")?;
        let login = hold(login, "login")?;
        let login = login.lock()?;
        let cookie = login.cookie().ok_or_else(|| Error::invalid_argument("not logged in yet"))?;
        give_string(cookie.to_string(), out, std::ptr::null_mut());
        Ok(ustb_status::USTB_OK)
    })
}

/// A new client with the login's options and cookie (`ustb_client_free`). Never touches the
/// network. `USTB_INVALID_ARGUMENT` before the login succeeded.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn ustb_login_client(
    login: *const ustb_login,
    client_out: *mut *mut ustb_client,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let out = out_arg(client_out, "client_out")?;
        let client = hold(login, "login")?.lock()?.client()?;
        *out = give(ustb_client { client });
        Ok(ustb_status::USTB_OK)
    })
}

/// Gives an existing client the login's cookie (e.g. after `USTB_AUTH_ERROR`: the old login
/// expired). Streams opened before keep the cookie they were sent with. Thread-safe towards
/// other calls on `client`. `USTB_INVALID_ARGUMENT` before the login succeeded.
///
/// # Safety
/// Pointers are NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn ustb_login_install(
    login: *const ustb_login,
    client: *const ustb_client,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let client = hold(client, "client")?;
        hold(login, "login")?.lock()?.install(&client.client)?;
        Ok(ustb_status::USTB_OK)
    })
}

/// Frees a login (its cookie is forgotten; clients made from it keep theirs). NULL is a
/// no-op.
///
/// May be called from any thread while a call on the login runs in another thread (e.g. a
/// cancel-then-free to abandon a `ustb_login_qr_wait`, or a garbage collector's finalizer):
/// a running network call (`_qr_start`, `_qr_wait`, `_sms_puzzle`, `_sms_send`,
/// `_sms_submit`) is cancelled and returns `USTB_CANCELLED` promptly; any running call keeps
/// the login until it returns, and the last of them releases the memory. The cancel goes
/// through the call's canceller when it was given one, which then stays cancelled. This call
/// never waits. Bytes borrowed from the login (`_qr_png`, `_puzzle_images`) are dead once the free
/// has returned. Calls that *start* after the free are use after free.
///
/// # Safety
/// `login` is NULL or from `ustb_login_new`, freed once, and not used by a call that starts
/// after this one.
#[no_mangle]
pub unsafe extern "C" fn ustb_login_free(login: *mut ustb_login) {
    if !login.is_null() {
        guard_void(|| {
            let login = take(login);
            let mut running = login.running();
            running.freed = true;
            if let Some(token) = running.token.take() {
                token.cancel();
            }
        });
    }
}

/// The shape of every export that uses the network: the login (locked for the call), then the
/// call with the canceller's token.
unsafe fn network_call(
    login: *mut ustb_login,
    cancel: *const ustb_canceller,
    error: *mut *mut ustb_error,
    call: impl FnOnce(&mut Login, &crate::upstream::CancelToken) -> Result<()>,
) -> ustb_status {
    guard(error, || {
        hold(login.cast_const(), "login")?.network(cancel, call)?;
        Ok(ustb_status::USTB_OK)
    })
}

/// Checks a borrowed-bytes out-pair and clears it.
unsafe fn bytes_out<'a>(
    ptr: *mut *const u8,
    len: *mut usize,
    name: &str,
) -> Result<(&'a mut *const u8, &'a mut usize)> {
    let ptr = ptr.as_mut().ok_or_else(|| Error::invalid_argument(format!("{name} is NULL")))?;
    *ptr = std::ptr::null();
    let len = len.as_mut().ok_or_else(|| Error::invalid_argument(format!("the length for {name} is NULL")))?;
    *len = 0;
    Ok((ptr, len))
}

fn no_qr() -> Error {
    Error::invalid_argument("no QR code yet: call ustb_login_qr_start first")
}

fn no_puzzle() -> Error {
    Error::invalid_argument("no slider puzzle: call ustb_login_sms_puzzle first")
}
