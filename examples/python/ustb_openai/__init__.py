"""ustb_openai: an openai-python-shaped client for 北科大 AI 助手 over the libustb_openai C
library (ctypes, no third-party packages).

    from ustb_openai import USTBOpenAI
    client = USTBOpenAI(vjuid_login="...")
    for chunk in client.chat.completions.create(messages=[...], model="DeepSeek", stream=True):
        print(chunk.choices[0].delta.content or "", end="")
"""

from ._client import Chat, Completions, USTBOpenAI
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
from ._models import BaseModel, ChatCompletion, ChatCompletionChunk
from ._streaming import Stream

__all__ = [
    "USTBOpenAI", "Chat", "Completions", "Stream", "version",
    "BaseModel", "ChatCompletion", "ChatCompletionChunk",
    "USTBError", "USTBOpenAIException", "BadRequestError", "APIError", "APIConnectionError",
    "APITimeoutError", "ConnectionLostError", "APIStatusError", "AuthenticationError",
    "ProtocolError", "StreamTruncatedError", "ResponseTooLargeError", "CancelledError",
    "InternalError",
]
