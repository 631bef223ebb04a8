//! `ustb_client_doctor`: the connection checks as one JSON report (`src/doctor.rs`).

use std::ffi::c_char;

use super::endpoints::with_canceller;
use super::handle::hold;
use super::{str_arg, string_call, ustb_canceller, ustb_client, ustb_error, ustb_status};
use crate::doctor::DoctorOptions;

/// Checks the way to the server, step by step, and reports each step; for a settings page or
/// `ustb-chat --doctor`. `*json_out` is
/// `{"checks": [{"name", "verdict", "detail", "next_step", "ms"}, …], "ok": bool}` with the
/// checks in this order: `dns` (the base URL's host resolves, and to what kind of address:
/// loopback, private or public), `tcp` (a connection opens within `connect_timeout_ms`),
/// `http` (the site answers HTTP, any status), `web_info` (it parses), `login` (logged in, as
/// whom: the name cut to its first character unless `reveal_name`; or logged out: no cookie,
/// or one refused as expired or wrong) and `chat` (a one-token chat; `detail` gives the time
/// to the first chunk). `verdict` is `"ok"`, `"warn"`, `"fail"` or `"skipped"` (after a
/// failed step, or the chat when not logged in; `detail` says why); `next_step` says what to
/// do (empty when nothing); `ms` is the step's time. `ok` is true when every check is `"ok"`.
/// Failed checks are in the report, not errors: the call returns `USTB_OK`, or
/// `USTB_INVALID_ARGUMENT` (bad arguments; nothing sent) or `USTB_CANCELLED`. Cookie values
/// never appear in the report.
///
/// `doctor_options` is NULL, `""` or `"{}"` (the defaults), or `{"reveal_name": true}` to show
/// the user's full name. `cancel` may be NULL, else a canceller from `ustb_canceller_new` that
/// stops the call. Each step is bounded by the client's timeouts. `*json_out` receives a
/// string owned by the caller (`ustb_string_free`); NULL on failure. Thread-safe.
///
/// # Safety
/// Pointers are NULL or valid when the call starts; `doctor_options` is NUL-terminated (the
/// client and the canceller may be freed from another thread while it runs).
#[no_mangle]
pub unsafe extern "C" fn ustb_client_doctor(
    client: *const ustb_client,
    doctor_options: *const c_char,
    cancel: *const ustb_canceller,
    json_out: *mut *mut c_char,
    error: *mut *mut ustb_error,
) -> ustb_status {
    string_call(json_out, error, || {
        let client = hold(client, "client")?;
        let options = match doctor_options.is_null() {
            true => DoctorOptions::default(),
            false => DoctorOptions::from_json(str_arg(doctor_options, "doctor_options")?)?,
        };
        with_canceller(cancel, |token| client.client.doctor(&options, token))
    })
}
