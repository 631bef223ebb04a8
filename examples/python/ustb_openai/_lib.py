"""Loading libustb_openai and declaring its C prototypes (ctypes only).

Ownership rules from include/ustb_openai.h, as applied here:
- strings handed out through `char **` are owned by us: they are declared as `c_void_p`
  (a `c_char_p` would copy the text and lose the pointer we must free), read with
  `ctypes.string_at` and released with `ustb_string_free` exactly once (`take_string`);
- `ustb_version`, `ustb_status_name`, `ustb_error_message` and `ustb_error_detail` return
  static or borrowed text, so `c_char_p` (an immediate copy) is right for them;
- every `ustb_error *` we receive is turned into an exception and freed at once
  (`check`), so no error object outlives the call that produced it.
"""

import ctypes
import ctypes.util
import os
import sys
import threading
from ctypes import (
    POINTER,
    c_char_p,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint16,
    c_uint32,
    c_void_p,
)

from ._exceptions import STATUS, error_from_parts

OK = STATUS["USTB_OK"]
END_OF_STREAM = STATUS["USTB_END_OF_STREAM"]
STOPPED = STATUS["USTB_STOPPED"]

# int (*ustb_chunk_callback)(void *userdata, const char *chunk_json, size_t len).
# The chunk is a c_void_p so that exactly `len` bytes are read with string_at.
CHUNK_CALLBACK = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)

# void (*ustb_log_callback)(void *userdata, ustb_log_level level, const char *message).
# The message is borrowed for the call, so c_char_p (an immediate copy) is right here.
LOG_CALLBACK = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_char_p)

_PP = POINTER(c_void_p)  # any `T **` out-parameter: client, stream, error or char

_PROTOTYPES = {
    # name: (restype, argtypes)
    "ustb_version": (c_char_p, []),
    "ustb_status_name": (c_char_p, [c_int]),
    "ustb_string_free": (None, [c_void_p]),
    "ustb_client_new": (c_int, [c_char_p, _PP, _PP]),
    "ustb_client_free": (None, [c_void_p]),
    "ustb_client_cookies": (c_int, [c_void_p, _PP, _PP]),
    "ustb_client_user_info": (c_int, [c_void_p, _PP, _PP]),
    "ustb_chat_create": (c_int, [c_void_p, c_char_p, _PP, _PP]),
    "ustb_chat_stream_open": (c_int, [c_void_p, c_char_p, _PP, _PP]),
    "ustb_chat_stream_next": (c_int, [c_void_p, _PP, POINTER(c_size_t), _PP]),
    "ustb_chat_stream_for_each": (c_int, [c_void_p, CHUNK_CALLBACK, c_void_p, _PP]),
    "ustb_chat_stream_callback": (c_int, [c_void_p, c_char_p, CHUNK_CALLBACK, c_void_p, _PP]),
    "ustb_chat_stream_canceller": (c_int, [c_void_p, _PP, _PP]),
    "ustb_canceller_cancel": (None, [c_void_p]),
    "ustb_canceller_free": (None, [c_void_p]),
    "ustb_chat_stream_free": (None, [c_void_p]),
    # Platform calls: (client, [arguments], const ustb_canceller *cancel, char **out, err).
    "ustb_canceller_new": (c_int, [_PP, _PP]),
    "ustb_client_web_info": (c_int, [c_void_p, c_void_p, _PP, _PP]),
    "ustb_client_apps": (c_int, [c_void_p, c_void_p, _PP, _PP]),
    "ustb_client_app_detail": (c_int, [c_void_p, c_int64, c_void_p, _PP, _PP]),
    "ustb_client_page_settings": (c_int, [c_void_p, c_int64, c_void_p, _PP, _PP]),
    "ustb_client_new_session_id": (c_int, [c_void_p, c_int64, c_void_p, _PP, _PP]),
    "ustb_client_sessions": (c_int, [c_void_p, c_uint32, c_uint32, c_void_p, _PP, _PP]),
    "ustb_client_session_delete": (c_int, [c_void_p, c_char_p, c_void_p, _PP, _PP]),
    "ustb_client_chat_history": (c_int, [c_void_p, c_char_p, c_void_p, _PP, _PP]),
    "ustb_client_models": (c_int, [c_void_p, c_int64, c_void_p, _PP, _PP]),
    "ustb_client_login_state": (c_int, [c_void_p, c_void_p, _PP, _PP]),
    "ustb_set_log_callback": (c_int, [LOG_CALLBACK, c_void_p, c_int, _PP]),
    # Login (SSO). Borrowed bytes (`const uint8_t **`) come out as c_void_p + length and are
    # copied with string_at at once; `ustb_login_state *` is an int.
    "ustb_login_new": (c_int, [c_char_p, _PP, _PP]),
    "ustb_login_qr_start": (c_int, [c_void_p, c_void_p, _PP]),
    "ustb_login_qr_png": (c_int, [c_void_p, _PP, POINTER(c_size_t), _PP]),
    "ustb_login_qr_text": (c_int, [c_void_p, _PP, _PP]),
    "ustb_login_qr_page_url": (c_int, [c_void_p, _PP, _PP]),
    "ustb_login_qr_wait": (c_int, [c_void_p, c_uint32, c_void_p, POINTER(c_int), _PP]),
    "ustb_login_sms_puzzle": (c_int, [c_void_p, c_void_p, _PP]),
    "ustb_login_puzzle_images": (
        c_int, [c_void_p, _PP, POINTER(c_size_t), _PP, POINTER(c_size_t), _PP]),
    "ustb_login_puzzle_solve": (c_int, [c_void_p, POINTER(c_uint32), _PP]),
    "ustb_login_sms_send": (c_int, [c_void_p, c_char_p, c_int32, c_void_p, _PP]),
    "ustb_login_sms_submit": (c_int, [c_void_p, c_char_p, c_void_p, _PP]),
    "ustb_login_cookie": (c_int, [c_void_p, _PP, _PP]),
    "ustb_login_client": (c_int, [c_void_p, _PP, _PP]),
    "ustb_login_install": (c_int, [c_void_p, c_void_p, _PP]),
    "ustb_login_free": (None, [c_void_p]),
    "ustb_error_status": (c_int, [c_void_p]),
    "ustb_error_message": (c_char_p, [c_void_p]),
    "ustb_error_detail": (c_char_p, [c_void_p]),
    "ustb_error_api_code": (c_int64, [c_void_p]),
    "ustb_error_http_status": (c_uint16, [c_void_p]),
    "ustb_error_free": (None, [c_void_p]),
}

