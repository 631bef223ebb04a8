"""No-growth tests: many streams and errors must not raise RSS beyond a fixed bound.

Every chunk string, error object and stream handle the library hands out is freed by the
wrapper exactly once; if one kind were leaked, these loops would leak it hundreds or
thousands of times. The loops are sized so that a leak is several times the bound:
- 300 streams of ~34 chunks and ~39 KB of chunk JSON each: a leaked chunk string per chunk
  would be ~11 MB, a leaked stream (its buffers, its socket) shows in RSS and in open fds;
- 30000 failed calls: a leaked error object (message + detail) would be ~8 MB;
- 10000 logins made, refused 4 times each (no QR code yet, not logged in) and closed: a
  leaked login (its HTTP agent and TLS configuration) or error object would be several MB.
RSS is read from /proc/self/statm after a warm-up, so allocator pools and caches that fill
once are not counted.
"""

import gc
import os
import unittest

from tests.emulator import Emulator
from ustb_openai import (
    AuthenticationError,
    BadRequestError,
    Login,
    StreamTruncatedError,
    USTBOpenAI,
)

BOUND = 4 * 1024 * 1024  # bytes of RSS growth allowed over a whole measured loop
STREAMS = 300
ERRORS = 30000
LOGINS = 10000
LONG = "@emu:long=16000"  # a ~16000-character reply, 512 characters per event

emu = None


def setUpModule():
    global emu
    emu = Emulator("--chunk-chars", "512")


def tearDownModule():
    emu.stop()


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def open_fds():
    return len(os.listdir("/proc/self/fd"))


@unittest.skipUnless(os.path.exists("/proc/self/statm"), "needs Linux /proc")
class NoGrowthTest(unittest.TestCase):
    def setUp(self):
        self.client = USTBOpenAI(base_url=emu.url, vjuid_login="memory-test", easy_session="m" * 32)
        self.guest = USTBOpenAI(base_url=emu.url, easy_session="g" * 32)

    def tearDown(self):
        self.client.close()
        self.guest.close()

    def one_stream(self, i):
        create = self.client.chat.completions.create
        stream = create(messages=[{"role": "user", "content": LONG}], model="DeepSeek", stream=True)
        if i % 10 == 9:  # some are abandoned half-way: close() must free them too
            with stream:
                next(stream)
                next(stream)
            return 2
        return sum(len(c.choices[0].delta.content or "") for c in stream)

    def measure(self, work, count, warmup):
        for i in range(warmup):
            work(i)
        gc.collect()
        before_rss, before_fds = rss(), open_fds()
        for i in range(count):
            work(i)
        gc.collect()
        return rss() - before_rss, open_fds() - before_fds

    def test_streams_do_not_grow(self):
        self.assertGreater(self.one_stream(0), 16000)
        grew, fds = self.measure(self.one_stream, STREAMS, warmup=30)
        print("\n  %d streams: RSS %+.0f KiB (bound %d KiB), fds %+d"
              % (STREAMS, grew / 1024.0, BOUND // 1024, fds), end=" ")
        self.assertLess(grew, BOUND)
        self.assertLessEqual(fds, 2, "stream handles (and their sockets) must be freed")

    def test_errors_do_not_grow(self):
        def fail(i):
            create = self.client.chat.completions.create
            if i % 100 == 0:  # errors from the network too: 10042 and a truncated stream
                with self.assertRaises(AuthenticationError):
                    self.guest.chat.completions.create(messages=[{"role": "user", "content": "x"}],
                                                       model="DeepSeek")
                with self.assertRaises(StreamTruncatedError):
                    truncated = [{"role": "user", "content": "@emu:truncate"}]
                    list(create(messages=truncated, model="DeepSeek", stream=True))
            with self.assertRaises(BadRequestError):  # no network: fast, so it can run often
                create(messages=[{"role": "assistant", "content": "x"}], model="DeepSeek",
                       stream=True)

        grew, fds = self.measure(fail, ERRORS, warmup=2000)
        print("\n  %d errors: RSS %+.0f KiB (bound %d KiB), fds %+d"
              % (ERRORS, grew / 1024.0, BOUND // 1024, fds), end=" ")
        self.assertLess(grew, BOUND)
        self.assertLessEqual(fds, 2)

    def test_logins_do_not_grow(self):
        def refused(_i):
            with Login(base_url=emu.url, sso_base_url=emu.url, sis_base_url=emu.url) as login:
                for call in (login.qr_png, login.qr_text, login.cookie, login.client):
                    with self.assertRaises(BadRequestError):
                        call()

        grew, fds = self.measure(refused, LOGINS, warmup=1000)
        print("\n  %d logins: RSS %+.0f KiB (bound %d KiB), fds %+d"
              % (LOGINS, grew / 1024.0, BOUND // 1024, fds), end=" ")
        self.assertLess(grew, BOUND)
        self.assertLessEqual(fds, 2)


if __name__ == "__main__":
    unittest.main()
