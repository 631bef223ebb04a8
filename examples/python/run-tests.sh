#!/bin/sh
# CI entry point of the Python host wrapper: ruff (see ruff.toml), then the unittest suite
# against the emulator.
# Env (defaults are relative to this script, inside the ustb-openai checkout):
#   USTB_LIB_DIR      directory holding libustb_openai.so   (../../target/debug)
#   USTB_INCLUDE_DIR  directory holding ustb_openai.h       (../../include)
#   USTB_EMULATOR     the ustb-emulator binary              (../../target/debug/ustb-emulator)
#   USTB_RUFF         the ruff binary (../../target/venv/bin/ruff, pinned by .ci/deps.sh)
# Exits non-zero on any failure, and when python3 (>= 3.8), the library or the emulator is
# missing: nothing is skipped silently.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
USTB_LIB_DIR=${USTB_LIB_DIR:-$here/../../target/debug}
USTB_INCLUDE_DIR=${USTB_INCLUDE_DIR:-$here/../../include}
USTB_EMULATOR=${USTB_EMULATOR:-$here/../../target/debug/ustb-emulator}
USTB_RUFF=${USTB_RUFF:-$here/../../target/venv/bin/ruff}
export USTB_LIB_DIR USTB_INCLUDE_DIR USTB_EMULATOR
# The suite must use the library under test, never one named elsewhere.
unset USTB_OPENAI_LIB USTB_BASE_URL USTB_VJUID_LOGIN USTB_EASY_SESSION 2>/dev/null || true

fail() { echo "python: FAILED: $*" >&2; exit 1; }
command -v python3 >/dev/null 2>&1 || fail "python3 not found (Debian: apt-get install -y python3)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 8))' ||
    fail "python3 >= 3.8 needed, found $(python3 -V 2>&1)"
[ -e "$USTB_LIB_DIR/libustb_openai.so" ] || fail "no libustb_openai.so in $USTB_LIB_DIR (make -C ../.. build)"
[ -e "$USTB_INCLUDE_DIR/ustb_openai.h" ] || fail "no ustb_openai.h in $USTB_INCLUDE_DIR"
[ -x "$USTB_EMULATOR" ] || fail "emulator not executable: $USTB_EMULATOR"
[ -x "$USTB_RUFF" ] || fail "no ruff at $USTB_RUFF (run .ci/deps.sh, which installs the pinned one)"

cd "$here"
echo "python: $("$USTB_RUFF" --version) check"
"$USTB_RUFF" check --no-cache . || fail "ruff check found problems (see above)"
echo "python: $(python3 -V 2>&1), library from $USTB_LIB_DIR"
exec python3 - <<'PY'
import sys
import unittest

suite = unittest.defaultTestLoader.discover("tests", top_level_dir=".")
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
bad = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
skipped = len(result.skipped)
passed = result.testsRun - bad - skipped - len(result.expectedFailures)
if result.testsRun == 0 or not result.wasSuccessful():
    print("python: FAILED: %d failures or errors (%d tests ran)" % (bad, result.testsRun))
    sys.exit(1)
note = " (%d skipped: %s)" % (skipped, "; ".join(r for _, r in result.skipped)) if skipped else ""
print("python: %d tests passed%s" % (passed, note))
PY
