"""ustb_openai: an openai-python-shaped client for 北科大 AI 助手 over the libustb_openai C
library (ctypes, no third-party packages).

    from ustb_openai import USTBOpenAI
    client = USTBOpenAI(vjuid_login="...")
    for chunk in client.chat.completions.create(messages=[...], model="DeepSeek", stream=True):
        print(chunk.choices[0].delta.content or "", end="")

Logging in (the university SSO, WeChat QR code or SMS code) for the cookie: `Login`.

The library's log lines go to `logging.getLogger("ustb_openai")`.
"""

from ._cancel import Canceller
from ._client import Chat, Completions, Models, USTBOpenAI
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CancelledError,
    ConnectionLostError,
    InternalError,
    ProtocolError,
    ResponseTooLargeError,
    StreamTruncatedError,
    USTBError,
    USTBOpenAIException,
)
from ._lib import version
from ._login import PUZZLE_AUTO, Login, PuzzleImages, QRState
from ._models import BaseModel, ChatCompletion, ChatCompletionChunk, LoginState, Model, ModelList
from ._streaming import Stream

__all__ = [
    "USTBOpenAI", "Chat", "Completions", "Models", "Stream", "Canceller", "version",
    "Login", "QRState", "PuzzleImages", "PUZZLE_AUTO",
    "BaseModel", "ChatCompletion", "ChatCompletionChunk", "Model", "ModelList", "LoginState",
    "USTBError", "USTBOpenAIException", "BadRequestError", "APIError", "APIConnectionError",
    "APITimeoutError", "ConnectionLostError", "APIStatusError", "AuthenticationError",
    "ProtocolError", "StreamTruncatedError", "ResponseTooLargeError", "CancelledError",
    "InternalError",
]
