"""Function calling through the wrapper: tool_calls on a completion's message and on stream
deltas (as openai-python reads them), a two-step round trip, and refused tool requests."""

import json
import os
import unittest
from unittest import mock

from tests.emulator import Emulator
from ustb_openai import BadRequestError, USTBOpenAI

emu = None
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]},
    },
}
CLOCK = {"type": "function", "function": {"name": "now", "description": "The time",
                                          "parameters": {"type": "object", "properties": {}}}}
ASK = '北京天气？@emu:tool=get_weather:{"city":"北京"}'
LEAD = "好的，我来调用工具。"  # the emulator's text before the calls


def setUpModule():
    global emu
    emu = Emulator()


def tearDownModule():
    emu.stop()


def assemble(chunks):
    """(content, {index: call dict}, finish_reasons) from stream chunks, as OpenAI clients
    put tool calls together."""
    text, calls, finish = [], {}, []
    for chunk in chunks:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        text.append(choice.delta.content or "")
        if choice.finish_reason:
            finish.append(choice.finish_reason)
        for part in choice.delta.tool_calls or []:
            call = calls.setdefault(part.index, {"id": None, "type": None, "name": "",
                                                 "arguments": "", "deltas": 0})
            call["id"] = part.id or call["id"]
            call["type"] = part.type or call["type"]
            call["name"] += part.function.name or ""
            call["arguments"] += part.function.arguments or ""
            call["deltas"] += 1
    return "".join(text), calls, finish


