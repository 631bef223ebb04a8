#!/usr/bin/env python3
"""Streams one reply to stdout: the model's thinking first, then the answer.

    python3 example.py --base-url http://127.0.0.1:PORT --cookie cookie_vjuid_login=demo "你好"

--cookie takes the browser's Cookie value ("easy_session=…; cookie_vjuid_login=…") or just
"cookie_vjuid_login=…"; without it USTB_VJUID_LOGIN / USTB_EASY_SESSION are used.
Ctrl-C cancels the reply (the read runs in a worker thread so the main thread stays
responsive to signals while the C call blocks).
"""

import argparse
import sys
import threading

from ustb_openai import USTBError, USTBOpenAI


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prompt", nargs="?", default="请介绍你自己。")
    parser.add_argument("--base-url",
                        help="server URL (default: USTB_BASE_URL or chat.ustb.edu.cn)")
    parser.add_argument("--cookie", help='"cookie_vjuid_login=…" or a whole browser Cookie value')
    args = parser.parse_args()

    try:
        client = USTBOpenAI(base_url=args.base_url, cookie=args.cookie)
        stream = client.chat.completions.create(
            messages=[{"role": "user", "content": args.prompt}], model="DeepSeek", stream=True
        )
    except USTBError as err:
        print("error: %s" % err, file=sys.stderr)
        return 1

    failure = []
    finished = threading.Event()

    def read():
        section = None
        try:
            with stream:
                for chunk in stream:
                    if not chunk.choices:
                        continue
                    delta = chunk.choices[0].delta
                    for name, text in (("思考", delta.reasoning_content), ("回答", delta.content)):
                        if text:
                            if section != name:
                                print("%s[%s] " % ("\n\n" if section else "", name), end="")
                                section = name
                            print(text, end="", flush=True)
            print()
        except USTBError as err:
            failure.append(err)
        finally:
            finished.set()

    worker = threading.Thread(target=read)
    worker.start()
    try:
        # Wait on an Event, not on join(): a Ctrl-C that interrupts Thread.join() can leave
        # the thread looking finished to Python while it is still inside the C call.
        while not finished.wait(0.2):
            pass
    except KeyboardInterrupt:
        stream.cancel()  # the blocked read returns USTB_CANCELLED promptly
    worker.join()
    if failure:
        print("\nerror: %s" % failure[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
