"""`Login`: logging in through the university SSO (WeChat QR code or SMS code) for the
`cookie_vjuid_login` cookie and a ready `USTBOpenAI` client (the `ustb_login_*` C functions).

QR code::

    with Login() as login:
        login.qr_start()
        print(login.qr_text())              # or show login.qr_png()
        state = QRState.WAITING
        while state != QRState.CONFIRMED:
            state = login.qr_wait(timeout=15)
            if state == QRState.EXPIRED:
                login.qr_renew()            # a new code, same login
                print(login.qr_text())
        client = login.client()             # save login.cookie() for next time

SMS code::

    login.sms_send("13800138000")           # the library solves the slider puzzle
    login.sms_submit(input("code: "))
    client = login.client()
"""

import ctypes
import enum
import math
import threading
from collections import namedtuple
from ctypes import byref, c_int, c_size_t, c_uint32, c_void_p

from . import _logging
from ._cancel import canceller_handle
from ._client import USTBOpenAI, _bad_argument, _call_string, new_handle, transport_options
from ._exceptions import USTBError
from ._lib import check, lib

# `x` for sms_send that lets the library solve the slider puzzle (USTB_PUZZLE_AUTO).
PUZZLE_AUTO = -1


class QRState(enum.IntEnum):
    """Where a QR code login is (`Login.qr_wait`); the values are ustb_login_state's."""

    WAITING = 0  # nobody has scanned the code yet
    SCANNED = 1  # scanned on a phone, not yet confirmed there
    CONFIRMED = 2  # the login is complete: cookie() and client() work
    EXPIRED = 3  # the code expired (after about 3 minutes): qr_renew() gives a new one
    FAILED = 4  # never returned: a failed wait raises instead


PuzzleImages = namedtuple("PuzzleImages", ["background", "piece"])
PuzzleImages.__doc__ = """The slider puzzle's two PNG images (bytes): the background with a
piece-shaped hole, and the piece (as tall as the background, transparent around it). The
answer is how many pixels from the background's left edge the piece's left edge belongs."""


