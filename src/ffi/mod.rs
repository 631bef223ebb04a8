//! The C boundary: raw pointers, C strings, status codes and the panic guard. Nothing else
//! lives here; every export calls the safe API. The header is generated from these files by
//! cbindgen (`include/ustb_openai.h`), so their doc comments are the C documentation.
//!
//! Rules that hold for every function:
//! - Every fallible function returns `ustb_status` and takes a last `ustb_error **error`
//!   argument. If `error` is not NULL, `*error` is set to NULL on success and to a new error
//!   object on failure, which the caller frees with `ustb_error_free`. `USTB_OK`,
//!   `USTB_END_OF_STREAM` and `USTB_STOPPED` are not failures: `*error` is NULL after them.
//!   Errors belong to the call that made them: nothing is kept in thread-local state.
//! - Strings passed in are NUL-terminated UTF-8 and borrowed for the duration of the call.
//! - Strings handed out through `char **` are owned by the caller and freed with
//!   `ustb_string_free`; on failure the out-pointer is set to NULL.
//! - NULL pointers, invalid UTF-8 and malformed JSON return `USTB_INVALID_ARGUMENT`; a panic
//!   returns `USTB_PANIC`. Neither crashes the host.
//! - Handles are reference-counted (`handle.rs`): a free from another thread while a call runs
//!   never frees memory that call still uses.

#![allow(non_camel_case_types)] // C names, as the header shows them

pub mod cancel;
pub mod chat;
pub mod chunk;
pub mod client;
pub mod doctor;
pub mod endpoints;
pub mod error;
mod handle;
pub mod log;
pub mod login;
pub mod push;

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub use cancel::*;
pub use chat::*;
pub use chunk::*;
pub use client::*;
pub use doctor::*;
pub use endpoints::*;
pub use error::*;
pub use log::*;
pub use login::*;
pub use push::*;

use crate::error::{Error, ErrorKind, Result};

/// Major version, as in `ustb_version()`.
pub const USTB_VERSION_MAJOR: u32 = 0;
/// Minor version.
pub const USTB_VERSION_MINOR: u32 = 1;
/// Patch version.
pub const USTB_VERSION_PATCH: u32 = 0;

/// The library version, e.g. `"0.1.0"`. Static storage: never free it. Thread-safe.
#[no_mangle]
pub extern "C" fn ustb_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Frees a string this library handed out. NULL is a no-op.
///
/// # Safety
/// `s` is NULL or a string returned through a `char **` out-argument of this library, freed
/// at most once. Strings from `ustb_version`, `ustb_status_name` and `ustb_error_*` are not
/// freed with this.
#[no_mangle]
pub unsafe extern "C" fn ustb_string_free(s: *mut c_char) {
    if !s.is_null() {
        guard_void(|| drop(CString::from_raw(s)));
    }
}

/// Runs `f` behind the panic guard and reports its failure through `error`.
pub(crate) unsafe fn guard(error: *mut *mut ustb_error, f: impl FnOnce() -> Result<ustb_status>) -> ustb_status {
    if !error.is_null() {
        *error = std::ptr::null_mut();
    }
    let outcome = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(Error::new(ErrorKind::Panic, format!("internal error (please report): {what}")))
    });
    match outcome {
        Ok(status) => status,
        Err(e) => {
            if !error.is_null() {
                *error = Box::into_raw(Box::new(ustb_error::new(&e)));
            }
            e.kind.into()
        }
    }
}

/// The shape of every call that hands out one string: checks `out`, runs `f` behind the
/// guard, and gives its string to the caller.
pub(crate) unsafe fn string_call(
    out: *mut *mut c_char,
    error: *mut *mut ustb_error,
    f: impl FnOnce() -> Result<String>,
) -> ustb_status {
    guard(error, || {
        let out = out_arg(out, "json_out")?;
        give_string(f()?, out, std::ptr::null_mut());
        Ok(ustb_status::USTB_OK)
    })
}

/// A required string argument.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, name: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid_argument(format!("{name} is NULL")));
    }
    CStr::from_ptr(p).to_str().map_err(|e| Error::invalid_argument(format!("{name} is not valid UTF-8: {e}")))
}

/// Checks an out-pointer and sets it to NULL, so it is NULL on every failure path.
pub(crate) unsafe fn out_arg<'a, T>(p: *mut *mut T, name: &str) -> Result<&'a mut *mut T> {
    let out = p.as_mut().ok_or_else(|| Error::invalid_argument(format!("{name} is NULL")))?;
    *out = std::ptr::null_mut();
    Ok(out)
}

/// Hands a string to the caller (freed with `ustb_string_free`), with its length if asked.
pub(crate) unsafe fn give_string(s: String, out: &mut *mut c_char, len: *mut usize) {
    let c = c_string(s);
    if !len.is_null() {
        *len = c.as_bytes().len();
    }
    *out = c.into_raw();
}

/// Hands a chunk's JSON to the caller without another copy (the NUL is appended in place).
pub(crate) unsafe fn give_json(mut json: Vec<u8>, out: &mut *mut c_char, len: *mut usize) {
    if memchr::memchr(0, &json).is_some() {
        return give_string(String::from_utf8_lossy(&json).into_owned(), out, len);
    }
    if !len.is_null() {
        *len = json.len();
    }
    json.reserve_exact(1);
    // SAFETY: no NUL inside, checked just above.
    *out = CString::from_vec_unchecked(json).into_raw();
}

/// The one policy for text handed to C: an interior NUL (never in serde's JSON) is written
/// as the JSON escape `\u0000` instead of cutting the string, so length and text agree.
pub(crate) fn c_string(s: String) -> CString {
    CString::new(s).unwrap_or_else(|e| {
        let s = String::from_utf8_lossy(&e.into_vec()).replace('\0', "\\u0000");
        CString::new(s).expect("no NUL left after escaping")
    })
}

/// The guard for exports that return nothing (free, cancel): a panic is swallowed, since
/// there is no way to report it and it must not cross the boundary.
pub(crate) fn guard_void(f: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(f));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_constants_match_the_crate() {
        let v = unsafe { CStr::from_ptr(ustb_version()) }.to_str().unwrap();
        assert_eq!(v, format!("{USTB_VERSION_MAJOR}.{USTB_VERSION_MINOR}.{USTB_VERSION_PATCH}"));
    }

    #[test]
    fn interior_nul_is_escaped_and_the_length_agrees() {
        let c = c_string("a\0b".to_string());
        assert_eq!(c.to_str().unwrap(), "a\\u0000b");
        let mut out = std::ptr::null_mut();
        let mut len = 0usize;
        unsafe { give_string("x\0y".to_string(), &mut out, &mut len) };
        let back = unsafe { CStr::from_ptr(out) }.to_bytes().len();
        assert_eq!(back, len);
        unsafe { ustb_string_free(out) };
    }

    #[test]
    fn panics_become_a_status() {
        let mut err = std::ptr::null_mut();
        let status = unsafe { guard(&mut err, || panic!("boom")) };
        assert_eq!(status, ustb_status::USTB_PANIC);
        let msg = unsafe { CStr::from_ptr(ustb_error_message(err)) }.to_str().unwrap().to_string();
        assert!(msg.contains("boom"));
        unsafe { ustb_error_free(err) };
    }
}
