from types import TracebackType
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Literal,
    Mapping,
    Optional,
    Type,
    Union,
    overload,
)

from ._cancel import Canceller
from ._models import BaseModel, ChatCompletion, ChatCompletionChunk, LoginState, ModelList
from ._streaming import Stream

class USTBOpenAI:
    DEFAULT_BASE_URL: str
    chat: "Chat"
    models: "Models"
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
    def web_info(self, *, canceller: Optional[Canceller] = ...) -> Dict[str, Any]: ...
    def apps(self, *, canceller: Optional[Canceller] = ...) -> List[Dict[str, Any]]: ...
    def app_detail(
        self, compose_id: int = ..., *, canceller: Optional[Canceller] = ...
    ) -> Dict[str, Any]: ...
    def page_settings(
        self, compose_id: int = ..., *, canceller: Optional[Canceller] = ...
    ) -> Dict[str, Any]: ...
    def new_session_id(
        self, compose_id: int = ..., *, canceller: Optional[Canceller] = ...
    ) -> str: ...
    def sessions(
        self, page: int = ..., page_size: int = ..., *, canceller: Optional[Canceller] = ...
    ) -> List[Dict[str, Any]]: ...
    def delete_session(self, session_id: str, *, canceller: Optional[Canceller] = ...) -> Any: ...
    def chat_history(
        self, session_id: str, *, canceller: Optional[Canceller] = ...
    ) -> List[Dict[str, Any]]: ...
    def login_state(self, *, canceller: Optional[Canceller] = ...) -> LoginState: ...
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

class Models:
    def __init__(self, client: USTBOpenAI) -> None: ...
    def list(
        self, *, compose_id: int = ..., canceller: Optional[Canceller] = ...
    ) -> ModelList: ...

class Completions:
    def __init__(self, client: USTBOpenAI) -> None: ...
    @overload
    def create(
        self,
        *,
        messages: Iterable[Union[Mapping[str, Any], BaseModel]],
        model: str,
        stream: Literal[True],
        **kwargs: Any,
    ) -> Stream: ...
    @overload
    def create(
        self,
        *,
        messages: Iterable[Union[Mapping[str, Any], BaseModel]],
        model: str,
        stream: Optional[Literal[False]] = ...,
        **kwargs: Any,
    ) -> ChatCompletion: ...
    @overload
    def create(
        self,
        *,
        messages: Iterable[Union[Mapping[str, Any], BaseModel]],
        model: str,
        stream: bool,
        **kwargs: Any,
    ) -> Union[Stream, ChatCompletion]: ...
    def create_with_callback(
        self,
        callback: Callable[[ChatCompletionChunk], object],
        *,
        messages: Iterable[Union[Mapping[str, Any], BaseModel]],
        model: str,
        **kwargs: Any,
    ) -> bool: ...
