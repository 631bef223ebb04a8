"""`USTBOpenAI`: the client, with `client.chat.completions.create(...)` as in openai-python."""

import json
import os
import threading
from ctypes import byref, c_void_p

from . import _logging
from ._cancel import canceller_handle
from ._exceptions import STATUS, BadRequestError, USTBError
from ._lib import check, lib, take_string
from ._models import BaseModel, ChatCompletion, LoginState, ModelList
from ._streaming import Stream, push_chunks

# Request keys the C library understands besides messages/model/stream. Anything else the
# caller passes (temperature, extra_headers, ...) is ignored, as the seed client did.
_BODY_KEYS = (
    "stream_options", "deep_thinking", "web_search", "thinking_budget", "compose_id",
    "tools", "tool_choice", "parallel_tool_calls",
)


def _env(name):
    return os.environ.get(name) or None  # an empty variable counts as unset


def _ms(seconds):
    return None if seconds is None else max(1, int(round(float(seconds) * 1000)))


def transport_options(base_url, timeout, connect_timeout, idle_timeout, max_retries, user_agent):
    """The library's transport options from the keyword arguments (seconds to ms; unset ones
    left out so the library's defaults apply), shared by `USTBOpenAI` and `Login`."""
    options = {
        "base_url": base_url or _env("USTB_BASE_URL"),
        "timeout_ms": _ms(timeout),
        "connect_timeout_ms": _ms(connect_timeout),
        "idle_timeout_ms": _ms(idle_timeout),
        "max_retries": max_retries,
        "user_agent": user_agent,
    }
    return {k: v for k, v in options.items() if v is not None}


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
        self._reset()
        transport = transport_options(
            base_url, timeout, connect_timeout, idle_timeout, max_retries, user_agent)
        identity = {
            "easy_session": easy_session or _env("USTB_EASY_SESSION"),
            "vjuid_login": vjuid_login or _env("USTB_VJUID_LOGIN"),
            "cookie": cookie,
        }
        identity = {k: v for k, v in identity.items() if v}
        _logging.sync()
        self._adopt(new_handle(lib().ustb_client_new, dict(transport, **identity)))

    @classmethod
    def _from_handle(cls, handle):
        """A client over a `ustb_client *` made elsewhere (`Login.client()`); it owns it."""
        client = cls.__new__(cls)
        client._reset()
        client._adopt(handle)
        return client

    def _reset(self):
        self._handle = None
        self._lock = threading.Lock()
        self._inflight = 0
        self._closing = False

    def _adopt(self, handle):
        self._handle = handle
        self.chat = Chat(self)
        self.models = Models(self)
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

    # -- platform calls: each blocks; `canceller` (a Canceller) stops it from any thread ---

    def web_info(self, *, canceller=None):
        """`GET /common/web_info`: the site's configuration as a dict."""
        return self._platform("ustb_client_web_info", canceller)

    def apps(self, *, canceller=None):
        """The applications (`compose_list`): a list of dicts with id, name, desc, ..."""
        return self._platform("ustb_client_apps", canceller)

    def app_detail(self, compose_id=0, *, canceller=None):
        """One application as a dict (0: the client's default application)."""
        return self._platform("ustb_client_app_detail", canceller, _int64(compose_id))

    def page_settings(self, compose_id=0, *, canceller=None):
        """An application's page settings as a dict (models, thinking and search switches)."""
        return self._platform("ustb_client_page_settings", canceller, _int64(compose_id))

    def new_session_id(self, compose_id=0, *, canceller=None):
        """A new session id (str). Needs a login."""
        return self._platform("ustb_client_new_session_id", canceller, _int64(compose_id))

    def sessions(self, page=1, page_size=20, *, canceller=None):
        """The caller's sessions, newest first (a list of dicts; empty past the last page).
        `page` counts from 1, `page_size` is 1 to 100. Needs a login."""
        return self._platform(
            "ustb_client_sessions", canceller, _uint32("page", page),
            _uint32("page_size", page_size),
        )

    def delete_session(self, session_id, *, canceller=None):
        """Deletes a session (its `sess_id` or numeric `id`); an unknown id is not an error.
        Needs a login."""
        return self._platform("ustb_client_session_delete", canceller, _text(session_id))

    def chat_history(self, session_id, *, canceller=None):
        """A session's messages (a list of dicts with role, content, ct, ...). Needs a login."""
        return self._platform("ustb_client_chat_history", canceller, _text(session_id))

    def login_state(self, *, canceller=None):
        """Whether the login cookie works, with one cheap request: a `LoginState` whose
        `state` is "logged_in", "logged_out" (no or an expired cookie) or "unreachable"."""
        return LoginState(self._platform("ustb_client_login_state", canceller))

    def _platform(self, name, canceller, *args):
        cancel = canceller_handle(canceller)
        return json.loads(self._string_call(getattr(lib(), name), *(args + (cancel,))))

    # -- lifetime: the C client is freed once, after every call on it has returned --------

    def _string_call(self, fn, *args):
        handle = self._enter()
        try:
            return _call_string(fn, handle, *args)
        finally:
            self._leave()

    def _enter(self):
        _logging.sync()
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


