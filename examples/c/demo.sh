#!/bin/sh
# Streams one reply through the C API (examples/c/chat.c, built as ustb-chat) from the bundled
# emulator, which stands in for chat.ustb.edu.cn (reachable only on campus). Run it with `make demo`.
# `make demo-login` (first argument --login) logs in through the emulator's SSO first: the QR
# code shows in the terminal and the emulator "scans" and confirms it by itself after ~2 s.
set -eu
target=${TARGET_DIR:-target/debug}
login=
if [ "${1:-}" = --login ]; then login=1; shift; fi
prompt=${1:-请介绍你自己。}
. "$(dirname "$0")/../emulator.sh"
start_emulator "$target/ustb-emulator" --delay-ms 40 || exit 1
echo "(emulator at $url)"
if [ -n "$login" ]; then
    "$target/ustb-chat" --base-url "$url" --sso-base-url "$url" --login --cookie-file "$target/demo-cookie.txt" \
        --usage "$prompt"
else
    "$target/ustb-chat" --base-url "$url" --cookie "cookie_vjuid_login=demo" --usage "$prompt"
fi
