"""The wrapper against the emulator: text, objects, errors, cancel, close, push style."""

import os
import socket
import threading
import time
import unittest
from unittest import mock

import ustb_openai
from tests.emulator import INTRO_CONTENT, INTRO_PROMPT, INTRO_REASONING, Emulator, reply_to
from ustb_openai import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    CancelledError,
    ChatCompletion,
    ChatCompletionChunk,
    ConnectionLostError,
    Stream,
    StreamTruncatedError,
    USTBError,
    USTBOpenAI,
)

LOGIN = "python-test-login"
emu = None


def setUpModule():
    global emu
    emu = Emulator()


def tearDownModule():
    emu.stop()


def user(text):
    return [{"role": "user", "content": text}]


class Base(unittest.TestCase):
    def setUp(self):
        # The constructor reads USTB_* defaults; keep the caller's environment out of it.
        env = mock.patch.dict(os.environ)
        env.start()
        self.addCleanup(env.stop)
        for name in ("USTB_BASE_URL", "USTB_VJUID_LOGIN", "USTB_EASY_SESSION"):
            os.environ.pop(name, None)
        self.client = USTBOpenAI(base_url=emu.url, vjuid_login=LOGIN)
        self.addCleanup(self.client.close)

    def stream(self, prompt, **kwargs):
        return self.client.chat.completions.create(
            messages=user(prompt), model="DeepSeek", stream=True, **kwargs
        )


class StreamTest(Base):
    def test_stream_text(self):
        reasoning, content, finish, ids = [], [], [], set()
        stream = self.stream(INTRO_PROMPT)
        self.assertIsInstance(stream, Stream)
        chunks = list(stream)
        for chunk in chunks:
            self.assertIsInstance(chunk, ChatCompletionChunk)
            self.assertEqual(chunk.object, "chat.completion.chunk")
            ids.add(chunk.id)
            delta = chunk.choices[0].delta
            reasoning.append(delta.reasoning_content or "")
            content.append(delta.content or "")
            finish.append(chunk.choices[0].finish_reason)
        self.assertEqual("".join(reasoning), INTRO_REASONING)
        self.assertEqual("".join(content), INTRO_CONTENT)
        self.assertEqual(chunks[0].choices[0].delta.role, "assistant")
        self.assertEqual([f for f in finish if f], ["stop"])
        self.assertEqual(finish[-1], "stop")
        self.assertEqual(len(ids), 1)
        self.assertTrue(stream.closed, "an exhausted stream frees its handle at once")
        self.assertEqual(list(stream), [])

    def test_stream_echoes_other_prompts(self):
        prompt = "北科大在哪里？"
        text = "".join(c.choices[0].delta.content or "" for c in self.stream(prompt))
        self.assertEqual(text, reply_to(prompt))

    def test_include_usage_adds_a_usage_chunk(self):
        chunks = list(self.stream(INTRO_PROMPT, stream_options={"include_usage": True}))
        last = chunks[-1]
        self.assertEqual(last.choices, [])
        self.assertGreater(last.usage.total_tokens, 0)
        self.assertEqual(
            last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens
        )
        self.assertIsNone(chunks[0].usage)

    def test_model_objects(self):
        chunk = next(iter(self.stream(INTRO_PROMPT)))
        raw = chunk.model_dump()
        self.assertEqual(raw, chunk.to_dict())
        self.assertEqual(raw["choices"][0]["delta"]["role"], "assistant")
        raw["id"] = "changed"
        self.assertNotEqual(chunk.id, "changed", "model_dump() returns a copy")
        self.assertIn('"chat.completion.chunk"', chunk.model_dump_json())
        with self.assertRaises(AttributeError):
            chunk.no_such_field  # noqa: B018 - the attribute access is what is tested
        with self.assertRaises(AttributeError):
            chunk.id = "x"

    def test_context_manager_closes_an_unfinished_stream(self):
        with self.stream(INTRO_PROMPT) as stream:
            first = next(stream)
            self.assertFalse(stream.closed)
        self.assertEqual(first.choices[0].delta.role, "assistant")
        self.assertTrue(stream.closed)
        stream.close()  # idempotent
        stream.cancel()  # a no-op once freed, never a use-after-free
        with self.assertRaises(CancelledError):
            next(stream)

    def test_stream_outlives_its_client(self):
        stream = self.stream(INTRO_PROMPT)
        self.client.close()
        text = "".join(c.choices[0].delta.content or "" for c in stream)
        self.assertEqual(text, INTRO_CONTENT)
        with self.assertRaises(USTBError):
            self.stream(INTRO_PROMPT)


