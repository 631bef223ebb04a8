#!/usr/bin/env python3
"""Logs in with the WeChat QR code, streams one answer with the new client, saves the cookie.

    python3 login.py --cookie-file ~/.config/ustb-cookie "你好"
    python3 login.py --base-url http://127.0.0.1:PORT --sso-base-url http://127.0.0.1:PORT \\
        --sis-base-url http://127.0.0.1:PORT --cookie-file cookie.txt      # the emulator

Prints the QR code as text (scan it with WeChat), then the progress: waiting, scanned,
confirmed (an expired code is replaced by a new one, up to --renewals times). The cookie goes
to --cookie-file with mode 0600; next time pass it as USTB_VJUID_LOGIN / vjuid_login.
Ctrl-C cancels (the work runs in a worker thread so the main thread stays responsive to
signals while a C call blocks).
"""

import argparse
import os
import sys
import threading

from ustb_openai import Canceller, Login, QRState, USTBError


def save_cookie(path, cookie):
    """Writes the cookie readable by the owner only (also when the file already existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, 0o600)
        f.write(cookie + "\n")


def show_qr(login):
    print("请用微信扫码登录 / Scan this QR code with WeChat:")
    print(login.qr_text(), flush=True)


def qr_login(login, renewals, canceller):
    """Shows the code and polls until confirmed; renews an expired code."""
    login.qr_start(canceller=canceller)
    show_qr(login)
    print("waiting", flush=True)
    shown = QRState.WAITING
    while True:
        state = login.qr_wait(15, canceller=canceller)
        if state == shown:
            continue
        if state == QRState.EXPIRED:
            if renewals == 0:
                raise RuntimeError("the QR code expired (no renewals left)")
            renewals -= 1
            print("expired: a new QR code", flush=True)
            login.qr_renew(canceller=canceller)
            show_qr(login)
            state = QRState.WAITING
        print(state.name.lower(), flush=True)
        shown = state
        if state == QRState.CONFIRMED:
            return


def stream_answer(client, prompt, streams, canceller):
    stream = client.chat.completions.create(
        messages=[{"role": "user", "content": prompt}], model="DeepSeek", stream=True)
    streams.append(stream)  # so that Ctrl-C can cancel it
    if canceller.cancelled:  # Ctrl-C came between the login and the line above
        stream.cancel()
    print("[回答] ", end="")
    with stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="", flush=True)
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prompt", nargs="?", default="请介绍你自己。")
    parser.add_argument("--base-url", help="chat server (default: USTB_BASE_URL or the real one)")
    parser.add_argument("--sso-base-url", help="SSO server (default: https://sso.ustb.edu.cn)")
    parser.add_argument("--sis-base-url", help="QR page server (default: https://sis.ustb.edu.cn)")
    parser.add_argument("--ca-file", help="PEM file of CAs to trust (networks that intercept TLS)")
    parser.add_argument("--cookie-file", help="where to save the cookie (mode 0600)")
    parser.add_argument("--renewals", type=int, default=3, help="new QR codes after expiry")
    args = parser.parse_args()

    canceller = Canceller()  # one for the whole login: Ctrl-C stops whichever call runs
    streams = []
    failure = []
    finished = threading.Event()

    def work():
        try:
            with Login(base_url=args.base_url, sso_base_url=args.sso_base_url,
                       sis_base_url=args.sis_base_url, ca_file=args.ca_file) as login:
                qr_login(login, args.renewals, canceller)
                if args.cookie_file:
                    save_cookie(args.cookie_file, login.cookie())
                    print("cookie saved to %s (mode 0600)" % args.cookie_file)
                else:
                    print("cookie not saved: give --cookie-file FILE to keep it (mode 0600)")
                with login.client() as client:
                    stream_answer(client, args.prompt, streams, canceller)
        except (USTBError, RuntimeError, OSError) as err:
            failure.append(err)
        finally:
            finished.set()

    worker = threading.Thread(target=work)
    worker.start()
    try:
        while not finished.wait(0.2):  # an Event, not join(): see example.py
            pass
    except KeyboardInterrupt:
        canceller.cancel()
        for stream in streams:
            stream.cancel()
    worker.join()
    if failure:
        print("\nerror: %s" % failure[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
