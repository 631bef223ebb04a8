//! Logging: a process-wide callback, or stderr through the `USTB_LOG` environment variable.

use std::ffi::{c_char, c_int, c_void};

use super::{c_string, guard, ustb_error, ustb_status};
use crate::error::Error;
use crate::log::{set_logger, Level, Logger};

/// A log level: one of the `USTB_LOG_*` values (an `int`, so a bad value from any language
/// is refused instead of being undefined behaviour).
pub type ustb_log_level = c_int;

/// Nothing is logged (as `min_level`: the callback is never called).
pub const USTB_LOG_OFF: ustb_log_level = 0;
/// A chat stream failed (its error kind, HTTP status and envelope code).
pub const USTB_LOG_ERROR: ustb_log_level = 1;
/// A request attempt failed and is retried (the reason and the backoff), or a request failed
/// before any reply.
pub const USTB_LOG_WARN: ustb_log_level = 2;
/// One line per request (method, path, request body size, HTTP status, time) and per chat
/// stream as it ends (time to first byte and to first chunk, chunks, bytes of text, total
/// time, and how it ended: normally, cancelled, failed with an error kind, or freed early);
/// cancels.
pub const USTB_LOG_INFO: ustb_log_level = 3;
/// Every request attempt as it is sent.
pub const USTB_LOG_DEBUG: ustb_log_level = 4;

/// Receives one log line: `level` is a `USTB_LOG_*` value from `USTB_LOG_ERROR` to
/// `USTB_LOG_DEBUG`; `message` is one line of plain English (NUL-terminated UTF-8, no
/// newline), borrowed for the duration of the call only.
///
/// Runs on the thread that logs, which is the thread making the library call (several
/// threads may call it at the same time). It must not call `ustb_set_log_callback` (that
/// returns `USTB_INVALID_ARGUMENT`); lines logged by library calls it makes are dropped.
/// It must return normally: a C++ exception, a `longjmp` or a managed exception (C#, Go
/// panic) must not leave it, as for every callback this library calls; catch them inside.
/// Lines never contain cookie values or message content (prompts, replies); they hold
/// methods, paths, sizes, timings, statuses, error kinds and, for failed requests, the
/// library's own error message.
pub type ustb_log_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: ustb_log_level, message: *const c_char)>;

/// The callback and its userdata, called from any thread (the caller promised that).
struct CLogger {
    callback: unsafe extern "C" fn(*mut c_void, ustb_log_level, *const c_char),
    userdata: *mut c_void,
}

// SAFETY: `ustb_set_log_callback` requires the callback to be callable with `userdata` from
// any thread.
unsafe impl Send for CLogger {}
unsafe impl Sync for CLogger {}

impl CLogger {
    fn call(&self, level: Level, line: &str) {
        let line = c_string(line.to_string());
        // SAFETY: the promise of `ustb_set_log_callback`'s caller; the line outlives the call.
        unsafe { (self.callback)(self.userdata, level as ustb_log_level, line.as_ptr()) }
    }
}

/// Sets the process-wide log callback: `callback(userdata, level, message)` is called for every
/// line at `min_level` or more important (`USTB_LOG_ERROR` is the most important,
/// `USTB_LOG_DEBUG` the least). It replaces any callback set before; a NULL `callback`
/// removes it, and logging then goes back to the default: the `USTB_LOG` environment variable
/// (`error`, `warn`, `info`, `debug`; read once, when the library first logs) writes lines to
/// standard error, and when it is unset nothing is logged. A callback with `min_level`
/// `USTB_LOG_OFF` silences everything, `USTB_LOG` too. Logging is off by default, and a
/// line that is not logged costs one atomic load: nothing is formatted.
///
/// Returns `USTB_OK`, or `USTB_INVALID_ARGUMENT` when `min_level` is not a `USTB_LOG_*` value
/// or when called from inside the log callback (the callback is then unchanged).
///
/// Thread-safety: may be called from any thread at any time. It waits for calls of the
/// previous callback running on other threads to return, so once it returns the previous
/// callback is never called again and its `userdata` may be freed. While it waits, other
/// threads are not held up: their lines already go to the new callback. Do not call it from
/// a thread the callback may be waiting for. Never blocks otherwise; no network traffic.
///
/// # Safety
/// `callback` is NULL or a function that is safe to call with `userdata` from any thread, at
/// the same time on several threads, until it is replaced. `userdata` is only passed to the
/// callback (it may be NULL).
#[no_mangle]
pub unsafe extern "C" fn ustb_set_log_callback(
    callback: ustb_log_callback,
    userdata: *mut c_void,
    min_level: ustb_log_level,
    error: *mut *mut ustb_error,
) -> ustb_status {
    guard(error, || {
        let min = level_arg(min_level)?;
        let logger = callback.map(|callback| {
            let c = CLogger { callback, userdata };
            Box::new(move |level: Level, line: &str| c.call(level, line)) as Logger
        });
        set_logger(logger, min)?;
        Ok(ustb_status::USTB_OK)
    })
}

/// `USTB_LOG_OFF` is None; anything else must be a level.
fn level_arg(level: ustb_log_level) -> crate::error::Result<Option<Level>> {
    if level == USTB_LOG_OFF {
        return Ok(None);
    }
    u8::try_from(level)
        .ok()
        .and_then(Level::from_u8)
        .map(Some)
        .ok_or_else(|| Error::invalid_argument(format!("min_level {level} is not a USTB_LOG_* value (0 to 4)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_match_the_core() {
        assert_eq!(level_arg(USTB_LOG_OFF).unwrap(), None);
        assert_eq!(level_arg(USTB_LOG_ERROR).unwrap(), Some(Level::Error));
        assert_eq!(level_arg(USTB_LOG_WARN).unwrap(), Some(Level::Warn));
        assert_eq!(level_arg(USTB_LOG_INFO).unwrap(), Some(Level::Info));
        assert_eq!(level_arg(USTB_LOG_DEBUG).unwrap(), Some(Level::Debug));
        for bad in [-1, 5, 256, c_int::MAX] {
            assert!(level_arg(bad).is_err());
        }
    }
}
