"""What consumer-test.sh runs from a fresh venv: one streamed reply (argv: base URL, cookie)."""
import sys

from ustb_openai import USTBOpenAI

base_url, cookie = sys.argv[1], sys.argv[2]
with USTBOpenAI(base_url=base_url, vjuid_login=cookie) as client:
    messages = [{"role": "user", "content": "你好"}]
    for chunk in client.chat.completions.create(messages=messages, model="DeepSeek", stream=True):
        if chunk.choices:
            print(chunk.choices[0].delta.content or "", end="")
print()
