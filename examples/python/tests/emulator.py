"""Starts the bundled ustb-emulator on a free port (port 0) for a test module."""

import os
import subprocess
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_ROOT = os.path.dirname(HERE)  # examples/python, the directory holding ustb_openai/

INTRO_PROMPT = "请介绍你自己。"
INTRO_REASONING = "好的，用户问：请介绍你自己。。"
INTRO_CONTENT = "你好！我是北科大 AI 助手。"
DEFAULT_QR_SCRIPT = "scan@800,confirm@1600"


def reply_to(prompt):
    """The emulator's deterministic content for any prompt other than INTRO_PROMPT."""
    return "%s你说：「%s」" % (INTRO_CONTENT, prompt)


def emulator_path():
    path = os.environ.get("USTB_EMULATOR") or os.path.join(
        PACKAGE_ROOT, "..", "..", "target", "debug", "ustb-emulator"
    )
    if not os.access(path, os.X_OK):
        raise RuntimeError("ustb-emulator not found at %s (set USTB_EMULATOR)" % path)
    return path


class Emulator(object):
    """`with Emulator("--delay-ms", "5") as emu: emu.url`; the child is killed on exit."""

    def __init__(self, *args):
        # stdout goes to a file rather than a pipe, so nobody has to keep draining it.
        self._out = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(
            [emulator_path(), "--port", "0"] + list(args),
            stdout=self._out,
            stderr=subprocess.DEVNULL,
        )
        # With --tls-port a second line gives the HTTPS address (self.tls_url).
        addresses = self._wait_for_addresses(2 if "--tls-port" in args else 1)
        self.url = addresses[0]
        self.tls_url = addresses[1] if len(addresses) > 1 else None

    def _wait_for_addresses(self, count):
        deadline = time.monotonic() + 10
        prefixes = ["ustb-emulator listening on ", "ustb-emulator TLS front on "][:count]
        while time.monotonic() < deadline:
            self._out.seek(0)
            lines = [line for line in self._out.readlines()[:count] if line.endswith("\n")]
            if len(lines) == count:
                if not all(line.startswith(p) for line, p in zip(lines, prefixes)):
                    self.stop()
                    raise RuntimeError("unexpected emulator output: %r" % lines)
                return [line[len(p):].strip() for line, p in zip(lines, prefixes)]
            if self._proc.poll() is not None:
                raise RuntimeError("ustb-emulator exited with %s" % self._proc.returncode)
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("ustb-emulator printed no address within 10 s")

    def set_qr_script(self, script):
        """Scripts the QR codes made from now on (`POST /emulator/sso/qr-script`), e.g.
        "expire@200;scan@100,confirm@300"; DEFAULT_QR_SCRIPT restores the default."""
        request = urllib.request.Request(
            self.url + "/emulator/sso/qr-script", data=script.encode("utf-8"), method="POST")
        with urllib.request.urlopen(request, timeout=10) as reply:
            if reply.status != 204:
                raise RuntimeError("qr-script %r: HTTP %d" % (script, reply.status))

    def stop(self):
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._out.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()
