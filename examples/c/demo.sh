#!/bin/sh
# Streams one reply through the C API (examples/c/chat.c, built as ustb-chat) from the bundled
# emulator, which stands in for chat.ustb.edu.cn (reachable only on campus). Run it with `make demo`.
set -eu
target=${TARGET_DIR:-target/debug}
prompt=${1:-请介绍你自己。}
. "$(dirname "$0")/../emulator.sh"
start_emulator "$target/ustb-emulator" --delay-ms 40 || exit 1
echo "(emulator at $url)"
"$target/ustb-chat" --base-url "$url" --cookie "cookie_vjuid_login=demo" --usage "$prompt"
