"""Validates the library's output with the official openai-python types.

usage: openai_types.py FILE   (FILE: one JSON document per line, "chunk <json>", "completion <json>"
                              or "models <json>", a model list as GET /v1/models answers)
Strict where it matters: the validated model must give back the same texts, ids and usage.
"""
import json
import sys

from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

checked = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        kind, _, raw = line.partition(" ")
        data = json.loads(raw)
        if kind == "chunk":
            chunk = ChatCompletionChunk.model_validate(data, strict=False)
            assert chunk.object == "chat.completion.chunk"
            assert chunk.id == data["id"] and chunk.created == data["created"]
            for choice, want in zip(chunk.choices, data["choices"]):
                assert choice.delta.content == want["delta"].get("content")
                assert (choice.delta.role or None) == want["delta"].get("role")
                assert choice.finish_reason == want["finish_reason"]
                got_calls = choice.delta.tool_calls or []
                assert len(got_calls) == len(want["delta"].get("tool_calls", []))
                for got, call in zip(got_calls, want["delta"].get("tool_calls", [])):
                    assert got.index == call["index"] and got.id == call.get("id")
                    assert got.type == call.get("type")
                    assert got.function.name == call["function"].get("name")
                    assert got.function.arguments == call["function"]["arguments"]
            if data.get("usage"):
                assert chunk.usage.total_tokens == data["usage"]["total_tokens"]
        elif kind == "completion":
            completion = ChatCompletion.model_validate(data, strict=False)
            message = completion.choices[0].message
            assert message.role == "assistant"
            assert message.content == data["choices"][0]["message"]["content"]
            assert completion.choices[0].finish_reason == data["choices"][0]["finish_reason"]
            want_calls = data["choices"][0]["message"].get("tool_calls") or []
            assert len(message.tool_calls or []) == len(want_calls)
            for got, call in zip(message.tool_calls or [], want_calls):
                assert got.type == "function" and got.id == call["id"]
                assert got.function.name == call["function"]["name"]
                assert got.function.arguments == call["function"]["arguments"]
            if data.get("usage"):
                assert completion.usage.prompt_tokens == data["usage"]["prompt_tokens"]
        elif kind == "models":
            assert data["object"] == "list" and isinstance(data["data"], list)
            for item in data["data"]:
                model = Model.model_validate(item, strict=True)
                assert model.object == "model"
                assert (model.id, model.created, model.owned_by) == (item["id"], item["created"], item["owned_by"])
        else:
            raise SystemExit(f"unknown kind {kind!r}")
        checked += 1
print(f"openai types: {checked} documents valid")