class CompletionTest(Base):
    def test_non_stream_completion(self):
        completion = self.client.chat.completions.create(
            messages=user(INTRO_PROMPT), model="DeepSeek", temperature=0.3, stream=False
        )
        self.assertIsInstance(completion, ChatCompletion)
        choice = completion.choices[0]
        self.assertEqual(completion.object, "chat.completion")
        self.assertEqual(choice.message.role, "assistant")
        self.assertEqual(choice.message.content, INTRO_CONTENT)
        self.assertEqual(choice.message.reasoning_content, INTRO_REASONING)
        self.assertEqual(choice.finish_reason, "stop")
        usage = completion.usage
        self.assertGreater(usage.total_tokens, 0)
        self.assertEqual(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens)
        self.assertEqual(completion.model_dump()["choices"][0]["message"]["content"], INTRO_CONTENT)

    def test_stream_defaults_to_false(self):
        completion = self.client.chat.completions.create(messages=user("你好"), model="DeepSeek")
        self.assertEqual(completion.choices[0].message.content, reply_to("你好"))

    def test_moderation_is_a_normal_reply_with_content_filter(self):
        completion = self.client.chat.completions.create(
            messages=user("@emu:moderation 测试"), model="DeepSeek"
        )
        self.assertEqual(completion.choices[0].finish_reason, "content_filter")
        self.assertTrue(completion.choices[0].message.content)


class ErrorTest(Base):
    def test_auth_error_without_login_cookie(self):
        guest = USTBOpenAI(base_url=emu.url)
        self.addCleanup(guest.close)
        # No easy_session was given, so the server issued a guest token right away.
        self.assertRegex(guest.easy_session, r"^[0-9A-Za-z]{32}$")
        for stream in (True, False):
            with self.assertRaises(AuthenticationError) as caught:
                result = guest.chat.completions.create(
                    messages=user(INTRO_PROMPT), model="DeepSeek", stream=stream
                )
                list(result)  # a stream sends its request on the first read
            err = caught.exception
            self.assertIsInstance(err, APIError)
            self.assertEqual(err.status, 10)
            self.assertEqual(err.status_name, "USTB_AUTH_ERROR")
            self.assertEqual(err.api_code, 10042)
            self.assertEqual(err.type, "auth_error")
            self.assertEqual(err.detail["e"], 10042)
            self.assertIn("USTB_AUTH_ERROR", str(err))

    def test_truncated_stream(self):
        stream = self.stream("@emu:truncate 你好")
        got = []
        with self.assertRaises(StreamTruncatedError) as caught:
            for chunk in stream:
                got.append(chunk.choices[0].delta.content or "")
        self.assertEqual(caught.exception.status, 12)
        self.assertEqual(caught.exception.status_name, "USTB_TRUNCATED")
        self.assertEqual(caught.exception.type, "truncated")
        self.assertTrue(got, "chunks before the cut are delivered")
        with self.assertRaises(StreamTruncatedError):  # the error is sticky
            next(stream)
        stream.close()
        with self.assertRaises(StreamTruncatedError):
            self.client.chat.completions.create(messages=user("@emu:truncate"), model="DeepSeek")

    def test_connection_reset(self):
        with self.assertRaises(ConnectionLostError) as caught:
            list(self.stream("@emu:reset"))
        self.assertIsInstance(caught.exception, APIConnectionError)
        self.assertEqual(caught.exception.status, 7)

    def test_bad_requests_are_value_errors(self):
        with self.assertRaises(BadRequestError) as caught:
            self.client.chat.completions.create(
                messages=[{"role": "assistant", "content": "hi"}], model="DeepSeek", stream=True
            )
        self.assertIsInstance(caught.exception, ValueError)
        self.assertEqual(caught.exception.status_name, "USTB_INVALID_REQUEST")
        with self.assertRaises(BadRequestError) as caught:
            USTBOpenAI(base_url=emu.url, easy_session="too-short")
        self.assertEqual(caught.exception.status_name, "USTB_INVALID_ARGUMENT")

    def test_connect_error(self):
        with socket.socket() as s:  # a port that was free a moment ago: nobody listens
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        client = USTBOpenAI(
            base_url="http://127.0.0.1:%d" % port, vjuid_login=LOGIN,
            easy_session="a" * 32, max_retries=0,
        )
        with self.assertRaises(APIConnectionError) as caught:
            client.chat.completions.create(messages=user("hi"), model="DeepSeek")
        self.assertEqual(caught.exception.status_name, "USTB_CONNECT_ERROR")
        client.close()


