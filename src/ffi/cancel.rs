//! Cancelling a stream: directly, or through a `ustb_canceller` that outlives it. A
//! canceller for a platform call comes from `ustb_canceller_new` (`ffi/endpoints.rs`).

use super::chat::ustb_chat_stream;
use super::handle::{give, hold, take};
use super::{guard, guard_void, out_arg, ustb_error, ustb_status};
use crate::upstream::CancelToken;

/// Cancels a stream: a `next`/`collect`/`for_each` running in another thread (looking up the
/// host name, connecting, waiting for headers, reading the body, or waiting on a silent
/// server) returns `USTB_CANCELLED` promptly (the socket is shut down; a name lookup or a
/// connect in progress notices within 10 ms), and so does every later read.
/// A reply that was already complete still ends with `USTB_END_OF_STREAM`. Idempotent,
/// thread-safe, never blocks; NULL is a no-op.
///
/// # Safety
/// `stream` is NULL or a stream not yet freed (the caller orders `cancel` before `free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_chat_stream_cancel(stream: *const ustb_chat_stream) {
    guard_void(|| {
        if let Ok(s) = hold(stream, "stream") {
            s.token.cancel();
        }
    });
}

/// Gives a `ustb_canceller` for `stream`: `ustb_canceller_cancel` then acts like
/// `ustb_chat_stream_cancel`, but may be called at any time, also after
/// `ustb_chat_stream_free(stream)` (it is then a no-op).
///
/// `*canceller_out` receives a handle owned by the caller (`ustb_canceller_free`); NULL on
/// failure. Returns `USTB_OK` or `USTB_INVALID_ARGUMENT`. Thread-safe.
///
/// # Safety
/// Pointers are NULL or valid when the call starts (the stream may be freed from another
/// thread while it runs: see `ustb_chat_stream_free`).
#[no_mangle]
pub unsafe extern "C" fn ustb_chat_stream_canceller(
    stream: *const ustb_chat_stream,
    canceller_out: *mut *mut ustb_canceller,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let out = out_arg(canceller_out, "canceller_out")?;
        let stream = hold(stream, "stream")?;
        *out = give(ustb_canceller { token: stream.token.clone(), in_call: None });
        Ok(ustb_status::USTB_OK)
    })
}

/// A handle that cancels one stream and stays valid after the stream is freed, so a host
/// need not order cancel against free (e.g. a Go context watcher or a JS AbortSignal); or,
/// made by `ustb_canceller_new`, one that cancels the platform calls it is passed to.
///
/// Thread-safety: fully thread-safe. Owned by the caller, freed with `ustb_canceller_free`
/// (independently of the stream), from any thread, also while a call uses it.
pub struct ustb_canceller {
    pub(crate) token: CancelToken,
    /// `Some` for a canceller from `ustb_canceller_new`: true while a call uses it. `None` for
    /// one from a stream, which calls refuse (the token belongs to that stream).
    pub(crate) in_call: Option<std::sync::atomic::AtomicBool>,
}

/// Cancels the stream the canceller was made for (see `ustb_chat_stream_cancel`); a no-op
/// once that stream is complete or freed. For a canceller from `ustb_canceller_new`: the
/// platform call using it returns `USTB_CANCELLED` promptly, and so does every later call
/// given it. Idempotent, thread-safe, never blocks; NULL is a no-op.
///
/// # Safety
/// `canceller` is NULL or a canceller not yet freed.
#[no_mangle]
pub unsafe extern "C" fn ustb_canceller_cancel(canceller: *const ustb_canceller) {
    guard_void(|| {
        if let Ok(c) = hold(canceller, "canceller") {
            c.token.cancel();
        }
    });
}

/// Frees a canceller (the stream is not affected). NULL is a no-op.
///
/// May be called from any thread while a call that was given the canceller runs, or while
/// `ustb_canceller_cancel` runs on it: that call keeps the canceller until it returns and is
/// not cancelled by the free (a cancel that already happened still counts); the last of them
/// releases the memory. Calls that *start* after the free are use after free.
///
/// # Safety
/// `canceller` is NULL or from `ustb_chat_stream_canceller` or `ustb_canceller_new`, freed
/// once, and not used by a call that starts after this one.
#[no_mangle]
pub unsafe extern "C" fn ustb_canceller_free(canceller: *mut ustb_canceller) {
    if !canceller.is_null() {
        guard_void(|| drop(take(canceller)));
    }
}
