"""`Stream`: one streamed reply over a `ustb_chat_stream *`, iterable, closable, cancellable."""

import ctypes
import json
import threading
from ctypes import byref, c_size_t, c_void_p

from ._exceptions import STATUS, CancelledError
from ._lib import CHUNK_CALLBACK, END_OF_STREAM, OK, STOPPED, check, lib, take_string
from ._models import ChatCompletionChunk


def push_chunks(call, callback):
    """Runs a push-style C call (`call(c_callback) -> (status, err)`) that feeds
    `callback(chunk)`; a truthy return value stops the stream. Returns True if the reply
    was complete, False if the callback stopped it. An exception raised by the callback
    stops the stream and is re-raised here (it cannot cross the C frames)."""
    raised = []

    def trampoline(_userdata, data, length):
        try:
            text = ctypes.string_at(data, length).decode("utf-8")
            return 1 if callback(ChatCompletionChunk(json.loads(text))) else 0
        except BaseException as exc:  # noqa: B902 - even KeyboardInterrupt must not unwind into C
            raised.append(exc)
            return 1

    c_callback = CHUNK_CALLBACK(trampoline)  # kept alive by this frame for the whole call
    status, err = call(c_callback)
    check(status, err, ok=(OK, STOPPED))
    if raised:
        raise raised[0]
    return status == OK


class Stream(object):
    """Iterate it for `ChatCompletionChunk`s. `close()` and `cancel()` may be called from any
    thread: a read blocked in another thread then raises `CancelledError` promptly.

    `cancel()` goes through a `ustb_canceller`, which stays valid after the stream is freed,
    so it needs no lock. `_lock` remains because the C stream must not be freed while a read
    is running: a close() that arrives during a read only cancels, leaving the free to the
    reading thread when its call returns.
    """

    def __init__(self, handle):
        self._handle = handle  # c_void_p, None once freed
        self._lock = threading.Lock()
        self._busy = False  # a next()/for_each() call on the handle is running
        self._closing = False  # close() was asked for; free when not busy
        self._done = False  # END_OF_STREAM (or OK from for_each) was seen
        self._canceller = c_void_p()  # freed in __del__: no thread can call cancel() then
        err = c_void_p()
        status = lib().ustb_chat_stream_canceller(handle, byref(self._canceller), byref(err))
        try:
            check(status, err)
        except BaseException:
            self._free_locked()
            raise

    # -- iteration -----------------------------------------------------------------------

    def __iter__(self):
        return self

    def __next__(self):
        handle = self._begin()
        if handle is None:
            raise StopIteration
        chunk, length, err = c_void_p(), c_size_t(), c_void_p()
        try:
            status = lib().ustb_chat_stream_next(handle, byref(chunk), byref(length), byref(err))
            try:
                text = take_string(chunk, length.value)
            finally:
                check(status, err, ok=(OK, END_OF_STREAM))
        finally:
            self._end()
        if status == END_OF_STREAM:
            self._done = True
            self.close()  # a completely read connection goes back to the pool now
            raise StopIteration
        return ChatCompletionChunk(json.loads(text))

    next = __next__  # spelled like the C call, for non-loop callers

    def for_each(self, callback):
        """Push style (`ustb_chat_stream_for_each`): calls `callback(chunk)` on this thread for
        every remaining chunk; a truthy return stops (and cancels) the stream. Returns True
        when the reply was complete, False when the callback stopped it."""
        handle = self._begin()
        if handle is None:
            return True

        def call(c_callback):
            err = c_void_p()
            status = lib().ustb_chat_stream_for_each(handle, c_callback, None, byref(err))
            return status, err

        try:
            complete = push_chunks(call, callback)
        finally:
            self._end()
        if complete:
            self._done = True
            self.close()
        return complete

    def _begin(self):
        with self._lock:
            if self._busy:
                raise RuntimeError("this stream is already being read by another thread")
            if self._handle is None:
                if self._done:
                    return None
                raise CancelledError("the stream was closed before the reply was complete",
                                     status=STATUS["USTB_CANCELLED"], status_name="USTB_CANCELLED")
            self._busy = True
            return self._handle

    def _end(self):
        with self._lock:
            self._busy = False
            if self._closing:
                self._free_locked()

    # -- cancel / close --------------------------------------------------------------------

    def cancel(self):
        """Makes a read blocked in any thread (and every later read) raise CancelledError.
        Idempotent; a no-op once the stream is closed."""
        lib().ustb_canceller_cancel(self._canceller)

    def close(self):
        """Releases the stream (cancelling an unfinished reply). Safe from any thread, any
        number of times; if another thread is reading, that read raises CancelledError."""
        with self._lock:
            if self._handle is None:
                return
            self._closing = True
            if self._busy:
                self.cancel()  # the reader frees it in _end()
            else:
                self._free_locked()

    def _free_locked(self):
        if self._handle is not None:
            lib().ustb_chat_stream_free(self._handle)
            self._handle = None

    @property
    def closed(self):
        return self._handle is None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        try:
            self.close()
            lib().ustb_canceller_free(self._canceller)
        except Exception:  # interpreter shutdown: the library may already be gone
            pass
