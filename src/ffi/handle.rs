//! Handle lifetimes. Every `ustb_client`, `ustb_chat_stream`, `ustb_login` and
//! `ustb_canceller` handed to C is an `Arc` turned into a raw pointer, and every call takes a
//! reference of its own for as long as it runs. So a `*_free` from another thread (a
//! garbage collector's finalizer, a cancel-then-free) while a call runs gives up only the
//! host's reference: the memory goes when the last of the two lets go, and never while a call
//! still reads it.
//!
//! The one rule left for the host: the pointer is valid when a call *starts*. A call that
//! begins after the free has returned uses freed memory, as with any C handle.

use std::sync::Arc;

use crate::error::{Error, Result};

/// Hands `value` to C as a handle owning one reference.
pub(crate) fn give<T>(value: T) -> *mut T {
    Arc::into_raw(Arc::new(value)).cast_mut()
}

/// A reference of the call's own to the handle `p` (NULL is `USTB_INVALID_ARGUMENT`).
///
/// # Safety
/// `p` is NULL or from `give`, and its host reference was not yet released.
pub(crate) unsafe fn hold<T>(p: *const T, name: &str) -> Result<Arc<T>> {
    if p.is_null() {
        return Err(Error::invalid_argument(format!("{name} is NULL")));
    }
    Arc::increment_strong_count(p);
    Ok(Arc::from_raw(p))
}

/// Takes back the host's reference to `p` (not NULL): dropping it frees the handle unless a
/// running call still holds its own.
///
/// # Safety
/// `p` is from `give`, and its host reference is released at most once.
pub(crate) unsafe fn take<T>(p: *mut T) -> Arc<T> {
    Arc::from_raw(p.cast_const())
}
