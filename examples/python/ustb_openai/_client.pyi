from types import TracebackType
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Literal,
    Mapping,
    Optional,
    Type,
    Union,
    overload,
)

from ._models import ChatCompletion, ChatCompletionChunk
from ._streaming import Stream

class USTBOpenAI:
    DEFAULT_BASE_URL: str
    chat: "Chat"
    def __init__(
        self,
        *,
        base_url: Optional[str] = ...,
        easy_session: Optional[str] = ...,
        vjuid_login: Optional[str] = ...,
        cookie: Optional[str] = ...,
        timeout: Optional[float] = ...,
        connect_timeout: Optional[float] = ...,
        idle_timeout: Optional[float] = ...,
        max_retries: Optional[int] = ...,
        user_agent: Optional[str] = ...,
        **kwargs_ignored: Any,
    ) -> None: ...
    @property
    def easy_session(self) -> Optional[str]: ...
    def user_info(self) -> Dict[str, Any]: ...
    def close(self) -> None: ...
    def __enter__(self) -> "USTBOpenAI": ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None: ...

class Chat:
    completions: "Completions"
    def __init__(self, client: USTBOpenAI) -> None: ...

class Completions:
    def __init__(self, client: USTBOpenAI) -> None: ...
    @overload
    def create(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        stream: Literal[True],
        **kwargs: Any,
    ) -> Stream: ...
    @overload
    def create(
        self,
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        stream: Optional[Literal[False]] = ...,
        **kwargs: Any,
    ) -> ChatCompletion: ...
    @overload
    def create(
        self, *, messages: Iterable[Mapping[str, Any]], model: str, stream: bool, **kwargs: Any
    ) -> Union[Stream, ChatCompletion]: ...
    def create_with_callback(
        self,
        callback: Callable[[ChatCompletionChunk], object],
        *,
        messages: Iterable[Mapping[str, Any]],
        model: str,
        **kwargs: Any,
    ) -> bool: ...