class ToolTest(unittest.TestCase):
    def setUp(self):
        env = mock.patch.dict(os.environ)
        env.start()
        self.addCleanup(env.stop)
        for name in ("USTB_BASE_URL", "USTB_VJUID_LOGIN", "USTB_EASY_SESSION"):
            os.environ.pop(name, None)
        self.client = USTBOpenAI(base_url=emu.url, vjuid_login="python-tools")
        self.addCleanup(self.client.close)

    def create(self, prompt, **kwargs):
        kwargs.setdefault("tools", [WEATHER, CLOCK])
        return self.client.chat.completions.create(
            messages=[{"role": "user", "content": prompt}], model="DeepSeek", **kwargs)

    def test_create_returns_message_tool_calls(self):
        completion = self.create(ASK)
        choice = completion.choices[0]
        self.assertEqual(choice.finish_reason, "tool_calls")
        self.assertEqual(choice.message.content.strip(), LEAD)
        (call,) = choice.message.tool_calls
        self.assertRegex(call.id, r"^call_[0-9a-f]{24}$")
        self.assertEqual(call.type, "function")
        self.assertEqual(call.function.name, "get_weather")
        self.assertEqual(json.loads(call.function.arguments), {"city": "北京"})

    def test_bare_calls_have_null_content(self):
        completion = self.create(
            '@emu:tool-bare @emu:tool=now @emu:tool=get_weather:{"city":"上海"}')
        message = completion.choices[0].message
        self.assertIsNone(message.content)
        self.assertEqual([c.function.name for c in message.tool_calls], ["now", "get_weather"])
        self.assertEqual(message.tool_calls[0].function.arguments, "{}")
        self.assertEqual(len({c.id for c in message.tool_calls}), 2)

    def test_stream_deltas(self):
        chunks = list(self.create(ASK + ' @emu:tool=get_weather:{"city": "上海"}', stream=True))
        text, calls, finish = assemble(chunks)
        self.assertEqual(text.strip(), LEAD)
        self.assertEqual(finish, ["tool_calls"])
        self.assertEqual(sorted(calls), [0, 1])
        first, second = calls[0], calls[1]
        self.assertEqual((first["name"], first["type"]), ("get_weather", "function"))
        self.assertEqual(json.loads(first["arguments"]), {"city": "北京"})
        self.assertEqual(second["arguments"], '{"city":"上海"}', "a compact JSON object")
        self.assertRegex(second["id"], r"^call_[0-9a-f]{24}$")
        self.assertNotEqual(first["id"], second["id"])
        # OpenAI's shape: a first delta with id, type and name (arguments ""), then fragments
        # that carry only index and function.arguments.
        parts = [p for c in chunks if c.choices for p in c.choices[0].delta.tool_calls or []]
        head = parts[0]
        self.assertEqual((head.index, head.function.name, head.function.arguments),
                         (0, "get_weather", ""))
        tail = [p for p in parts if p.id is None]
        self.assertTrue(tail)
        for part in tail:
            self.assertIsNone(part.type)
            self.assertIsNone(part.function.name)
            self.assertIsInstance(part.function.arguments, str)

    def test_two_step_round_trip_with_the_reply_object(self):
        # Issue 17: the same loop whatever markup the model writes its call in (the
        # emulator's @emu:tool-form=FORM); `reasoning` puts the call in the reasoning.
        for form in ("ours", "invoke", "special", "reasoning"):
            with self.subTest(form=form):
                self.two_step_round_trip(ASK + " @emu:tool-form=" + form)

    def two_step_round_trip(self, ask):
        messages = [{"role": "system", "content": "你是助手。"}, {"role": "user", "content": ask}]
        first = self.client.chat.completions.create(messages=messages, model="DeepSeek",
                                                    tools=[WEATHER])
        choice = first.choices[0]
        message = choice.message
        self.assertEqual(choice.finish_reason, "tool_calls")
        self.assertNotRegex(message.content, "[<｜`{]", "none of the markup is text")
        (call,) = message.tool_calls
        self.assertEqual(call.function.name, "get_weather")
        self.assertEqual(json.loads(call.function.arguments), {"city": "北京"})
        messages.append(message)  # as openai-python allows: the reply's message object
        messages.append({"role": "tool", "tool_call_id": call.id, "content": "晴，25°C"})
        for stream in (False, True):
            reply = self.client.chat.completions.create(
                messages=messages, model="DeepSeek", tools=[WEATHER], stream=stream)
            if stream:
                text, calls, finish = assemble(reply)
            else:
                choice = reply.choices[0]
                text, calls, finish = (choice.message.content, choice.message.tool_calls,
                                       [choice.finish_reason])
            self.assertEqual(text, "根据工具 get_weather 的结果：晴，25°C")
            self.assertFalse(calls)
            self.assertEqual(finish, ["stop"])

    def test_tool_choice_none_leaves_markup_as_text(self):
        completion = self.create(ASK, tool_choice="none")
        choice = completion.choices[0]
        self.assertIsNone(choice.message.tool_calls)
        self.assertEqual(choice.finish_reason, "stop")
        self.assertIn("<tool_call>", choice.message.content)

    def test_arguments_that_are_not_a_json_object_leave_the_markup_as_text(self):
        text_call = '<tool_call>{"name":"get_weather","arguments":{city: 上海}}</tool_call>'
        prompt = ASK + " @emu:tool=get_weather:{city: 上海}"
        choice = self.create(prompt).choices[0]
        self.assertEqual(choice.finish_reason, "tool_calls")
        self.assertEqual([c.function.arguments for c in choice.message.tool_calls],
                         ['{"city":"北京"}'])
        self.assertEqual(choice.message.content, LEAD + "\n\n" + text_call)
        text, calls, finish = assemble(self.create(prompt, stream=True))
        self.assertEqual([c["arguments"] for c in calls.values()], ['{"city":"北京"}'])
        self.assertEqual((text, finish), (LEAD + "\n\n" + text_call, ["tool_calls"]))

    def test_named_choice_and_parallel_flag_are_sent(self):
        completion = self.create(ASK, tool_choice={"type": "function",
                                                   "function": {"name": "get_weather"}},
                                 parallel_tool_calls=False)
        self.assertIn("You must call the tool get_weather",
                      completion.choices[0].message.reasoning_content)
        self.assertIn("Call at most one tool", completion.choices[0].message.reasoning_content)

    def test_bad_tool_requests_are_refused(self):
        cases = [
            dict(tools=[WEATHER], tool_choice="always"),
            dict(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "x"}}),
            dict(tools=[{"type": "retrieval"}]),
            dict(tools=[WEATHER, WEATHER]),
            dict(tools=None, tool_choice="required"),
        ]
        for kwargs in cases:
            for stream in (False, True):
                with self.assertRaises(BadRequestError, msg=repr(kwargs)) as caught:
                    self.create(ASK, stream=stream, **kwargs)
                self.assertEqual(caught.exception.status_name, "USTB_INVALID_REQUEST")


if __name__ == "__main__":
    unittest.main()
