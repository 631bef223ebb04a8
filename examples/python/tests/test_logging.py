"""The library's log lines reach logging.getLogger("ustb_openai"), at the logger's level,
from whichever thread logs, without cookie values or message text."""

import logging
import os
import socket
import subprocess
import sys
import threading
import unittest
from unittest import mock

from tests.emulator import INTRO_PROMPT, PACKAGE_ROOT, Emulator
from ustb_openai import APIConnectionError, StreamTruncatedError, USTBOpenAI, _logging

LOGIN = "python-log-secret-login"
emu = None


def setUpModule():
    global emu
    emu = Emulator()


def tearDownModule():
    emu.stop()


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def levels(self):
        return {r.levelname for r in self.records}

    def text(self):
        return "\n".join(r.getMessage() for r in self.records)


class LoggingTest(unittest.TestCase):
    def setUp(self):
        env = mock.patch.dict(os.environ)
        env.start()
        self.addCleanup(env.stop)
        for name in ("USTB_BASE_URL", "USTB_VJUID_LOGIN", "USTB_EASY_SESSION", "USTB_LOG"):
            os.environ.pop(name, None)
        logger = logging.getLogger("ustb_openai")
        self.handler = Records()
        logger.addHandler(self.handler)
        old_level = logger.level
        self.addCleanup(logger.setLevel, old_level)
        self.addCleanup(logger.removeHandler, self.handler)
        self.logger = logger

    def client(self, **options):
        options.setdefault("base_url", emu.url)
        client = USTBOpenAI(**options)
        self.addCleanup(client.close)
        return client

    def chat(self, client, prompt=INTRO_PROMPT, stream=False):
        reply = client.chat.completions.create(
            messages=[{"role": "user", "content": prompt}], model="DeepSeek", stream=stream)
        return list(reply) if stream else reply

    def test_debug_and_info_lines_without_secrets(self):
        self.logger.setLevel(logging.DEBUG)
        client = self.client(vjuid_login=LOGIN)
        self.chat(client)
        client.models.list()
        self.assertEqual(self.handler.levels(), {"DEBUG", "INFO"})
        self.assertTrue(all(r.name == "ustb_openai" for r in self.handler.records))
        text = self.handler.text()
        self.assertIn("POST /site/ai/compose_chat: sending attempt 1", text)  # DEBUG
        self.assertIn("POST /site/ai/compose_chat: HTTP 200", text)  # INFO
        self.assertIn("chat stream ended normally", text)
        self.assertIn("GET /site/voom/page-setting", text)
        for secret in (LOGIN, client.easy_session, INTRO_PROMPT):
            self.assertNotIn(secret, text)

    def test_the_level_follows_the_logger(self):
        self.logger.setLevel(logging.WARNING)
        client = self.client(vjuid_login=LOGIN)
        self.chat(client)
        self.assertEqual(self.handler.records, [], "INFO and DEBUG are not even formatted")
        with self.assertRaises(StreamTruncatedError):
            self.chat(client, "@emu:truncate", stream=True)
        self.assertEqual(self.handler.levels(), {"ERROR"})
        self.assertIn("chat stream failed (truncated", self.handler.text())
        # A retried connect failure is a warning.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        down = self.client(base_url="http://127.0.0.1:%d" % port, vjuid_login=LOGIN,
                           easy_session="a" * 32, max_retries=1)
        del self.handler.records[:]
        with self.assertRaises(APIConnectionError):
            down.web_info()
        self.assertEqual(self.handler.levels(), {"WARNING"})
        self.assertIn("retrying in", self.handler.text())
        # Back to INFO: the next call picks it up.
        self.logger.setLevel(logging.INFO)
        del self.handler.records[:]
        client.web_info()
        self.assertEqual(self.handler.levels(), {"INFO"})
        self.logger.setLevel(logging.CRITICAL)
        del self.handler.records[:]
        self.chat(client)
        self.assertEqual(self.handler.records, [])

    def test_lines_come_from_the_calling_threads(self):
        self.logger.setLevel(logging.INFO)
        client = self.client(vjuid_login=LOGIN)
        threads = [threading.Thread(target=self.chat, args=(client, "线程 %d" % i),
                                    name="chatter-%d" % i) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        ended = [r for r in self.handler.records if "chat stream ended normally" in r.getMessage()]
        self.assertEqual(sorted(r.threadName for r in ended),
                         ["chatter-%d" % i for i in range(4)])

    def test_wanted_level(self):
        for level, wanted in ((logging.DEBUG, 4), (logging.INFO, 3), (logging.WARNING, 2),
                              (logging.ERROR, 1), (logging.CRITICAL, 0)):
            self.logger.setLevel(level)
            self.assertEqual(_logging.wanted_level(), wanted)


if __name__ == "__main__":
    unittest.main()


class DefaultsTest(unittest.TestCase):
    """In a fresh process: silent by default, and USTB_LOG keeps the library's own stderr."""

    def run_chat(self, **env):
        code = ("from ustb_openai import USTBOpenAI\n"
                "c = USTBOpenAI(base_url=%r, vjuid_login='x')\n"
                "c.chat.completions.create(messages=[{'role': 'user', 'content': 'hi'}],"
                " model='DeepSeek')\n" % emu.url)
        full = {k: v for k, v in os.environ.items() if k != "USTB_LOG"}
        full.update(env)
        proc = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE_ROOT, env=full,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return proc.stderr.decode("utf-8", "replace")

    def test_silent_by_default(self):
        self.assertEqual(self.run_chat(), "")

    def test_ustb_log_writes_to_stderr(self):
        err = self.run_chat(USTB_LOG="info")
        self.assertIn("POST /site/ai/compose_chat: HTTP 200", err)