class Login(object):
    """A login in progress and, once it succeeded, its cookie.

    The options are `USTBOpenAI`'s transport options (they configure the client `client()`
    makes; `base_url` is also where the SSO sends the browser back to) plus `sso_base_url`
    (default https://sso.ustb.edu.cn), `sis_base_url` (default https://sis.ustb.edu.cn) and
    `ca_file` (a PEM file trusted instead of the bundled root set, for a network that
    intercepts TLS). Creating it never touches the network; bad options raise
    `BadRequestError`.

    Calls that use the network block and take `canceller=` (a `Canceller`): `cancel()` from
    any thread makes them raise `CancelledError` promptly. One call at a time: a call made
    while another call on the same login runs raises `BadRequestError` ("busy") at once.
    `close()` (or leaving a `with` block) frees it, after a running call returned; any later
    call raises `USTBError`.
    """

    def __init__(
        self,
        *,
        base_url=None,
        sso_base_url=None,
        sis_base_url=None,
        ca_file=None,
        easy_session=None,
        timeout=None,
        connect_timeout=None,
        idle_timeout=None,
        max_retries=None,
        user_agent=None
    ):
        self._handle = None
        self._lock = threading.Lock()  # guards _handle, _busy and _closing
        self._busy = False
        self._closing = False
        options = transport_options(
            base_url, timeout, connect_timeout, idle_timeout, max_retries, user_agent)
        extra = {"sso_base_url": sso_base_url, "sis_base_url": sis_base_url,
                 "ca_file": ca_file, "easy_session": easy_session}
        options.update((k, v) for k, v in extra.items() if v is not None)
        _logging.sync()
        self._handle = new_handle(lib().ustb_login_new, options)

    # -- QR code -----------------------------------------------------------------------------

    def qr_start(self, *, canceller=None):
        """Asks the SSO for a new QR code (and, the first time, a login context) and
        downloads its image. Then show it (`qr_text()`, `qr_png()`) and call `qr_wait()`."""
        self._run(lib().ustb_login_qr_start, canceller_handle(canceller))

    def qr_renew(self, *, canceller=None):
        """A new QR code for the same login (after `QRState.EXPIRED`, or any time)."""
        self.qr_start(canceller=canceller)

    def qr_png(self):
        """The current QR code as PNG bytes. `BadRequestError` before `qr_start()`."""
        return self._borrowed(lib().ustb_login_qr_png, 1)[0]

    def qr_text(self):
        """The current QR code drawn with Unicode half blocks for a terminal (dark modules
        filled: print it on a light background, or invert it if a phone cannot read it)."""
        return self._string(lib().ustb_login_qr_text)

    def qr_page_url(self):
        """The SSO's web page showing the current QR code, for a browser. It carries a
        one-time token: do not log it."""
        return self._string(lib().ustb_login_qr_page_url)

    def qr_wait(self, timeout=15.0, *, canceller=None):
        """Waits up to `timeout` seconds for the QR code's state to change and returns the
        `QRState`: WAITING or SCANNED (no change within the time, or newly scanned),
        CONFIRMED (the login is complete) or EXPIRED (call `qr_renew()`). After CONFIRMED or
        EXPIRED it returns the same state at once.

        Raises `AuthenticationError` when the SSO says the QR session is invalid (start
        again), `CancelledError`, or a network error (a failed poll is retried while time
        remains, and waiting again after one is allowed)."""
        ms = _timeout_ms(timeout)
        cancel = canceller_handle(canceller)

        def wait(handle):
            state, err = c_int(), c_void_p()
            check(lib().ustb_login_qr_wait(handle, ms, cancel, byref(state), byref(err)), err)
            return QRState(state.value)

        return self._with_handle(wait)

    # -- SMS code ----------------------------------------------------------------------------

    def sms_puzzle(self, *, canceller=None):
        """Fetches a new slider puzzle for a person to solve (`puzzle_images()`, then
        `sms_send(phone, x)`). Not needed when the library solves it (`sms_send(phone)`)."""
        self._run(lib().ustb_login_sms_puzzle, canceller_handle(canceller))

    def puzzle_images(self):
        """The current puzzle as `PuzzleImages(background, piece)` (PNG bytes, copied)."""
        return PuzzleImages(*self._borrowed(lib().ustb_login_puzzle_images, 2))

    def puzzle_solve(self):
        """The library's answer to the current puzzle (image matching, no network): the x to
        pass to `sms_send`."""

        def solve(handle):
            x, err = c_uint32(), c_void_p()
            check(lib().ustb_login_puzzle_solve(handle, byref(x), byref(err)), err)
            return x.value

        return self._with_handle(solve)

    def sms_send(self, phone, x=None, *, canceller=None):
        """Sends an SMS code to `phone` (11 digits starting with 1, checked before any
        traffic). `x` answers the current puzzle (`sms_puzzle()`); None lets the library
        fetch and solve puzzles itself. `APIError` when the SSO refuses: `api_code` 5054 (a
        wrong puzzle answer: fetch a new puzzle) or 201 (a code was sent moments ago: wait
        a minute). The phone number never appears in errors or logs."""
        if x is None:
            x = PUZZLE_AUTO
        elif isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < 2**31:
            raise _bad_argument("x must be an integer from 0 to 2**31-1, or None")
        self._run(lib().ustb_login_sms_send, _secret("phone", phone), x,
                  canceller_handle(canceller))

    def sms_submit(self, code, *, canceller=None):
        """Submits the SMS code and completes the login. `APIError` when the SSO refuses the
        code (another try is allowed)."""
        self._run(lib().ustb_login_sms_submit, _secret("code", code), canceller_handle(canceller))

    # -- the result --------------------------------------------------------------------------

    def cookie(self):
        """The `cookie_vjuid_login` value, to store securely (it is a secret) and pass later
        as `USTBOpenAI(vjuid_login=...)`. `BadRequestError` before the login succeeded."""
        return self._string(lib().ustb_login_cookie)

    def client(self):
        """A new `USTBOpenAI` with this login's options and cookie (like `USTBOpenAI()`, it
        asks the server for an easy_session when the options gave none)."""

        def make(handle):
            client, err = c_void_p(), c_void_p()
            check(lib().ustb_login_client(handle, byref(client), byref(err)), err)
            return client

        return USTBOpenAI._from_handle(self._with_handle(make))

    def install(self, client):
        """Gives an existing `USTBOpenAI` this login's cookie (e.g. after its
        `AuthenticationError`: the old login expired). Streams opened before keep theirs."""
        if not isinstance(client, USTBOpenAI):
            raise TypeError("client must be a ustb_openai.USTBOpenAI, not %r" % (client,))
        client_handle = client._enter()
        try:
            self._run(lib().ustb_login_install, client_handle)
        finally:
            client._leave()

    # -- plumbing: one call at a time, and the C login freed once, after it ----------------

    def _run(self, fn, *args):
        """Calls `fn(login, *args, ustb_error **err)`."""

        def call(handle):
            err = c_void_p()
            check(fn(handle, *(args + (byref(err),))), err)

        self._with_handle(call)

    def _string(self, fn):
        return self._with_handle(lambda handle: _call_string(fn, handle))

    def _borrowed(self, fn, count):
        """Copies `count` borrowed byte buffers out of `fn(login, (ptr, len) * count, err)`.
        They stay valid only until the next call on the login, which `_with_handle` keeps
        out until the copies are made."""

        def copy(handle):
            outs = [(c_void_p(), c_size_t()) for _ in range(count)]
            err = c_void_p()
            refs = [byref(o) for pair in outs for o in pair]
            check(fn(handle, *(refs + [byref(err)])), err)
            return [ctypes.string_at(ptr.value, size.value) for ptr, size in outs]

        return self._with_handle(copy)

    def _with_handle(self, body):
        with self._lock:
            if self._handle is None or self._closing:
                raise USTBError("the login is closed")
            if self._busy:
                raise _bad_argument("the login is busy: another call on it is running")
            self._busy = True
            handle = self._handle
        _logging.sync()
        try:
            return body(handle)
        finally:
            with self._lock:
                self._busy = False
                if self._closing:
                    self._free_locked()

    def close(self):
        """Frees the login (its cookie is forgotten; clients made from it keep theirs);
        deferred until a running call returns. Idempotent."""
        with self._lock:
            self._closing = True
            if not self._busy:
                self._free_locked()

    def _free_locked(self):
        if self._handle is not None:
            lib().ustb_login_free(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown, or __init__ failed before the lock
            pass


def _timeout_ms(seconds):
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or (
        not math.isfinite(seconds)
    ):
        raise _bad_argument("timeout must be a number of seconds, not %r" % (seconds,))
    ms = int(round(seconds * 1000))
    if not 0 <= ms < 2**32:
        raise _bad_argument("timeout must be from 0 to 4294967 seconds, not %r" % (seconds,))
    return ms


def _secret(name, value):
    """A phone number or code as bytes for C. The value is never put in the error."""
    if not isinstance(value, str) or "\0" in value:
        raise _bad_argument("%s must be a str without NUL characters" % name)
    return value.encode("utf-8")
