# Sourced (POSIX sh) by examples/c/demo.sh and every examples/*/consumer-test.sh: the one way
# they start an emulator. `start_emulator COMMAND [ARG...]` runs it in the background, waits
# for its "ustb-emulator listening on URL" line and sets $url and $emu_pid; the emulator is
# stopped when the shell exits. Returns 1, with the emulator's output on stderr, when no
# address line came.
start_emulator() {
    emu_out=$(mktemp)
    "$@" >"$emu_out" &
    emu_pid=$!
    trap 'kill $emu_pid 2>/dev/null; rm -f "$emu_out"' EXIT INT TERM
    url=
    for _ in $(seq 100); do
        url=$(sed -n 's/^ustb-emulator listening on //p' "$emu_out")
        [ -n "$url" ] && return 0
        kill -0 "$emu_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "the emulator printed no address: $(cat "$emu_out")" >&2
    return 1
}
