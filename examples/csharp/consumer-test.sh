#!/bin/sh
# Packs UstbOpenAI (pack.sh, with the library `make install` put in USTB_PREFIX) into a local
# feed under USTB_WORK, outside the tree, installs it from there with nuget as the README's
# first lines say, builds consumer/Consumer.csproj with xbuild (the package's
# build/UstbOpenAI.targets puts libustb_openai.so beside the exe) and runs it on Mono against
# the installed emulator, with no LD_LIBRARY_PATH. Ends with "csharp: consumer passed".
# Env: USTB_PREFIX (make install's prefix), USTB_WORK (an empty directory outside the
# repository), USTB_ROOT (the repository root).
set -eu
fail() { echo "csharp: consumer FAILED: $*" >&2; exit 1; }
[ -n "${USTB_PREFIX:-}" ] && [ -n "${USTB_WORK:-}" ] && [ -n "${USTB_ROOT:-}" ] ||
    fail "set USTB_PREFIX, USTB_WORK and USTB_ROOT"
for tool in mcs mono nuget xbuild; do
    command -v $tool >/dev/null 2>&1 || fail "'$tool' not found (Debian: apt-get install -y \
--no-install-recommends mono-devel mono-xbuild nuget)"
done
[ -f /usr/lib/mono/4.5-api/mscorlib.dll ] ||
    fail "no Mono reference assemblies for xbuild (Debian: apt-get install -y mono-devel)"
emulator=$USTB_PREFIX/bin/ustb-emulator
[ -x "$emulator" ] || fail "no emulator at $emulator (make install PREFIX=...)"
cd "$USTB_WORK"

# The README's lines.
"$USTB_ROOT/examples/csharp/pack.sh" "$USTB_PREFIX/lib/libustb_openai.so" feed || fail "pack.sh"
nuget install UstbOpenAI -Source "$PWD/feed" -OutputDirectory packages -NoCache -NonInteractive ||
    fail "nuget install"
cp "$USTB_ROOT/examples/csharp/consumer/Consumer.cs" "$USTB_ROOT/examples/csharp/consumer/Consumer.csproj" .
xbuild /nologo /verbosity:quiet Consumer.csproj >xbuild.log 2>&1 || { cat xbuild.log >&2; fail "xbuild"; }
[ -f bin/libustb_openai.so ] || fail "build/UstbOpenAI.targets did not copy libustb_openai.so into bin/"

. "$USTB_ROOT/examples/emulator.sh"
start_emulator "$emulator" --port 0 || fail "the emulator printed no address"

expected="你好！我是北科大 AI 助手。你说：「你好」"
out=$(env -u LD_LIBRARY_PATH -u MONO_PATH mono bin/Consumer.exe "$url" demo) || fail "the consumer failed"
echo "csharp: $out"
[ "$out" = "$expected" ] || fail "expected \"$expected\""
echo "csharp: consumer passed"
