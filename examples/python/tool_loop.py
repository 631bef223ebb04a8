#!/usr/bin/env python3
"""Function calling in two steps: the model asks for a tool, this program runs it and sends
the result back, and the model answers from it.

    python3 tool_loop.py --base-url http://127.0.0.1:PORT --cookie cookie_vjuid_login=demo \\
        '北京天气怎么样？@emu:tool=get_weather:{"city":"北京"}'

The `@emu:tool=…` directive makes the bundled emulator ask for the call; the real model
decides by itself (`python3 tool_loop.py --cookie "cookie_vjuid_login=…" "北京天气怎么样？"`).
`--stream` reads each reply as a stream and puts the calls together from their deltas, as
an agent that shows text while it arrives does.

Output: the model's text, one `[工具] NAME(ARGUMENTS) = RESULT` line per call it made, then
the answer. Exits 1 on an error, or when the model still asks for tools after MAX_ROUNDS.
"""

import argparse
import json
import sys

from ustb_openai import USTBError, USTBOpenAI

MAX_ROUNDS = 4  # requests per question: a model that keeps calling tools is stopped

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather of a city in China",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "e.g. 北京"}},
                "required": ["city"],
            },
        },
    }
]

# A stand-in for a real weather service, so the example runs offline and gives fixed output.
WEATHER = {"北京": ("晴", 25), "上海": ("多云", 28)}


def get_weather(city):
    if city not in WEATHER:
        return {"error": "no weather for %s" % city}
    sky, celsius = WEATHER[city]
    return {"city": city, "weather": sky, "temperature_c": celsius}


LOCAL_TOOLS = {"get_weather": get_weather}


def run_tool(name, arguments):
    """Runs one call; whatever goes wrong is told to the model as the result, so it can
    answer (or try again) instead of the program failing."""
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        result = {"error": "the arguments are not JSON: %s" % arguments}
    else:
        tool = LOCAL_TOOLS.get(name)
        if tool is None:
            result = {"error": "no tool named %s" % name}
        elif not isinstance(args, dict):
            result = {"error": "the arguments must be a JSON object"}
        else:
            try:
                result = tool(**args)
            except TypeError as err:  # missing or unexpected arguments
                result = {"error": str(err)}
    return json.dumps(result, ensure_ascii=False)


def ask(client, messages, stream):
    """One request; prints the reply's text and returns (text or None, tool calls as dicts)."""
    request = dict(messages=messages, model="DeepSeek", tools=TOOLS)
    if not stream:
        message = client.chat.completions.create(**request).choices[0].message
        if message.content:
            print(message.content, end="", flush=True)
        calls = [call.model_dump() for call in message.tool_calls or []]
        return message.content, calls
    text, calls = [], {}
    for chunk in client.chat.completions.create(stream=True, **request):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if delta.content:
            print(delta.content, end="", flush=True)
            text.append(delta.content)
        # A call comes as a first delta (index, id, type, function.name) and then fragments
        # of function.arguments under the same index.
        for part in delta.tool_calls or []:
            empty = {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
            call = calls.setdefault(part.index, empty)
            call["id"] = part.id or call["id"]
            if part.function:
                call["function"]["name"] += part.function.name or ""
                call["function"]["arguments"] += part.function.arguments or ""
    return "".join(text) or None, [calls[i] for i in sorted(calls)]


def converse(client, prompt, stream):
    messages = [
        {"role": "system", "content": "你是北京科技大学的校园助手，需要时使用工具。"},
        {"role": "user", "content": prompt},
    ]
    for _ in range(MAX_ROUNDS):
        text, calls = ask(client, messages, stream)
        if text and not text.endswith("\n"):
            print()
        if not calls:
            return 0  # the model answered
        # The assistant turn with its calls, then one tool message per call, in order.
        messages.append({"role": "assistant", "content": text, "tool_calls": calls})
        for call in calls:
            name, arguments = call["function"]["name"], call["function"]["arguments"]
            result = run_tool(name, arguments)
            print("[工具] %s(%s) = %s" % (name, arguments, result), flush=True)
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    print("error: still calling tools after %d requests" % MAX_ROUNDS, file=sys.stderr)
    return 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prompt", nargs="?", default="北京今天天气怎么样？")
    parser.add_argument("--base-url",
                        help="server URL (default: USTB_BASE_URL or chat.ustb.edu.cn)")
    parser.add_argument("--cookie", help='"cookie_vjuid_login=…" or a whole browser Cookie value')
    parser.add_argument("--stream", action="store_true", help="read the replies as streams")
    args = parser.parse_args()
    try:
        with USTBOpenAI(base_url=args.base_url, cookie=args.cookie) as client:
            return converse(client, args.prompt, args.stream)
    except USTBError as err:
        print("\nerror: %s" % err, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
