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
        # Issue 17: the same loop whatever markup the model writes its call in (the
        # emulator's @emu:tool-form=FORM); with `reasoning` the call is in the reasoning and
        # the text says so.
        for form, lead in (("ours", ""), ("invoke", ""), ("special", ""),
                           ("reasoning", "请稍候。\n")):
            expected = (
                "好的，我来调用工具。\n" + lead +
                '[工具] get_weather({"city":"北京"}) = %s\n'
                "根据工具 get_weather 的结果：%s\n" % (WEATHER, WEATHER)
            )
            prompt = '北京天气怎么样？@emu:tool=get_weather:{"city":"北京"} @emu:tool-form=' + form
            for mode in ([], ["--stream"]):
                with self.subTest(form=form, mode=mode):
                    code, out, err = run(prompt, *mode)
                    self.assertEqual((code, err), (0, ""))
                    self.assertEqual(out, expected)

    def test_tool_errors_go_back_to_the_model(self):
        code, out, err = run('@emu:tool=get_weather:{"town":"上海"} '
                             '@emu:tool=get_weather:{"city":"广州"}')
        self.assertEqual((code, err), (0, ""))
        lines = out.splitlines()
        self.assertIn('[工具] get_weather({"town":"上海"}) = {"error": "get_weather() got an '
                      'unexpected keyword argument \'town\'"}', lines)
        self.assertIn('[工具] get_weather({"city":"广州"}) = {"error": "no weather for 广州"}',
                      lines)
        # The emulator answers from the last result it was sent.
        self.assertEqual(lines[-1], '根据工具 get_weather 的结果：{"error": "no weather for 广州"}')

    def test_markup_that_is_not_a_call_is_text(self):
        # A tool that was not declared, arguments that are not a JSON object: no call, the
        # model's markup is its answer.
        code, out, err = run("@emu:tool=get_stock:{} @emu:tool=get_weather:{city: 上海}")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, "好的，我来调用工具。\n"
                              '<tool_call>{"name":"get_stock","arguments":{}}</tool_call>\n'
                              '<tool_call>{"name":"get_weather","arguments":{city: 上海}}'
                              "</tool_call>\n")

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
