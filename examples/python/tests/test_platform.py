"""The platform calls against the emulator: every endpoint, models.list(), the login
states, cancelling a call with a Canceller, and arguments refused before any traffic."""

import os
import re
import socket
import threading
import time
import unittest
from unittest import mock

from tests.emulator import Emulator
from ustb_openai import (
    APIError,
    AuthenticationError,
    BadRequestError,
    CancelledError,
    Canceller,
    LoginState,
    Model,
    ModelList,
    USTBOpenAI,
)

LOGIN = "python-test-login"
emu = None


def setUpModule():
    global emu
    emu = Emulator()


def tearDownModule():
    emu.stop()


class Base(unittest.TestCase):
    def setUp(self):
        env = mock.patch.dict(os.environ)
        env.start()
        self.addCleanup(env.stop)
        for name in ("USTB_BASE_URL", "USTB_VJUID_LOGIN", "USTB_EASY_SESSION"):
            os.environ.pop(name, None)
        self.client = self.make(base_url=emu.url, vjuid_login=LOGIN)

    def make(self, **options):
        client = USTBOpenAI(**options)
        self.addCleanup(client.close)
        return client


class EndpointTest(Base):
    def test_site_and_applications(self):
        info = self.client.web_info()
        self.assertIs(info["isCas"], True)
        self.assertEqual(info["cookie_login_key"], "cookie_vjuid_login")
        apps = self.client.apps()
        self.assertEqual(sorted(a["id"] for a in apps), [3, 5])
        self.assertEqual(self.client.app_detail(5)["name"], "通义千问")
        self.assertEqual(self.client.app_detail()["id"], 3, "0 is the client's default")
        with self.assertRaises(APIError) as caught:
            self.client.app_detail(999)
        self.assertEqual((caught.exception.status_name, caught.exception.api_code),
                         ("USTB_API_ERROR", 1))
        settings = self.client.page_settings(3)
        values = settings["model_select"]["model_content"]["value"]
        self.assertEqual(values, [{"label": "DeepSeek", "value": "DeepSeek"}])

    def test_models_list_like_openai(self):
        models = self.client.models.list()
        self.assertIsInstance(models, ModelList)
        self.assertEqual(models.object, "list")
        self.assertEqual(len(models), 1)
        model = models.data[0]
        self.assertIsInstance(model, Model)
        self.assertEqual((model.id, model.object, model.created, model.owned_by),
                         ("DeepSeek", "model", 0, "ustb"))
        self.assertEqual((model.label, model.compose_id), ("DeepSeek", 3))
        qwen = [m.id for m in self.client.models.list(compose_id=5)]  # iterable, as a page is
        self.assertEqual(len(qwen), 2)
        self.assertNotIn("DeepSeek", qwen)
        # The listed id is what a request's model takes.
        reply = self.client.chat.completions.create(
            messages=[{"role": "user", "content": "你好"}], model=model.id)
        self.assertEqual(reply.model, model.id)

    def test_sessions_history_and_delete(self):
        new_id = self.client.new_session_id()
        self.assertRegex(new_id, r"^[0-9a-f]{32}$")
        self.assertNotEqual(self.client.new_session_id(3), new_id)
        prompt = "会话测试 %d" % time.monotonic_ns()
        self.client.chat.completions.create(
            messages=[{"role": "user", "content": prompt}], model="DeepSeek")
        sessions = self.client.sessions(1, 100)
        mine = [s for s in sessions if s["last_content"] == prompt]
        self.assertEqual(len(mine), 1, sessions)
        sess_id = mine[0]["sess_id"]
        history = self.client.chat_history(sess_id)
        self.assertEqual([m["role"] for m in history], ["user", "assistant"])
        self.assertEqual(history[0]["content"], prompt)
        self.assertTrue(history[1]["content"].endswith("你说：「%s」" % prompt))
        self.assertEqual(self.client.sessions(page=1000, page_size=1), [])
        self.assertEqual(self.client.delete_session(sess_id), [])
        self.assertNotIn(sess_id, [s["sess_id"] for s in self.client.sessions(1, 100)])
        self.assertEqual(self.client.chat_history(sess_id), [])
        self.assertEqual(self.client.delete_session("no-such-session"), [])

    def test_session_calls_need_a_login(self):
        guest = self.make(base_url=emu.url)
        calls = (guest.new_session_id, guest.sessions, lambda: guest.chat_history("abc"),
                 lambda: guest.delete_session("abc"))
        for call in calls:
            with self.assertRaises(AuthenticationError) as caught:
                call()
            self.assertEqual(caught.exception.api_code, 10042)
        self.assertEqual(guest.models.list().data[0].id, "DeepSeek", "page settings are public")
        with Emulator("--no-login") as open_emu:
            guest = self.make(base_url=open_emu.url)
            self.assertRegex(guest.new_session_id(), r"^[0-9a-f]{32}$")
            self.assertEqual(guest.sessions(), [])

    def test_bad_arguments_are_refused(self):
        bad = [
            lambda: self.client.sessions(page=0),  # the library's rule
            lambda: self.client.sessions(page_size=101),
            lambda: self.client.sessions(page=-1),  # ctypes would wrap these: refused here
            lambda: self.client.sessions(page=2**32),
            lambda: self.client.app_detail(-1),
            lambda: self.client.app_detail(2**63),
            lambda: self.client.app_detail("3"),
            lambda: self.client.delete_session("bad id!"),
            lambda: self.client.delete_session(""),
            lambda: self.client.delete_session("abc\0def"),  # ctypes would cut it at the NUL
            lambda: self.client.chat_history(b"abc"),
            lambda: self.client.models.list(compose_id=True),
        ]
        for i, call in enumerate(bad):
            with self.assertRaises(BadRequestError, msg="case %d" % i) as caught:
                call()
            self.assertEqual(caught.exception.status_name, "USTB_INVALID_ARGUMENT")
        with self.assertRaises(TypeError):
            self.client.web_info(canceller=object())


