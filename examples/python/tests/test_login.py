"""`Login` against the emulator's SSO: the QR code (happy path, expiry and renewal, invalid,
cancel), the SMS code (automatic and manual puzzle, wrong code, bad phone), the misuse cases
and the secrets check. The tests share one emulator and set its QR script, so they run one
after the other (unittest does)."""

import json
import logging
import os
import socket
import threading
import time
import unittest
from unittest import mock

from tests.emulator import (
    DEFAULT_QR_SCRIPT,
    INTRO_CONTENT,
    INTRO_PROMPT,
    PACKAGE_ROOT,
    Emulator,
)
from tests.test_logging import Records
from ustb_openai import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    CancelledError,
    Canceller,
    Login,
    PuzzleImages,
    QRState,
    USTBError,
    USTBOpenAI,
)

TOKEN = "py-login-token-0123456789abcdef"  # the cookie value the emulator's SSO hands out
PNG = b"\x89PNG\r\n\x1a\n"
TLS = os.path.join(PACKAGE_ROOT, "..", "..", "tests", "tls")  # the emulator's test certificates
emu = None
_phones = iter(range(10000))


def setUpModule():
    global emu
    emu = Emulator("--sso-long-poll-ms", "300", "--login-token", TOKEN)


def tearDownModule():
    emu.stop()


def new_phone():
    """A phone number no other test used (the emulator refuses a second code within 60 s),
    whose last six digits (the emulator's SMS code) are unlikely to occur in a log by chance."""
    return "1%04d%06d" % (os.getpid() % 10000, 314159 + 2718 * next(_phones))


def chat(client):
    reply = client.chat.completions.create(
        messages=[{"role": "user", "content": INTRO_PROMPT}], model="DeepSeek")
    return reply.choices[0].message.content


class Base(unittest.TestCase):
    def setUp(self):
        env = mock.patch.dict(os.environ)
        env.start()
        self.addCleanup(env.stop)
        for name in ("USTB_BASE_URL", "USTB_VJUID_LOGIN", "USTB_EASY_SESSION"):
            os.environ.pop(name, None)

    def login(self, url=None):
        url = url or emu.url
        login = Login(base_url=url, sso_base_url=url, sis_base_url=url, max_retries=0)
        self.addCleanup(login.close)
        return login

    def script(self, script):
        emu.set_qr_script(script)
        self.addCleanup(emu.set_qr_script, DEFAULT_QR_SCRIPT)

    def wait_until(self, login, final, limit=20):
        """qr_wait until `final`; returns the states seen (bounded: `limit` waits)."""
        states = []
        while not states or states[-1] != final:
            self.assertLess(len(states), limit, "no %s after %s" % (final, states))
            states.append(login.qr_wait(5))
        return states

    def assert_logged_in(self, login):
        self.assertEqual(login.cookie(), TOKEN)
        client = login.client()
        self.addCleanup(client.close)
        self.assertIsInstance(client, USTBOpenAI)
        self.assertEqual(chat(client), INTRO_CONTENT)