_lib = None
_lib_lock = threading.Lock()


def _bundled(here):
    """The copy a wheel carries next to this file (ustb_openai/libustb_openai.abi3.so)."""
    names = sorted(os.listdir(here))
    return [
        os.path.join(here, n)
        for n in names
        if n.startswith("libustb_openai") and n.endswith((".so", ".dylib", ".pyd", ".dll"))
    ]


def _candidates():
    """Where to look, in order: the library bundled in the installed package; USTB_OPENAI_LIB
    (a file, final when set); USTB_LIB_DIR; this checkout's target/debug; the system loader.

    The bundled copy comes first because it is the build this wrapper was installed with (so
    its prototypes match); the variables serve a source checkout, which bundles nothing."""
    here = os.path.dirname(os.path.abspath(__file__))
    bundled = _bundled(here)
    if bundled:
        return bundled[:1]
    explicit = os.environ.get("USTB_OPENAI_LIB")
    if explicit:
        # An explicit path is final: silently falling back would hide a typo.
        return [explicit]
    if sys.platform == "darwin":
        names = ["libustb_openai.dylib"]
    elif os.name == "nt":
        names = ["ustb_openai.dll"]
    else:
        names = ["libustb_openai.so", "libustb_openai.so.0"]
    dirs = []
    if os.environ.get("USTB_LIB_DIR"):
        dirs.append(os.environ["USTB_LIB_DIR"])
    dirs.append(os.path.join(here, "..", "..", "..", "target", "debug"))
    found = [os.path.join(d, n) for d in dirs for n in names]
    found = [p for p in found if os.path.exists(p)]
    system = ctypes.util.find_library("ustb_openai")
    if system:
        found.append(system)
    return found


def lib():
    """The loaded library (loaded once, on first use, so that importing never fails)."""
    global _lib
    if _lib is not None:
        return _lib
    with _lib_lock:
        if _lib is None:
            tried = _candidates()
            if not tried:
                raise OSError(
                    "libustb_openai not found: install this package with pip from the "
                    "ustb-openai checkout (`pip install examples/python`), which bundles it, "
                    "or set USTB_OPENAI_LIB (a file) or USTB_LIB_DIR (a directory), or install "
                    "the C library (`make install`) where the system loader finds it"
                )
            # CDLL (not PyDLL) releases the GIL during calls, which is what lets
            # another thread cancel a stream that is blocked in ustb_chat_stream_next.
            handle = ctypes.CDLL(tried[0])
            for name, (restype, argtypes) in _PROTOTYPES.items():
                fn = getattr(handle, name)
                fn.restype = restype
                fn.argtypes = argtypes
            _lib = handle
    return _lib


def take_string(ptr, length=None):
    """Copies a library-owned `char *` into a str and frees it (once). NULL gives None."""
    if not ptr.value:
        return None
    try:
        raw = ctypes.string_at(ptr.value) if length is None else ctypes.string_at(ptr.value, length)
    finally:
        lib().ustb_string_free(ptr.value)
        ptr.value = None
    return raw.decode("utf-8")


def check(status, err, ok=(OK,)):
    """Frees `err` (if any) and raises the matching exception unless `status` is in `ok`."""
    L = lib()
    exc = None
    if err.value:
        try:
            exc = error_from_parts(
                status,
                L.ustb_status_name(status).decode(),
                (L.ustb_error_message(err) or b"").decode("utf-8", "replace"),
                (L.ustb_error_detail(err) or b"{}").decode("utf-8", "replace"),
                L.ustb_error_api_code(err),
                L.ustb_error_http_status(err),
            )
        finally:
            L.ustb_error_free(err.value)
            err.value = None
    if status in ok:
        return status
    if exc is None:  # a failure without an error object (only if the caller passed NULL)
        exc = error_from_parts(status, L.ustb_status_name(status).decode(), "", "{}", 0, 0)
    raise exc


def version():
    """The C library's version, e.g. "0.1.0"."""
    return lib().ustb_version().decode()
