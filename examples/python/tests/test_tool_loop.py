"""tool_loop.py end to end: the model asks for a tool, the program runs it and sends the
result back, the model answers; with and without streaming."""

import os
import subprocess
import sys
import unittest

from tests.emulator import PACKAGE_ROOT, Emulator

EXAMPLE = os.path.join(PACKAGE_ROOT, "tool_loop.py")
WEATHER = '{"city": "北京", "weather": "晴", "temperature_c": 25}'
emu = None


def setUpModule():
    global emu
    emu = Emulator("--delay-ms", "1")


def tearDownModule():
    emu.stop()


def run(prompt, *args, cookie="cookie_vjuid_login=demo"):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    for name in ("USTB_BASE_URL", "USTB_VJUID_LOGIN", "USTB_EASY_SESSION", "USTB_LOG"):
        env.pop(name, None)
    login = ["--cookie", cookie] if cookie else []
    proc = subprocess.run(
        [sys.executable, EXAMPLE, "--base-url", emu.url, prompt] + login + list(args),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
    )
    return proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8", "replace")


class ToolLoopTest(unittest.TestCase):
    def test_two_steps(self):
        expected = (
            "好的，我来调用工具。\n"
            '[工具] get_weather({"city":"北京"}) = %s\n'
            "根据工具 get_weather 的结果：%s\n" % (WEATHER, WEATHER)
        )
        for mode in ([], ["--stream"]):
            code, out, err = run('北京天气怎么样？@emu:tool=get_weather:{"city":"北京"}', *mode)
            self.assertEqual((code, err), (0, ""), mode)
            self.assertEqual(out, expected, mode)

    def test_tool_errors_go_back_to_the_model(self):
        code, out, err = run("@emu:tool=get_stock:{} @emu:tool=get_weather:{city: 上海}")
        self.assertEqual((code, err), (0, ""))
        lines = out.splitlines()
        self.assertIn('[工具] get_stock({}) = {"error": "no tool named get_stock"}', lines)
        self.assertIn('[工具] get_weather({city: 上海}) = {"error": "the arguments are not JSON: '
                      '{city: 上海}"}', lines)
        # The emulator answers from the last result it was sent.
        self.assertEqual(lines[-1], '根据工具 get_weather 的结果：{"error": "the arguments are '
                                    'not JSON: {city: 上海}"}')

    def test_no_tool_needed(self):
        code, out, err = run("你好")
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.startswith("你好！我是北科大 AI 助手。"), out)
        self.assertNotIn("[工具]", out)

    def test_errors_exit_1(self):
        code, _, err = run("hi", cookie=None)
        self.assertEqual(code, 1)
        self.assertIn("USTB_AUTH_ERROR", err)


if __name__ == "__main__":
    unittest.main()