class QRTest(Base):
    def test_happy_path(self):
        login = self.login()
        login.qr_start()
        self.assertTrue(login.qr_png().startswith(PNG))
        text = login.qr_text()
        self.assertGreater(len(text.splitlines()), 10)
        self.assertTrue(set(text) & set("▀▄█"), text)
        self.assertTrue(login.qr_page_url().startswith(emu.url + "/connect/qrpage?"))
        states = self.wait_until(login, QRState.CONFIRMED)
        self.assertIn(QRState.SCANNED, states)
        self.assertLess(states.index(QRState.SCANNED), states.index(QRState.CONFIRMED))
        self.assertIs(login.qr_wait(5), QRState.CONFIRMED, "the same state again, at once")
        self.assert_logged_in(login)

    def test_install_into_an_existing_client(self):
        guest = USTBOpenAI(base_url=emu.url)
        self.addCleanup(guest.close)
        with self.assertRaises(AuthenticationError) as caught:
            chat(guest)
        self.assertIn("log in again", str(caught.exception))
        login = self.login()
        login.qr_start()
        self.wait_until(login, QRState.CONFIRMED)
        login.install(guest)
        self.assertEqual(chat(guest), INTRO_CONTENT)
        # The stored cookie works for a later client.
        later = USTBOpenAI(base_url=emu.url, vjuid_login=login.cookie())
        self.addCleanup(later.close)
        self.assertEqual(chat(later), INTRO_CONTENT)
        with self.assertRaises(TypeError):
            login.install(object())

    def test_expiry_and_renewal(self):
        self.script("expire@200;scan@100,confirm@300")
        login = self.login()
        login.qr_start()
        first = login.qr_png()
        self.assertEqual(self.wait_until(login, QRState.EXPIRED)[-1], QRState.EXPIRED)
        self.assertIs(login.qr_wait(5), QRState.EXPIRED, "the same state again, at once")
        with self.assertRaises(BadRequestError):
            login.cookie()
        login.qr_renew()
        self.assertNotEqual(login.qr_png(), first)
        states = self.wait_until(login, QRState.CONFIRMED)
        self.assertNotIn(QRState.EXPIRED, states)
        self.assert_logged_in(login)

    def test_invalid_is_an_auth_error(self):
        self.script("invalid@100")
        login = self.login()
        login.qr_start()
        with self.assertRaises(AuthenticationError) as caught:
            for _ in range(10):  # WAITING would repeat; the invalid state must come
                login.qr_wait(5)
        self.assertEqual(caught.exception.status_name, "USTB_AUTH_ERROR")

    def test_cancel_a_wait_from_another_thread(self):
        self.script("scan@60000")
        login = self.login()
        login.qr_start()
        canceller = Canceller()
        cancelled_at = []

        def cancel():
            cancelled_at.append(time.monotonic())
            canceller.cancel()

        timer = threading.Timer(0.3, cancel)
        start = time.monotonic()
        timer.start()
        try:
            with self.assertRaises(CancelledError) as caught:
                login.qr_wait(60, canceller=canceller)
        finally:
            timer.join()
        end = time.monotonic()
        self.assertEqual(caught.exception.status_name, "USTB_CANCELLED")
        self.assertGreaterEqual(end - start, 0.25)
        self.assertLess(end - cancelled_at[0], 0.5, "the cancel must end the wait promptly")
        # A cancelled canceller refuses at once; a new wait without it works.
        with self.assertRaises(CancelledError):
            login.qr_wait(60, canceller=canceller)
        self.assertIs(login.qr_wait(0.2), QRState.WAITING)

    def test_cancel_network_calls_against_a_silent_server(self):
        server = socket.socket()  # accepts connections (the kernel's backlog), never answers
        self.addCleanup(server.close)
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        login = self.login("http://127.0.0.1:%d" % server.getsockname()[1])
        for call in (login.qr_start, login.sms_puzzle,
                     lambda canceller: login.sms_send(new_phone(), canceller=canceller)):
            canceller = Canceller()
            timer = threading.Timer(0.3, canceller.cancel)
            start = time.monotonic()
            timer.start()
            try:
                with self.assertRaises(CancelledError):
                    call(canceller=canceller)
            finally:
                timer.join()
            self.assertLess(time.monotonic() - start, 1.3, "the cancel must end the call promptly")

    def test_one_call_at_a_time_and_close_during_a_call(self):
        self.script("scan@60000")
        login = self.login()
        login.qr_start()
        canceller = Canceller()
        outcome = []

        def wait():
            try:
                outcome.append(login.qr_wait(60, canceller=canceller))
            except USTBError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(0.3)
        with self.assertRaises(BadRequestError) as caught:
            login.qr_png()
        self.assertIn("busy", str(caught.exception))
        login.close()  # deferred: the C login is freed when the wait returns
        canceller.cancel()
        thread.join(5)
        self.assertFalse(thread.is_alive())
        self.assertIsInstance(outcome[0], CancelledError)
        with self.assertRaises(USTBError) as caught:
            login.qr_start()
        self.assertIn("closed", str(caught.exception))


