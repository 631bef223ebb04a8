#!/bin/sh
# CI entry point for the C# (Mono) host wrapper: builds the wrapper, the examples and the tests
# into target/csharp and runs the tests against the bundled emulator.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
USTB_LIB_DIR=${USTB_LIB_DIR:-$root/target/debug}
USTB_INCLUDE_DIR=${USTB_INCLUDE_DIR:-$root/include}
USTB_EMULATOR=${USTB_EMULATOR:-$root/target/debug/ustb-emulator}
export USTB_EMULATOR USTB_INCLUDE_DIR # the status test reads the header
build=${CSHARP_BUILD_DIR:-$root/target/csharp}

die() { echo "csharp: $*" >&2; exit 1; }
for tool in mcs mono; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "'$tool' not found; install Mono: apt-get install -y --no-install-recommends mono-mcs mono-runtime"
done
[ -f "$USTB_LIB_DIR/libustb_openai.so" ] || die "no libustb_openai.so in $USTB_LIB_DIR (run 'make build')"
[ -f "$USTB_INCLUDE_DIR/ustb_openai.h" ] || die "no ustb_openai.h in $USTB_INCLUDE_DIR"
[ -x "$USTB_EMULATOR" ] || die "emulator $USTB_EMULATOR is missing or not executable"

mkdir -p "$build"
# C# 7 exactly, warnings as errors: what Debian 12's mcs accepts is what we write.
flags="-langversion:7 -warn:4 -warnaserror+ -nologo"
mcs $flags -target:library -out:"$build/UstbOpenAI.dll" "$here/UstbOpenAI.cs"
mcs $flags -r:"$build/UstbOpenAI.dll" -out:"$build/Example.exe" "$here/Example.cs"
mcs $flags -r:"$build/UstbOpenAI.dll" -out:"$build/Login.exe" "$here/Login.cs"
mcs $flags -r:"$build/UstbOpenAI.dll" -r:System.Core.dll -out:"$build/Tests.exe" "$here/Tests.cs"

export LD_LIBRARY_PATH="$USTB_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
out="$build/tests.log"
# Keep mono's own exit status (a plain pipe would report tee's).
rm -f "$build/tests.rc"
export USTB_EMULATOR_PIDFILE="$build/emulator.pid"
rm -f "$USTB_EMULATOR_PIDFILE"
# The tests stop their emulator themselves; this only catches a crashed test process.
trap 'if [ -s "$USTB_EMULATOR_PIDFILE" ]; then kill "$(cat "$USTB_EMULATOR_PIDFILE")" 2>/dev/null || true; fi' EXIT
{ st=0; mono --debug "$build/Tests.exe" || st=$?; echo "$st" >"$build/tests.rc"; } 2>&1 | tee "$out"
rc=$(cat "$build/tests.rc")
passed=$(sed -n 's/^csharp: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$out")
failed=$(sed -n 's/^csharp: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$out")
if [ "$rc" -ne 0 ] || [ -z "$passed" ] || [ "$failed" != 0 ] || [ "$passed" -eq 0 ]; then
    die "tests FAILED (exit $rc, ${passed:-?} passed, ${failed:-?} failed)"
fi
echo "csharp: $passed tests passed"
