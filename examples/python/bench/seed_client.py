"""The stream read the way the Python client users have today reads it (the seed package).

httpx 0.28 + httpx-sse 0.4 `iter_sse()`, `json.loads` of each event, `d.answer` taken, and one
pydantic `ChatCompletionChunk` (openai-python's type) built per event. Used by `make bench`:

    python seed_client.py BASE_URL PROMPT RUNS

prints one JSON line: {"events": N, "wall_s": [...], "cpu_s": [...]}, seconds per run of the stream
(wall clock, and CPU of this thread), after one warm-up run.
"""

import json
import sys
import time

import httpx
from httpx_sse import connect_sse
from openai.types.chat import ChatCompletionChunk


def read_stream(client: httpx.Client, base_url: str, prompt: str) -> int:
    form = {"content": (None, prompt), "compose_id": (None, "3")}
    n = 0
    with connect_sse(client, "POST", base_url + "/site/ai/compose_chat", files=form) as source:
        for sse in source.iter_sse():
            d = json.loads(sse.data)["d"]
            ChatCompletionChunk(  # built and dropped, as the seed yields one per event
                id=d["message_id"],
                object="chat.completion.chunk",
                created=int(time.time()),
                model="DeepSeek",
                choices=[
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": d["answer"]},
                        "finish_reason": None,
                    }
                ],
            )
            n += 1
    return n


def main() -> None:
    base_url, prompt, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    headers = {"Cookie": "cookie_vjuid_login=bench"}
    with httpx.Client(headers=headers, timeout=60.0) as client:
        events = read_stream(client, base_url, prompt)  # warm-up: imports, connection
        wall, cpu = [], []
        for _ in range(runs):
            t, c = time.perf_counter(), time.thread_time()
            n = read_stream(client, base_url, prompt)
            cpu.append(time.thread_time() - c)
            wall.append(time.perf_counter() - t)
            assert n == events, (n, events)
    print(json.dumps({"events": events, "wall_s": wall, "cpu_s": cpu}))


if __name__ == "__main__":
    main()