class TLSTest(Base):
    def test_sso_over_tls_with_the_ca_file(self):
        with Emulator("--sso-long-poll-ms", "300", "--login-token", TOKEN,
                      "--tls-port", "0", "--tls-cert", os.path.join(TLS, "server.pem"),
                      "--tls-key", os.path.join(TLS, "server.key")) as tls_emu:
            self.assertTrue(tls_emu.tls_url.startswith("https://127.0.0.1:"), tls_emu.tls_url)
            options = dict(base_url=tls_emu.url, sso_base_url=tls_emu.tls_url,
                           sis_base_url=tls_emu.tls_url, max_retries=0)
            untrusted = Login(**options)  # the bundled roots do not know the test CA
            self.addCleanup(untrusted.close)
            with self.assertRaises(APIConnectionError):
                untrusted.qr_start()
            login = Login(ca_file=os.path.join(TLS, "ca.pem"), **options)
            self.addCleanup(login.close)
            login.qr_start()
            self.assertTrue(login.qr_page_url().startswith(tls_emu.tls_url + "/connect/qrpage?"))
            self.wait_until(login, QRState.CONFIRMED)
            self.assert_logged_in(login)


class SMSTest(Base):
    def test_happy_path_with_the_library_solving_the_puzzle(self):
        phone = new_phone()
        login = self.login()
        login.sms_send(phone)
        login.sms_submit(phone[-6:])
        self.assert_logged_in(login)

    def test_a_person_solving_the_puzzle(self):
        phone = new_phone()
        login = self.login()
        login.sms_puzzle()
        images = login.puzzle_images()
        self.assertIsInstance(images, PuzzleImages)
        self.assertTrue(images.background.startswith(PNG))
        self.assertTrue(images.piece.startswith(PNG))
        x = login.puzzle_solve()
        self.assertIsInstance(x, int)
        login.sms_send(phone, x)
        login.sms_submit(phone[-6:])
        self.assert_logged_in(login)

    def test_wrong_puzzle_answer_and_repeated_send(self):
        login = self.login()
        login.sms_puzzle()
        wrong = (login.puzzle_solve() + 100) % 300
        with self.assertRaises(APIError) as caught:
            login.sms_send(new_phone(), wrong)
        self.assertEqual((caught.exception.status_name, caught.exception.api_code),
                         ("USTB_API_ERROR", 5054))
        with self.assertRaises(BadRequestError, msg="one answer per puzzle"):
            login.sms_send(new_phone(), wrong + 100)
        phone = new_phone()
        login.sms_send(phone)
        with self.assertRaises(APIError) as caught:
            self.login().sms_send(phone)
        self.assertEqual(caught.exception.api_code, 201)

    def test_wrong_code_then_the_right_one(self):
        phone = new_phone()
        login = self.login()
        login.sms_send(phone)
        with self.assertRaises(APIError) as caught:
            login.sms_submit("000000" if phone[-6:] != "000000" else "111111")
        self.assertEqual(caught.exception.status_name, "USTB_API_ERROR")
        self.assertNotIsInstance(caught.exception, AuthenticationError)
        with self.assertRaises(BadRequestError):
            login.cookie()
        login.sms_submit(phone[-6:])  # another try is allowed
        self.assert_logged_in(login)

    def test_bad_phone_is_refused_without_traffic(self):
        server = socket.socket()  # a server that records whether anyone connected
        self.addCleanup(server.close)
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        login = self.login("http://127.0.0.1:%d" % server.getsockname()[1])
        bad = ["12345", "23800138000", "1380013800a", "138001380001", "", "1380013800\0"]
        for phone in bad:
            with self.assertRaises(BadRequestError, msg=repr(phone)) as caught:
                login.sms_send(phone)
            self.assertEqual(caught.exception.status_name, "USTB_INVALID_ARGUMENT")
        for phone, x in ((13800138000, None), (b"13800138000", None), ("13800138000", -2),
                         ("13800138000", 2**31), ("13800138000", True)):
            with self.assertRaises(BadRequestError, msg=repr((phone, x))):
                login.sms_send(phone, x)
        server.settimeout(0.2)
        with self.assertRaises(socket.timeout, msg="nothing may have connected"):
            server.accept()


