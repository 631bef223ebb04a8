#!/bin/sh
# Streams one reply through the C API (examples/c/chat.c, built as ustb-chat) from the bundled
# emulator, which stands in for chat.ustb.edu.cn (reachable only on campus). Run it with `make demo`.
set -eu
target=${TARGET_DIR:-target/debug}
prompt=${1:-请介绍你自己。}
out=$(mktemp)
"$target/ustb-emulator" --delay-ms 40 >"$out" &
emu=$!
trap 'kill $emu 2>/dev/null; rm -f "$out"' EXIT INT TERM
for _ in $(seq 100); do
    [ -s "$out" ] && break
    sleep 0.05
done
url=$(sed -n 's/^ustb-emulator listening on //p' "$out")
[ -n "$url" ] || { echo "demo: the emulator did not start" >&2; exit 1; }
echo "(emulator at $url)"
"$target/ustb-chat" --base-url "$url" --cookie "cookie_vjuid_login=demo" --usage "$prompt"
