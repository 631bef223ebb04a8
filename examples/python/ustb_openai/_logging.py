"""Routes the C library's log lines to `logging.getLogger("ustb_openai")`.

The library takes one process-wide callback with a minimum level. We install one permanent
ctypes callback (kept in a module global, so it is never collected while C may call it) and
keep its minimum level in step with what the logger wants: `sync()` runs before every
client call and re-installs the callback only when `isEnabledFor` changed, so lines the
logger would drop are never even formatted by the library.

When `USTB_LOG` is set, nothing is installed: the library's own stderr logging is what the
user asked for.
"""

import atexit
import logging
import os
import threading
from ctypes import byref, c_void_p

from ._lib import LOG_CALLBACK, check, lib

LOGGER = logging.getLogger("ustb_openai")
LOGGER.addHandler(logging.NullHandler())  # a library logs only where the application says

# The USTB_LOG_* values (include/ustb_openai.h) and the logging level of each.
LOG_OFF, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG = range(5)
_LEVELS = {
    LOG_ERROR: logging.ERROR,
    LOG_WARN: logging.WARNING,
    LOG_INFO: logging.INFO,
    LOG_DEBUG: logging.DEBUG,
}


def _emit(_userdata, level, message):
    try:
        text = (message or b"").decode("utf-8", "replace")
        LOGGER.log(_LEVELS.get(level, logging.DEBUG), text)
    except BaseException:  # noqa: B902 - nothing may unwind into the C frames
        pass


_CALLBACK = LOG_CALLBACK(_emit)
_installed = None  # the minimum level installed with _CALLBACK, None while not installed
_lock = threading.Lock()


def wanted_level():
    """The least important USTB_LOG_* level the logger records now (LOG_OFF: none)."""
    for level in (LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR):
        if LOGGER.isEnabledFor(_LEVELS[level]):
            return level
    return LOG_OFF


def sync():
    """Installs the callback, or changes its minimum level, when the logger's level changed.
    Cheap when nothing changed (cached isEnabledFor lookups)."""
    global _installed
    if os.environ.get("USTB_LOG"):
        return
    level = wanted_level()
    if level == _installed:
        return
    # Never wait here: a thread installing the callback waits for running callbacks, and
    # one of those might be a handler calling into this package.
    if not _lock.acquire(blocking=False):
        return
    try:
        err = c_void_p()
        status = lib().ustb_set_log_callback(_CALLBACK, None, level, byref(err))
        check(status, err)
        if _installed is None:
            atexit.register(_uninstall)
        _installed = level
    except Exception:  # e.g. called from inside the callback: keep what is installed
        pass
    finally:
        _lock.release()


def _uninstall():
    """At exit: no Python callback may run while the interpreter is being torn down (a
    daemon thread may still be inside a library call)."""
    global _installed
    with _lock:
        err = c_void_p()
        lib().ustb_set_log_callback(LOG_CALLBACK(), None, LOG_OFF, byref(err))
        if err.value:
            lib().ustb_error_free(err.value)
        _installed = None
