#!/usr/bin/env bash
# CI entry point for the Node.js wrapper: installs the locked npm packages if needed, checks
# the TypeScript declarations with `tsc --noEmit`, runs `node --test` against the emulator
# and prints `node: N tests passed` (non-zero exit on any failure, including a missing
# toolchain or library, or a type error).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export USTB_LIB_DIR=${USTB_LIB_DIR:-$root/target/debug}
export USTB_INCLUDE_DIR=${USTB_INCLUDE_DIR:-$root/include}
export USTB_EMULATOR=${USTB_EMULATOR:-$root/target/debug/ustb-emulator}

fail() { echo "node: FAILED: $*" >&2; exit 1; }

command -v node >/dev/null || fail "node is not installed (need Node.js >= 20)"
command -v npm >/dev/null || fail "npm is not installed"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || fail "Node.js $(node --version) is too old (need >= 20)"
[ -f "$USTB_LIB_DIR/libustb_openai.so" ] || fail "no $USTB_LIB_DIR/libustb_openai.so (run: make -C $root build)"
[ -f "$USTB_INCLUDE_DIR/ustb_openai.h" ] || fail "no $USTB_INCLUDE_DIR/ustb_openai.h"
[ -x "$USTB_EMULATOR" ] || fail "no emulator at $USTB_EMULATOR (run: make -C $root build)"

cd "$here"
# Also when the lock file is newer than what npm last installed (e.g. a new devDependency).
if [ ! -d node_modules/koffi ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "== npm ci"
    npm ci --no-audit --no-fund || fail "npm ci"
fi
echo "== node $(node --version), koffi $(node -p 'require("./node_modules/koffi/package.json").version')"
[ -x node_modules/.bin/tsc ] || fail "no node_modules/.bin/tsc (npm ci installs typescript from package-lock.json)"
echo "== $(node_modules/.bin/tsc --version): tsc --noEmit (index.d.ts, test/usage.ts)"
node_modules/.bin/tsc --noEmit -p . || fail "tsc --noEmit found type errors (see above)"

tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
# spec for people, TAP in a file for the summary; one file at a time so the timing tests
# do not compete with the memory test for the 2 cores.
set +e
node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" \
    test/*.test.js
rc=$?
set -e

count() { sed -n "s/^# $1 \([0-9]*\)$/\1/p" "$tap" | tail -n 1; }
tests=$(count tests); pass=$(count pass); failed=$(count fail)
[ -n "$tests" ] || fail "node --test printed no summary (exit $rc)"
if [ "$rc" -ne 0 ] || [ "${failed:-1}" -ne 0 ] || [ "$tests" -eq 0 ] || [ "$pass" -ne "$tests" ]; then
    echo "node: ${failed:-?} of $tests tests failed (exit $rc)"
    exit 1
fi
echo "node: $pass tests passed"
