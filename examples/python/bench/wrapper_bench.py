"""Measures the Python wrapper's (ctypes) streaming rate for `make bench` (examples/rust/bench.rs).

Reads one reply with `for chunk in client.chat.completions.create(..., stream=True)`, every
chunk a `ChatCompletionChunk` as a user gets it, once to warm up and then RUNS times, and
prints

    chunks N
    chunks/s MEDIAN
    cpu-chunks/s MEDIAN

by wall clock, then per CPU-second of the whole process (`time.process_time()`).
Usage: python wrapper_bench.py BASE_URL [RUNS]. The server is bench.rs's canned one, which
replays the same captured reply to every request. The library comes from USTB_LIB_DIR
(bench.rs points it at target/release).
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from ustb_openai import USTBOpenAI  # noqa: E402  (after the path above)


def read(client) -> int:
    """Streams one reply; returns its chunk count. Asks for the usage chunk, as the C API
    side of the benchmark does, so both count the same chunks."""
    stream = client.chat.completions.create(
        messages=[{"role": "user", "content": "bench"}],
        model="DeepSeek",
        stream=True,
        stream_options={"include_usage": True},
    )
    n = text = 0
    for chunk in stream:
        n += 1
        if chunk.choices:
            text += len(chunk.choices[0].delta.content or "")  # touch the delta, as a reader would
    if text == 0:
        raise RuntimeError("the reply carried no content")
    return n


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python wrapper_bench.py BASE_URL [RUNS]")
    base_url, runs = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 7
    # With an easy_session given, the client does not fetch one from /site/user_info at start
    # (the canned server would answer that with the chat stream too).
    client = USTBOpenAI(base_url=base_url, vjuid_login="bench", easy_session="bench" * 6 + "00")
    chunks = read(client)  # warm-up: library load, connection
    rates, cpu_rates = [], []
    for i in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        n = read(client)
        assert n == chunks, (i, n, chunks)
        cpu_rates.append(n / (time.process_time() - cpu))
        rates.append(n / (time.perf_counter() - start))
    median = statistics.median_high
    print("chunks %d" % chunks)
    print("chunks/s %.0f\ncpu-chunks/s %.0f" % (median(rates), median(cpu_rates)))


if __name__ == "__main__":
    main()
