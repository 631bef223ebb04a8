"""`USTBOpenAI`: the client, with `client.chat.completions.create(...)` as in openai-python."""

import json
import os
import threading
from ctypes import byref, c_void_p

from ._exceptions import USTBError
from ._lib import check, lib, take_string
from ._models import ChatCompletion
from ._streaming import Stream, push_chunks

# Request keys the C library understands besides messages/model/stream. Anything else the
# caller passes (temperature, extra_headers, ...) is ignored, as the seed client did.
_BODY_KEYS = ("stream_options", "deep_thinking", "web_search", "thinking_budget", "compose_id")


def _env(name):
    return os.environ.get(name) or None  # an empty variable counts as unset


def _ms(seconds):
    return None if seconds is None else max(1, int(round(float(seconds) * 1000)))


class USTBOpenAI(object):
    """A client of one server. Arguments left as None fall back to the environment
    (`USTB_BASE_URL`, `USTB_EASY_SESSION`, `USTB_VJUID_LOGIN`) and then to the library's
    defaults. Timeouts are in seconds: `timeout` bounds a whole request, `idle_timeout` the
    silence between two reads, `connect_timeout` the connection.

    Without an easy_session the server is asked for a guest one right away, so
    `client.easy_session` can be saved and passed in next time (as in the seed client).
    """

    DEFAULT_BASE_URL = "http://chat.ustb.edu.cn"

    def __init__(
        self,
        *,
        base_url=None,
        easy_session=None,
        vjuid_login=None,
        cookie=None,
        timeout=None,
        connect_timeout=None,
        idle_timeout=None,
        max_retries=None,
        user_agent=None,
        **kwargs_ignored
    ):
        self._handle = None
        self._lock = threading.Lock()
        self._inflight = 0
        self._closing = False
        transport = {
            "base_url": base_url or _env("USTB_BASE_URL"),
            "timeout_ms": _ms(timeout),
            "connect_timeout_ms": _ms(connect_timeout),
            "idle_timeout_ms": _ms(idle_timeout),
            "max_retries": max_retries,
            "user_agent": user_agent,
        }
        identity = {
            "easy_session": easy_session or _env("USTB_EASY_SESSION"),
            "vjuid_login": vjuid_login or _env("USTB_VJUID_LOGIN"),
            "cookie": cookie,
        }
        transport = {k: v for k, v in transport.items() if v is not None}
        identity = {k: v for k, v in identity.items() if v}
        self._handle = _new_client(dict(transport, **identity))
        self.chat = Chat(self)
        if not self._cookies().get("easy_session"):
            # As the seed does: the server issues an easy_session to a request without one,
            # and the client keeps it (see the easy_session property).
            self.user_info()

    # -- identity --------------------------------------------------------------------------

    @property
    def easy_session(self):
        """The easy_session cookie in use (given, or issued by the server), or None."""
        return self._cookies().get("easy_session")

    def _cookies(self):
        return json.loads(self._string_call(lib().ustb_client_cookies))

    def user_info(self):
        """`GET /site/user_info`: the caller's profile as a dict."""
        return json.loads(self._string_call(lib().ustb_client_user_info))

    # -- lifetime: the C client is freed once, after every call on it has returned --------

    def _string_call(self, fn, *args):
        handle = self._enter()
        try:
            return _call_string(fn, handle, *args)
        finally:
            self._leave()

    def _enter(self):
        with self._lock:
            if self._handle is None or self._closing:
                raise USTBError("the client is closed")
            self._inflight += 1
            return self._handle

    def _leave(self):
        with self._lock:
            self._inflight -= 1
            if self._closing and self._inflight == 0:
                self._free_locked()

    def close(self):
        """Frees the C client (deferred until running calls return). Open streams stay usable."""
        with self._lock:
            self._closing = True
            if self._inflight == 0:
                self._free_locked()

    def _free_locked(self):
        if self._handle is not None:
            lib().ustb_client_free(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


class Chat(object):
    def __init__(self, client):
        self.completions = Completions(client)


class Completions(object):
    def __init__(self, client):
        self._client = client

    def create(self, *, messages, model, stream=None, **kwargs):
        """`stream=True` returns a `Stream` of `ChatCompletionChunk`s (the request is sent on
        the first read); otherwise the whole reply as a `ChatCompletion`.

        Understood extras: stream_options, deep_thinking, web_search, thinking_budget,
        compose_id, and extra_body (merged into the request). Other arguments are ignored.
        """
        body = _request_json(messages, model, stream, kwargs)
        client = self._client
        handle = client._enter()
        try:
            out, err = c_void_p(), c_void_p()
            if stream:
                status = lib().ustb_chat_stream_open(handle, body, byref(out), byref(err))
                check(status, err)
                return Stream(out)  # owns the ustb_chat_stream; it outlives the client if need be
            status = lib().ustb_chat_create(handle, body, byref(out), byref(err))
            try:
                text = take_string(out)
            finally:
                check(status, err)
            return ChatCompletion(json.loads(text))
        finally:
            client._leave()

    def create_with_callback(self, callback, *, messages, model, **kwargs):
        """Push style in one call (`ustb_chat_stream_callback`): `callback(chunk)` runs on this
        thread for every chunk; a truthy return stops the stream. Returns True when the reply
        was complete, False when the callback stopped it."""
        body = _request_json(messages, model, True, kwargs)
        client = self._client
        handle = client._enter()

        def call(c_callback):
            err = c_void_p()
            status = lib().ustb_chat_stream_callback(handle, body, c_callback, None, byref(err))
            return status, err

        try:
            return push_chunks(call, callback)
        finally:
            client._leave()


def _request_json(messages, model, stream, kwargs):
    body = {"model": model, "messages": [dict(m) for m in messages], "stream": bool(stream)}
    body.update((k, kwargs[k]) for k in _BODY_KEYS if kwargs.get(k) is not None)
    body.update(kwargs.get("extra_body") or {})
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def _new_client(options):
    handle, err = c_void_p(), c_void_p()
    opts = json.dumps(options, ensure_ascii=False).encode("utf-8")
    check(lib().ustb_client_new(opts, byref(handle), byref(err)), err)
    return handle


def _call_string(fn, handle, *args):
    """Calls `fn(handle, *args, char **out, ustb_error **err)` and returns the text."""
    out, err = c_void_p(), c_void_p()
    status = fn(handle, *args, byref(out), byref(err))
    try:
        return take_string(out)
    finally:
        check(status, err)