class LoginStateTest(Base):
    def test_logged_in(self):
        state = self.client.login_state()
        self.assertIsInstance(state, LoginState)
        self.assertEqual((state.state, state.http_status, state.error), ("logged_in", 200, None))
        self.assertTrue(state.logged_in)

    def test_logged_out(self):
        state = self.make(base_url=emu.url).login_state()
        self.assertEqual((state.state, state.http_status), ("logged_out", 302))
        self.assertFalse(state.logged_in)
        self.assertIn("login", state.detail)

    def test_expired_cookie_is_logged_out(self):
        with Emulator("--login-token", "the-valid-one") as strict:
            ok = self.make(base_url=strict.url, vjuid_login="the-valid-one")
            self.assertEqual(ok.login_state().state, "logged_in")
            old = self.make(base_url=strict.url, vjuid_login="an-expired-one")
            self.assertEqual(old.login_state().state, "logged_out")

    def test_unreachable(self):
        with socket.socket() as s:  # a port that was free a moment ago: nobody listens
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        client = self.make(base_url="http://127.0.0.1:%d" % port, vjuid_login=LOGIN,
                           easy_session="a" * 32, max_retries=0)
        state = client.login_state()
        self.assertEqual((state.state, state.http_status, state.error),
                         ("unreachable", None, "connect_error"))
        self.assertFalse(state.logged_in)
        self.assertTrue(state.detail)


class CancelTest(Base):
    def silent_client(self):
        """A client of a server that accepts connections (the kernel's backlog) and never
        answers, so every call blocks until cancelled."""
        server = socket.socket()
        self.addCleanup(server.close)
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        url = "http://127.0.0.1:%d" % server.getsockname()[1]
        return self.make(base_url=url, vjuid_login=LOGIN, easy_session="a" * 32)

    def test_cancel_a_blocked_call_from_another_thread(self):
        client = self.silent_client()
        canceller = Canceller()
        calls = [
            client.web_info, client.apps, client.login_state, client.models.list,
            lambda canceller: client.chat_history("abc", canceller=canceller),
        ]
        for call in calls:
            canceller = Canceller()
            timer = threading.Timer(0.3, canceller.cancel)
            start = time.monotonic()
            timer.start()
            try:
                with self.assertRaises(CancelledError) as caught:
                    call(canceller=canceller)
            finally:
                timer.join()
            seconds = time.monotonic() - start
            self.assertEqual(caught.exception.status_name, "USTB_CANCELLED")
            self.assertGreaterEqual(seconds, 0.25)
            self.assertLess(seconds, 5.0, "the cancel must end the call promptly")
            self.assertTrue(canceller.cancelled)

    def test_a_cancelled_canceller_stays_cancelled(self):
        canceller = Canceller()
        self.assertFalse(canceller.cancelled)
        canceller.cancel()
        canceller.cancel()  # idempotent
        for call in (self.client.web_info, self.client.models.list, self.client.login_state):
            with self.assertRaises(CancelledError):
                call(canceller=canceller)
        # A fresh one, or none, works.
        self.assertIs(self.client.web_info(canceller=Canceller())["isCas"], True)
        self.assertIs(self.client.web_info(canceller=None)["isCas"], True)

    def test_one_call_at_a_time_per_canceller(self):
        client = self.silent_client()
        canceller = Canceller()
        outcome = []

        def blocked():
            try:
                client.web_info(canceller=canceller)
            except CancelledError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=blocked)
        thread.start()
        time.sleep(0.3)
        with self.assertRaises(BadRequestError) as caught:
            client.apps(canceller=canceller)
        self.assertTrue(re.search("canceller", str(caught.exception), re.I), caught.exception)
        canceller.cancel()
        thread.join(5)
        self.assertFalse(thread.is_alive())
        self.assertEqual(len(outcome), 1)


if __name__ == "__main__":
    unittest.main()
