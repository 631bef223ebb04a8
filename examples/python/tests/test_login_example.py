"""login.py end to end against the emulator's SSO: QR code, progress, renewal after expiry,
the streamed answer, the cookie file (mode 0600); and Ctrl-C cancelling the wait."""

import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest

from tests.emulator import DEFAULT_QR_SCRIPT, INTRO_CONTENT, PACKAGE_ROOT, Emulator

EXAMPLE = os.path.join(PACKAGE_ROOT, "login.py")
TOKEN = "py-example-login-token"
emu = None


def setUpModule():
    global emu
    emu = Emulator("--sso-long-poll-ms", "300", "--login-token", TOKEN)


def tearDownModule():
    emu.stop()


def start(*args):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    for name in ("USTB_BASE_URL", "USTB_VJUID_LOGIN", "USTB_EASY_SESSION"):
        env.pop(name, None)
    urls = ["--base-url", emu.url, "--sso-base-url", emu.url, "--sis-base-url", emu.url]
    return subprocess.Popen(
        [sys.executable, EXAMPLE] + urls + list(args),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # As in test_example.py: SIGINT must not be inherited as ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


class LoginExampleTest(unittest.TestCase):
    def script(self, script):
        emu.set_qr_script(script)
        self.addCleanup(emu.set_qr_script, DEFAULT_QR_SCRIPT)

    def test_qr_login_with_renewal_then_an_answer(self):
        self.script("expire@300;scan@100,confirm@300")
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        path = os.path.join(folder.name, "cookie")
        with open(path, "w") as f:  # an old, world-readable file: replaced and made 0600
            f.write("old\n")
        os.chmod(path, 0o644)
        proc = start("--cookie-file", path)
        out, err = proc.communicate(timeout=60)
        out, err = out.decode("utf-8"), err.decode("utf-8", "replace")
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(out.count("Scan this QR code with WeChat:"), 2, out)
        self.assertTrue("▀" in out or "▄" in out or "█" in out, out)
        progress = [line for line in out.splitlines()
                    if line in ("waiting", "scanned", "confirmed") or line.startswith("expired")]
        self.assertEqual(progress, ["waiting", "expired: a new QR code", "waiting", "scanned",
                                    "confirmed"])
        self.assertIn("cookie saved to %s (mode 0600)\n" % path, out)
        self.assertTrue(out.endswith("[回答] %s\n" % INTRO_CONTENT), out[-200:])
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            self.assertEqual(f.read(), TOKEN + "\n")
        self.assertNotIn(TOKEN, out + err, "the cookie is saved, not printed")

    def test_without_a_cookie_file(self):
        self.script("scan@50,confirm@100")
        proc = start("你好")
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 0, err.decode("utf-8", "replace"))
        out = out.decode("utf-8")
        self.assertIn("cookie not saved: give --cookie-file FILE", out)
        self.assertIn("你说：「你好」", out)

    def test_ctrl_c_cancels_the_wait(self):
        self.script("scan@60000")
        proc = start()
        lines = []
        while not lines or lines[-1] != "waiting":
            line = proc.stdout.readline()
            self.assertTrue(line, "login.py ended early: %r" % lines[-3:])
            lines.append(line.decode("utf-8").rstrip("\n"))
        time.sleep(0.3)  # inside qr_wait now
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        self.assertLess(time.monotonic() - sent, 2.0)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("USTB_CANCELLED", err.decode("utf-8"))


if __name__ == "__main__":
    unittest.main()