class MisuseTest(Base):
    def test_calls_before_start(self):
        login = self.login()
        client = USTBOpenAI(base_url=emu.url)
        self.addCleanup(client.close)
        calls = {
            "qr_png": login.qr_png,
            "qr_text": login.qr_text,
            "qr_page_url": login.qr_page_url,
            "qr_wait": lambda: login.qr_wait(1),
            "puzzle_images": login.puzzle_images,
            "puzzle_solve": login.puzzle_solve,
            "sms_submit": lambda: login.sms_submit("123456"),
            "cookie": login.cookie,
            "client": login.client,
            "install": lambda: login.install(client),
        }
        for name, call in calls.items():
            with self.assertRaises(BadRequestError, msg=name) as caught:
                call()
            self.assertEqual(caught.exception.status_name, "USTB_INVALID_ARGUMENT", name)
        for timeout in (-1, 2**32 / 1000.0, float("nan"), "5", True):
            with self.assertRaises(BadRequestError, msg=repr(timeout)):
                login.qr_wait(timeout)

    def test_use_after_close(self):
        login = self.login()
        login.close()
        login.close()  # idempotent
        calls = (login.qr_start, login.qr_png, login.qr_text, lambda: login.qr_wait(1),
                 login.sms_puzzle, lambda: login.sms_send(new_phone()), login.cookie,
                 login.client)
        for call in calls:
            with self.assertRaises(USTBError) as caught:
                call()
            self.assertEqual(str(caught.exception), "the login is closed")
        with Login() as scoped:
            pass
        with self.assertRaises(USTBError):
            scoped.cookie()

    def test_bad_options(self):
        for options in ({"sso_base_url": "ftp://x"}, {"ca_file": "/nonexistent/ca.pem"},
                        {"max_retries": -1}):
            with self.assertRaises(BadRequestError, msg=repr(options)):
                Login(**options)
        with self.assertRaises(TypeError):
            Login(no_such_option=1)

    def test_unreachable_sso(self):
        with socket.socket() as s:  # a port that was free a moment ago: nobody listens
            s.bind(("127.0.0.1", 0))
            url = "http://127.0.0.1:%d" % s.getsockname()[1]
        with self.assertRaises(APIConnectionError):
            self.login(url).qr_start()


class SecretsTest(Base):
    def test_errors_and_logs_hold_no_phone_code_or_cookie(self):
        logger = logging.getLogger("ustb_openai")
        handler = Records()
        logger.addHandler(handler)
        self.addCleanup(logger.removeHandler, handler)
        self.addCleanup(logger.setLevel, logger.level)
        logger.setLevel(logging.DEBUG)

        phone = new_phone()
        code = phone[-6:]
        wrong_code = "Q" + code[1:]
        errors = []

        def expect_error(call):
            with self.assertRaises(USTBError) as caught:
                call()
            errors.append(caught.exception)

        login = self.login()
        login.sms_send(phone)
        expect_error(lambda: self.login().sms_send(phone))  # 201: sent moments ago
        expect_error(lambda: login.sms_submit(wrong_code))
        expect_error(lambda: login.sms_send(phone[:-1]))  # too short
        expect_error(lambda: login.sms_send(phone + "\0"))
        login.sms_submit(code)
        cookie = login.cookie()
        expect_error(lambda: login.sms_submit(wrong_code))  # after success
        expect_error(lambda: self.login().sms_submit(code))  # no code sent
        chat(login.client())

        self.assertEqual(len(errors), 6)
        log = handler.text()
        self.assertIn("/idp/", log)
        texts = [log] + [
            "%s %r %s" % (exc, exc, json.dumps(exc.detail, ensure_ascii=False)) for exc in errors]
        for text in texts:
            for secret in (phone, phone[:-1], code, wrong_code, cookie):
                self.assertNotIn(secret, text)


if __name__ == "__main__":
    unittest.main()
