"""Read-only objects over the library's JSON, with attribute access like openai's models.

`completion.choices[0].message.content` works on the parsed dict; `model_dump()` (or
`to_dict()`) returns the raw dict and `model_dump_json()` (or `to_json()`) the JSON text.
OpenAI's optional fields that the JSON leaves out read as None (as in openai-python, where
e.g. `delta.content` is None on the role-only first chunk); any other unknown name is an
AttributeError, so typos are not hidden.
"""

import copy
import json

_OPTIONAL = frozenset(
    (
        "content",
        "reasoning_content",
        "role",
        "refusal",
        "finish_reason",
        "usage",
        "logprobs",
        "tool_calls",
        "function_call",
        # a streamed tool call's later fragments carry only index and function.arguments
        "id",
        "type",
        "function",
        "name",
        "arguments",
        "system_fingerprint",
        "service_tier",
        "prompt_tokens_details",
        "completion_tokens_details",
    )
)


def _wrap(value):
    if isinstance(value, dict):
        return BaseModel(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class BaseModel(object):
    def __init__(self, data):
        object.__setattr__(self, "_data", data)
        for key, value in data.items():
            if key.isidentifier() and not key.startswith("_"):
                object.__setattr__(self, key, _wrap(value))

    def __getattr__(self, name):  # only called when normal lookup failed
        if name in _OPTIONAL:
            return None
        raise AttributeError("%s has no field %r" % (type(self).__name__, name))

    def __setattr__(self, name, value):
        raise AttributeError("%s is read-only" % type(self).__name__)

    def __eq__(self, other):
        return isinstance(other, BaseModel) and self._data == other._data

    __hash__ = None

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, json.dumps(self._data, ensure_ascii=False))

    def model_dump(self, **_ignored):
        """The raw JSON object as a new dict (changes to it do not affect this object)."""
        return copy.deepcopy(self._data)

    def model_dump_json(self, **_ignored):
        return json.dumps(self._data, ensure_ascii=False)

    to_dict = model_dump
    to_json = model_dump_json


class ChatCompletion(BaseModel):
    """An OpenAI `chat.completion`: choices[0].message.content / .reasoning_content."""


class ChatCompletionChunk(BaseModel):
    """An OpenAI `chat.completion.chunk`: choices[0].delta.content / .reasoning_content."""


class Model(BaseModel):
    """An OpenAI model: id (what a request's `model` takes), object "model", created (0: the
    server gives no date), owned_by "ustb"; extensions: label (the name the web page shows)
    and compose_id (the application)."""


class ModelList(BaseModel):
    """What `client.models.list()` returns, like openai-python's page: `.data` is a list of
    `Model`s, `.object` is "list", and iterating it yields the models."""

    def __init__(self, data):
        super().__init__(data)
        object.__setattr__(self, "data", [Model(m) for m in data.get("data") or []])

    def __iter__(self):
        return iter(self.data)

    def __len__(self):
        return len(self.data)


class LoginState(BaseModel):
    """What `client.login_state()` returns: state ("logged_in", "logged_out" or
    "unreachable"), detail (a readable sentence), http_status (int or None) and error (the
    error type when unreachable, e.g. "connect_error", else None)."""

    @property
    def logged_in(self):
        return self.state == "logged_in"
