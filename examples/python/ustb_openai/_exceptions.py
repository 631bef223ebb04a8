"""Exceptions, shaped like openai-python's (`APIError` > `APIConnectionError` > ...).

Every exception carries what the C error object said, copied before it was freed:
`status` (the ustb_status number), `status_name` ("USTB_TIMEOUT"), `api_code` (the server's
envelope code `e`, 0 if none), `http_status` (0 if no reply), `type` (the detail's "type")
and `detail` (the whole detail JSON as a dict).
"""

import json


class USTBError(Exception):
    """Base class of every error raised by this package."""

    def __init__(self, message, *, status=0, status_name="", api_code=0, http_status=0,
                 detail=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.status_name = status_name
        self.api_code = api_code
        self.http_status = http_status
        self.detail = detail if detail is not None else {}
        self.type = self.detail.get("type")

    def __str__(self):
        # The C message already names the server's code (e=...) when there is one.
        return "%s: %s" % (self.status_name, self.message) if self.status_name else self.message


# The seed package's base class name, kept so `except USTBOpenAIException` still works.
USTBOpenAIException = USTBError


class BadRequestError(USTBError, ValueError):
    """The request or an option was rejected before anything was sent
    (USTB_INVALID_ARGUMENT, USTB_INVALID_REQUEST)."""


class APIError(USTBError):
    """The server or the network failed the call."""


class APIConnectionError(APIError):
    """No connection could be made (USTB_CONNECT_ERROR)."""


class APITimeoutError(APIConnectionError):
    """Connect, idle or whole-request timeout (USTB_TIMEOUT)."""


class ConnectionLostError(APIConnectionError):
    """The connection broke while the reply was being read (USTB_CONNECTION_LOST)."""


class APIStatusError(APIError):
    """The server answered with a non-2xx HTTP status (USTB_HTTP_STATUS)."""


class AuthenticationError(APIError):
    """Not logged in: the login cookie is missing or expired (USTB_AUTH_ERROR, e=10042), or
    the SSO called a QR code login invalid (`Login.qr_wait`). Log in again: `Login` (QR or
    SMS code) gives a new cookie; `login.install(client)` puts it into this client, or pass
    `login.cookie()` as `USTBOpenAI(vjuid_login=...)`."""


class ProtocolError(APIError):
    """The reply does not follow the protocol (USTB_PROTOCOL_ERROR)."""


class StreamTruncatedError(APIError):
    """The reply ended before the server sent a finish_reason (USTB_TRUNCATED)."""


class ResponseTooLargeError(APIError):
    """A line or event exceeded the library's memory cap (USTB_TOO_LARGE)."""


class CancelledError(USTBError):
    """The stream was cancelled (`Stream.cancel()` / `Stream.close()` from another thread)."""


class InternalError(USTBError):
    """A panic inside the C library was caught at the boundary (USTB_PANIC): a bug."""


# ustb_status, as include/ustb_openai.h numbers it (tests/test_bindings.py checks this table
# against the header's enum, name by name and value by value).
STATUS = {
    "USTB_OK": 0,
    "USTB_END_OF_STREAM": 1,
    "USTB_STOPPED": 2,
    "USTB_INVALID_ARGUMENT": 3,
    "USTB_INVALID_REQUEST": 4,
    "USTB_CONNECT_ERROR": 5,
    "USTB_TIMEOUT": 6,
    "USTB_CONNECTION_LOST": 7,
    "USTB_HTTP_STATUS": 8,
    "USTB_API_ERROR": 9,
    "USTB_AUTH_ERROR": 10,
    "USTB_PROTOCOL_ERROR": 11,
    "USTB_TRUNCATED": 12,
    "USTB_TOO_LARGE": 13,
    "USTB_CANCELLED": 14,
    "USTB_PANIC": 15,
}

# The exception raised for each error status (the rest are not errors).
ERROR_CLASSES = {
    "USTB_INVALID_ARGUMENT": BadRequestError,
    "USTB_INVALID_REQUEST": BadRequestError,
    "USTB_CONNECT_ERROR": APIConnectionError,
    "USTB_TIMEOUT": APITimeoutError,
    "USTB_CONNECTION_LOST": ConnectionLostError,
    "USTB_HTTP_STATUS": APIStatusError,
    "USTB_API_ERROR": APIError,
    "USTB_AUTH_ERROR": AuthenticationError,
    "USTB_PROTOCOL_ERROR": ProtocolError,
    "USTB_TRUNCATED": StreamTruncatedError,
    "USTB_TOO_LARGE": ResponseTooLargeError,
    "USTB_CANCELLED": CancelledError,
    "USTB_PANIC": InternalError,
}
_BY_STATUS = {STATUS[name]: cls for name, cls in ERROR_CLASSES.items()}


def error_from_parts(status, status_name, message, detail_json, api_code, http_status):
    try:
        detail = json.loads(detail_json)
    except ValueError:
        detail = {}
    cls = _BY_STATUS.get(status, USTBError)
    return cls(
        message or status_name,
        status=status,
        status_name=status_name,
        api_code=api_code,
        http_status=http_status,
        detail=detail if isinstance(detail, dict) else {},
    )
