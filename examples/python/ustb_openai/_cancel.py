"""`Canceller`: stops a platform call (`client.web_info(canceller=c)`, ...) from any thread."""

from ctypes import byref, c_void_p

from ._lib import check, lib


class Canceller(object):
    """Pass it to a platform call as `canceller=`; `cancel()` from any thread makes that call
    raise `CancelledError` promptly. A cancelled canceller stays cancelled: every later call
    given it raises `CancelledError` before sending anything, so use a new one per call (or
    one for a group of calls that should stop together). It serves one call at a time: a
    second call given it while the first runs raises `BadRequestError`.

    The C handle is freed when the object is collected; a running call holds a reference to
    it, so it is never freed under a call.
    """

    def __init__(self):
        self._handle = c_void_p()
        self._cancelled = False
        err = c_void_p()
        check(lib().ustb_canceller_new(byref(self._handle), byref(err)), err)

    def cancel(self):
        """Idempotent, thread-safe, never blocks."""
        self._cancelled = True
        lib().ustb_canceller_cancel(self._handle)

    @property
    def cancelled(self):
        return self._cancelled

    def __del__(self):
        try:
            lib().ustb_canceller_free(self._handle)
        except Exception:  # interpreter shutdown, or __init__ failed before the handle
            pass


def canceller_handle(canceller):
    """The C handle of a `canceller=` argument (None for None); anything else is a TypeError."""
    if canceller is None:
        return None
    if not isinstance(canceller, Canceller):
        raise TypeError("canceller must be a ustb_openai.Canceller, not %r" % (canceller,))
    return canceller._handle