class CancelTest(Base):
    def read_silent_stream(self, stop):
        """Reads a `@emu:silent` stream (one event, then 60 s of silence) while another
        thread calls `stop(stream)` after 0.3 s; returns (first chunk, error, seconds)."""
        stream = self.stream("@emu:silent")
        first = next(stream)  # the one event; the next read blocks on the silence
        timer = threading.Timer(0.3, stop, args=(stream,))
        start = time.monotonic()
        timer.start()
        try:
            with self.assertRaises(CancelledError) as caught:
                next(stream)
        finally:
            timer.join()
        return stream, first, caught.exception, time.monotonic() - start

    def test_cancel_from_another_thread(self):
        stream, first, err, seconds = self.read_silent_stream(Stream.cancel)
        self.assertEqual(first.choices[0].delta.role, "assistant")
        self.assertEqual(err.status, 14)
        self.assertEqual(err.status_name, "USTB_CANCELLED")
        self.assertGreaterEqual(seconds, 0.25)
        self.assertLess(seconds, 5.0, "cancel must not wait for the 60 s silence")
        self.assertFalse(stream.closed, "cancel() alone keeps the handle until close()")
        with self.assertRaises(CancelledError):  # later reads stay cancelled
            next(stream)
        stream.close()
        self.assertTrue(stream.closed)

    def test_cancel_races_close(self):
        # cancel() takes no lock: it goes through a ustb_canceller, which stays valid after
        # close() has freed the stream, whichever of the two threads comes first.
        for i in range(100):
            stream = self.stream(INTRO_PROMPT)
            if i % 2 == 0:
                next(stream)  # half mid-reply, half before the request was sent
            other = threading.Thread(target=stream.cancel)
            other.start()
            stream.close()
            other.join()
            stream.cancel()
            self.assertTrue(stream.closed)

    def test_close_from_another_thread(self):
        stream, _, err, seconds = self.read_silent_stream(Stream.close)
        self.assertLess(seconds, 5.0)
        self.assertTrue(stream.closed, "the reading thread freed the handle after its read")
        with self.assertRaises(CancelledError):
            next(stream)

    def test_second_reader_is_refused_while_one_is_blocked(self):
        stream = self.stream("@emu:silent")
        next(stream)
        outcome = []

        def reader():
            try:
                next(stream)
            except CancelledError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=reader)
        thread.start()
        time.sleep(0.3)
        with self.assertRaises(RuntimeError):
            next(stream)
        stream.close()
        thread.join(5)
        self.assertFalse(thread.is_alive())
        self.assertEqual(len(outcome), 1)


class PushTest(Base):
    def test_for_each(self):
        parts = []
        stream = self.stream(INTRO_PROMPT)
        complete = stream.for_each(lambda c: parts.append(c.choices[0].delta.content or ""))
        self.assertTrue(complete)
        self.assertEqual("".join(parts), INTRO_CONTENT)
        self.assertTrue(stream.closed)

    def test_create_with_callback_and_stop(self):
        parts = []
        complete = self.client.chat.completions.create_with_callback(
            lambda c: parts.append(c.choices[0].delta.content or ""),
            messages=user("你好"), model="DeepSeek",
        )
        self.assertTrue(complete)
        self.assertEqual("".join(parts), reply_to("你好"))
        seen = []
        complete = self.client.chat.completions.create_with_callback(
            lambda c: seen.append(c) or len(seen) == 2, messages=user("你好"), model="DeepSeek"
        )
        self.assertFalse(complete)
        self.assertEqual(len(seen), 2)

    def test_callback_exception_propagates(self):
        def boom(_chunk):
            raise KeyError("from the callback")

        stream = self.stream(INTRO_PROMPT)
        with self.assertRaises(KeyError):
            stream.for_each(boom)
        with self.assertRaises(CancelledError):  # stopping cancelled the stream
            next(stream)
        stream.close()


class ClientTest(Base):
    def test_environment_defaults(self):
        os.environ.update(USTB_BASE_URL=emu.url, USTB_VJUID_LOGIN=LOGIN)
        client = USTBOpenAI()
        self.addCleanup(client.close)
        text = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(
                messages=user(INTRO_PROMPT), model="DeepSeek", stream=True)
        )
        self.assertEqual(text, INTRO_CONTENT)

    def test_given_easy_session_is_kept(self):
        token = "0123456789abcdefghijABCDEFGHIJ01"
        client = USTBOpenAI(base_url=emu.url, vjuid_login=LOGIN, easy_session=token)
        self.addCleanup(client.close)
        self.assertEqual(client.easy_session, token)

    def test_raw_cookie_header(self):
        client = USTBOpenAI(base_url=emu.url, cookie="cookie_vjuid_login=" + LOGIN)
        self.addCleanup(client.close)
        self.assertRegex(client.easy_session, r"^[0-9A-Za-z]{32}$")
        completion = client.chat.completions.create(messages=user("你好"), model="DeepSeek")
        self.assertEqual(completion.choices[0].message.content, reply_to("你好"))

    def test_logged_in_client_also_gets_a_guest_token(self):
        self.assertRegex(self.client.easy_session, r"^[0-9A-Za-z]{32}$")
        self.assertEqual(self.client.user_info()["user_name"], "张同学")

    def test_version(self):
        self.assertRegex(ustb_openai.version(), r"^\d+\.\d+\.\d+")


if __name__ == "__main__":
    unittest.main()
