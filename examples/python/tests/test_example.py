"""example.py end to end: its streamed output, and Ctrl-C cancelling a silent reply."""

import os
import signal
import subprocess
import sys
import time
import unittest

from tests.emulator import INTRO_CONTENT, INTRO_REASONING, PACKAGE_ROOT, Emulator

EXAMPLE = os.path.join(PACKAGE_ROOT, "example.py")
emu = None


def setUpModule():
    global emu
    emu = Emulator("--delay-ms", "5")


def tearDownModule():
    emu.stop()


def start(*args):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    for name in ("USTB_BASE_URL", "USTB_VJUID_LOGIN", "USTB_EASY_SESSION"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, EXAMPLE, "--base-url", emu.url] + list(args),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # Python turns SIGINT into KeyboardInterrupt only if it was not ignored on entry,
        # and a background CI shell may hand it down ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


class ExampleTest(unittest.TestCase):
    def test_streams_reasoning_then_content(self):
        proc = start("--cookie", "cookie_vjuid_login=example")
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err.decode("utf-8", "replace"))
        expected = "[思考] %s\n\n[回答] %s\n" % (INTRO_REASONING, INTRO_CONTENT)
        self.assertEqual(out.decode("utf-8"), expected)

    def test_reports_auth_error_without_cookie(self):
        proc = start()
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("USTB_AUTH_ERROR", err.decode("utf-8"))

    def test_ctrl_c_cancels_a_silent_reply(self):
        proc = start("--cookie", "cookie_vjuid_login=example", "@emu:silent")
        first = proc.stdout.read(len("[思考]".encode("utf-8")))  # the one event arrived
        self.assertEqual(first.decode("utf-8"), "[思考]")
        time.sleep(0.2)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        self.assertLess(time.monotonic() - sent, 5.0)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("USTB_CANCELLED", err.decode("utf-8"))


if __name__ == "__main__":
    unittest.main()
