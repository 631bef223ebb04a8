"""The seed README's code, run unchanged against the emulator.

The snippets are extracted from tests/seed_snippets/README-snippets.md (a verbatim copy of
the seed README's two runnable blocks) and run as separate Python processes, each in a fresh
temporary directory (the second one writes my_session.txt into its working directory). They
reach the emulator only through USTB_BASE_URL / USTB_VJUID_LOGIN, as an openai-python script
reaches its server through OPENAI_BASE_URL / OPENAI_API_KEY.
"""

import os
import re
import subprocess
import sys
import tempfile
import unittest

from tests.emulator import INTRO_CONTENT, PACKAGE_ROOT, Emulator
from ustb_openai import USTBOpenAI

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seed_snippets",
                       "README-snippets.md")

emu = None


def setUpModule():
    global emu
    emu = Emulator()


def tearDownModule():
    emu.stop()


def python_blocks(markdown):
    return re.findall(r"^```python\n(.*?)^```", markdown, re.M | re.S)


def load_snippets():
    with open(FIXTURE, encoding="utf-8") as f:
        return python_blocks(f.read())


def run_snippet(code, cwd):
    env = dict(os.environ)
    for name in ("USTB_EASY_SESSION", "PYTHONSTARTUP"):
        env.pop(name, None)
    env.update(
        USTB_BASE_URL=emu.url,
        USTB_VJUID_LOGIN="seed-snippet-login",
        PYTHONPATH=PACKAGE_ROOT,
        PYTHONIOENCODING="utf-8",
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=60,
    )


class SeedSnippetTest(unittest.TestCase):
    def test_fixture_has_the_two_runnable_blocks(self):
        snippets = load_snippets()
        self.assertEqual(len(snippets), 2)
        self.assertIn("stream=True", snippets[0])
        self.assertIn("my_session.txt", snippets[1])

    def test_quick_start_streams_the_reply(self):
        code = load_snippets()[0]
        with tempfile.TemporaryDirectory() as tmp:
            done = run_snippet(code, tmp)
        self.assertEqual(done.returncode, 0, done.stderr.decode("utf-8", "replace"))
        # The snippet prints only delta.content, with end="": exactly the emulator's reply.
        self.assertEqual(done.stdout.decode("utf-8"), INTRO_CONTENT)

    def test_session_snippet_saves_a_reusable_easy_session(self):
        code = load_snippets()[1]
        with tempfile.TemporaryDirectory() as tmp:
            done = run_snippet(code, tmp)
            self.assertEqual(done.returncode, 0, done.stderr.decode("utf-8", "replace"))
            self.assertEqual(done.stdout, b"")
            with open(os.path.join(tmp, "my_session.txt")) as f:
                saved = f.read()
        self.assertRegex(saved, r"^[0-9A-Za-z]{32}$")

        # The saved token really is reusable: a client built from it sends it and can chat.
        client = USTBOpenAI(base_url=emu.url, vjuid_login="seed-snippet-login", easy_session=saved)
        self.assertEqual(client.easy_session, saved)
        reply = client.chat.completions.create(
            messages=[{"role": "user", "content": "再见"}], model="DeepSeek"
        )
        self.assertEqual(reply.choices[0].message.content, INTRO_CONTENT + "你说：「再见」")
        client.close()


if __name__ == "__main__":
    unittest.main()
