#!/usr/bin/env bash
# A project of your own, outside this repository, using the installed library the way its README
# says, run against the installed emulator. `consumer-test.sh` (C): consumer/consumer.c built with
# pkg-config and with CMake, each shared and static. `consumer-test.sh cpp` (C++, run by
# examples/cpp/consumer-test.sh): examples/cpp/consumer with CMake, and examples/cpp itself,
# built and installed with CMake. No LD_LIBRARY_PATH: shared builds must find the library by rpath.
# Needs USTB_PREFIX (a `make install` prefix), USTB_WORK (an empty directory outside the
# repository) and USTB_ROOT (the repository); tests/consumers.rs sets them.
set -euo pipefail
lang=${1:-c}
: "${USTB_PREFIX:?set USTB_PREFIX to a make install prefix}"
: "${USTB_WORK:?set USTB_WORK to an empty directory outside the repository}"
: "${USTB_ROOT:?set USTB_ROOT to the repository}"
compiler=$([ "$lang" = cpp ] && echo c++ || echo cc)
for tool in "$compiler" pkg-config cmake readelf; do
    command -v "$tool" >/dev/null || { echo "$lang: $tool is missing (install it)" >&2; exit 1; }
done
unset LD_LIBRARY_PATH
# The one step the README asks for with a prefix the system does not search.
export PKG_CONFIG_PATH=$USTB_PREFIX/lib/pkgconfig
reply="你好！我是北科大 AI 助手。你说：「你好」"

. "$USTB_ROOT/examples/emulator.sh"
start_emulator "$USTB_PREFIX/bin/ustb-emulator" || { echo "$lang: the emulator did not start" >&2; exit 1; }

# Shows a build command and runs it quietly, showing its output only when it fails.
quiet() {
    echo "\$ $*"
    "$@" >"$USTB_WORK/step.log" 2>&1 || { cat "$USTB_WORK/step.log" >&2; echo "$lang: failed: $*" >&2; exit 1; }
}

# check NAME shared|static PROGRAM ARGS...: runs it, prints its output, checks the reply and how
# the library was linked (shared: found in USTB_PREFIX by rpath; static: not needed at all).
check() {
    local name=$1 kind=$2 out
    shift 2
    out=$("$@") || { echo "$lang: $name exited with $?" >&2; exit 1; }
    printf '%s: %s\n' "$name" "$out"
    [[ $out == *"$reply"* ]] || { echo "$lang: $name did not print the reply" >&2; exit 1; }
    # (Whole outputs first: `grep -q` ending a pipe early would fail it under pipefail.)
    local libs dynamic
    libs=$(ldd "$1")
    dynamic=$(readelf -d "$1")
    if [ "$kind" = shared ]; then
        [[ $libs == *"=> $USTB_PREFIX/lib/libustb_openai.so.0 "* ]] ||
            { echo "$libs" >&2; echo "$lang: $name does not load the installed library" >&2; exit 1; }
    elif [[ $dynamic == *libustb_openai* ]]; then
        echo "$lang: $name should not need libustb_openai.so" >&2
        exit 1
    fi
}

cd "$USTB_WORK"
if [ "$lang" = c ]; then
    cp "$USTB_ROOT"/examples/c/consumer/{consumer.c,CMakeLists.txt} .
    flags=(-std=c99 -Wall -Wextra -Werror)
    # shellcheck disable=SC2046 # pkg-config's output is a list of flags
    quiet cc "${flags[@]}" consumer.c $(pkg-config --cflags --libs ustb_openai) -o consumer-pc
    check pkg-config shared ./consumer-pc "$url"
    static_libs=$(pkg-config --static --libs ustb_openai)
    # shellcheck disable=SC2046,SC2086
    quiet cc "${flags[@]}" consumer.c $(pkg-config --cflags ustb_openai) ${static_libs/-lustb_openai/-l:libustb_openai.a} \
        -o consumer-pc-static
    check "pkg-config --static" static ./consumer-pc-static "$url"
    quiet cmake -S . -B build -DCMAKE_PREFIX_PATH="$USTB_PREFIX"
    quiet cmake --build build
    check "cmake ustb_openai::ustb_openai" shared build/consumer "$url"
    check "cmake ustb_openai::ustb_openai_static" static build/consumer_static "$url"
else
    mkdir consumer chat
    cp "$USTB_ROOT"/examples/cpp/consumer/{consumer.cpp,CMakeLists.txt} consumer/
    quiet cmake -S consumer -B consumer/build -DCMAKE_PREFIX_PATH="$USTB_PREFIX"
    quiet cmake --build consumer/build
    check "cmake ustb_openai::ustb_openai" shared consumer/build/consumer "$url"
    # examples/cpp as its README builds it, then installed: the installed program keeps its rpath.
    cp "$USTB_ROOT"/examples/cpp/{chat.cpp,login.cpp,CMakeLists.txt} chat/
    quiet cmake -S chat -B chat/build -DCMAKE_PREFIX_PATH="$USTB_PREFIX"
    quiet cmake --build chat/build
    quiet cmake --install chat/build --prefix "$USTB_WORK/app"
    check "installed chat_cpp" shared app/bin/chat_cpp --base-url "$url" --cookie cookie_vjuid_login=x 你好
fi
echo "$lang: consumer passed"
