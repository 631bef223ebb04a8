#!/bin/sh
# CI entry point for the Go wrapper: go vet, then the tests against the emulator.
# Environment (defaults are this repository's debug build):
#   USTB_LIB_DIR      directory with libustb_openai.so
#   USTB_INCLUDE_DIR  directory with ustb_openai.h
#   USTB_EMULATOR     the ustb-emulator binary
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
USTB_LIB_DIR=${USTB_LIB_DIR:-$root/target/debug}
USTB_INCLUDE_DIR=${USTB_INCLUDE_DIR:-$root/include}
USTB_EMULATOR=${USTB_EMULATOR:-$root/target/debug/ustb-emulator}

fail() { echo "go: FAILED: $*" >&2; exit 1; }

PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null 2>&1 || fail "the Go toolchain is missing (install Go >= 1.26 into /usr/local/go)"
command -v gcc >/dev/null 2>&1 || command -v cc >/dev/null 2>&1 || fail "no C compiler for cgo (apt-get install gcc)"
command -v pkg-config >/dev/null 2>&1 || fail "no pkg-config, which cgo uses to find the library (apt-get install pkg-config)"
[ -f "$USTB_LIB_DIR/libustb_openai.so" ] || fail "no libustb_openai.so in $USTB_LIB_DIR (run make -C $root build)"
[ -f "$USTB_INCLUDE_DIR/ustb_openai.h" ] || fail "no ustb_openai.h in $USTB_INCLUDE_DIR"
[ -x "$USTB_EMULATOR" ] || fail "no emulator at $USTB_EMULATOR"

# The package finds the library with `#cgo pkg-config: ustb_openai`, as it does once installed;
# here a ustb_openai.pc for these two directories stands in for the installed one. The rpath
# (which an installed .pc for a non-system prefix carries) goes into CGO_LDFLAGS instead: Go's
# build cache keys on CGO_LDFLAGS but not on pkg-config's output, so a build against another
# USTB_LIB_DIR is never reused. With it the tests start without LD_LIBRARY_PATH.
pcdir=$(mktemp -d)
log=$pcdir/log
rcfile=$pcdir/rc
trap 'rm -rf "$pcdir"' EXIT
cat >"$pcdir/ustb_openai.pc" <<EOF
Name: ustb_openai
Description: ustb-openai from $USTB_LIB_DIR (examples/go/run-tests.sh)
Version: $(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)
Libs: -L$USTB_LIB_DIR -lustb_openai
Cflags: -I$USTB_INCLUDE_DIR
EOF
export PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export CGO_ENABLED=1 GOTOOLCHAIN=local GOFLAGS=${GOFLAGS:-}
export CGO_LDFLAGS="-Wl,-rpath,$USTB_LIB_DIR ${CGO_LDFLAGS:--g -O2}"
export USTB_EMULATOR

cd "$here"
echo "== $(go version)"
echo "== go vet ./..."
go vet ./... || fail "go vet"

echo "== go test -count=1 -v ./..."
# POSIX sh has no pipefail: keep go test's own exit status beside the log.
{ rc=0; go test -count=1 -v ./... || rc=$?; echo "$rc" >"$rcfile"; } 2>&1 | tee "$log"
status=$(cat "$rcfile")
# Top-level tests only (subtests are indented).
passed=$(grep -c '^--- PASS' "$log" || true)
failed=$(grep -c '^--- FAIL' "$log" || true)
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
    echo "go: FAILED: $passed tests passed, $failed failed" >&2
    exit 1
fi
echo "go: $passed tests passed"