class Models(object):
    """`client.models`, as in openai-python."""

    def __init__(self, client):
        self._client = client

    def list(self, *, compose_id=0, canceller=None):
        """The models an application offers (0: the client's default application) as a
        `ModelList`: `.data[i].id` is what a chat request's `model` takes."""
        return ModelList(
            self._client._platform("ustb_client_models", canceller, _int64(compose_id))
        )


class Completions(object):
    def __init__(self, client):
        self._client = client

    def create(self, *, messages, model, stream=None, **kwargs):
        """`stream=True` returns a `Stream` of `ChatCompletionChunk`s (the request is sent on
        the first read); otherwise the whole reply as a `ChatCompletion`.

        Understood extras: tools, tool_choice, parallel_tool_calls (function calling, see the
        README), stream_options, deep_thinking, web_search, thinking_budget, compose_id, and
        extra_body (merged into the request). Other arguments are ignored. `messages` may
        hold the message objects of earlier replies (e.g. one with tool_calls).
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
    body = {"model": model, "messages": [_plain(m) for m in messages], "stream": bool(stream)}
    body.update((k, kwargs[k]) for k in _BODY_KEYS if kwargs.get(k) is not None)
    body.update(kwargs.get("extra_body") or {})
    return json.dumps(body, ensure_ascii=False, default=_plain).encode("utf-8")


def _plain(value):
    """A message (or a part of one) as JSON-ready data: a reply's objects, as openai-python
    lets callers append `completion.choices[0].message` to the history, or a mapping."""
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, dict):
        return value
    try:
        return dict(value)
    except (TypeError, ValueError):
        raise TypeError("not JSON data: %r" % (value,)) from None


def _bad_argument(message):
    name = "USTB_INVALID_ARGUMENT"
    return BadRequestError(message, status=STATUS[name], status_name=name,
                           detail={"type": "invalid_argument", "message": message})


# ctypes converts out-of-range integers silently (wrapping) and cuts strings at a NUL, so
# those are refused here; every other check is the library's.
def _int64(value):
    if isinstance(value, bool) or not isinstance(value, int) or not -2**63 <= value < 2**63:
        raise _bad_argument("compose_id must be an integer, not %r" % (value,))
    return value


def _uint32(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise _bad_argument("%s must be a positive integer, not %r" % (name, value))
    return value


def _text(value):
    if not isinstance(value, str) or "\0" in value:
        raise _bad_argument("session_id must be a str without NUL characters, not %r" % (value,))
    return value.encode("utf-8")


def new_handle(fn, options):
    """Calls a constructor `fn(options_json, T **out, ustb_error **err)` with `options` (a
    dict) and returns the new handle."""
    handle, err = c_void_p(), c_void_p()
    opts = json.dumps(options, ensure_ascii=False).encode("utf-8")
    check(fn(opts, byref(handle), byref(err)), err)
    return handle


def _call_string(fn, handle, *args):
    """Calls `fn(handle, *args, char **out, ustb_error **err)` and returns the text."""
    out, err = c_void_p(), c_void_p()
    status = fn(handle, *args, byref(out), byref(err))
    try:
        return take_string(out)
    finally:
        check(status, err)
