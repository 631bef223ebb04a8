#!/bin/sh
# Installs the Python package from this checkout the way a user would (README's first lines)
# into fresh venvs under USTB_WORK, outside the tree, and runs consumer/consumer.py from there
# against the installed emulator. Ends with "python: consumer passed"; exits non-zero on any
# failure or missing tool.
# Env: USTB_PREFIX (make install's prefix: bin/ustb-emulator), USTB_WORK (an empty directory
# outside the repository), USTB_ROOT (the repository root).
set -eu
fail() { echo "python: consumer FAILED: $*" >&2; exit 1; }
[ -n "${USTB_PREFIX:-}" ] && [ -n "${USTB_WORK:-}" ] && [ -n "${USTB_ROOT:-}" ] ||
    fail "set USTB_PREFIX, USTB_WORK and USTB_ROOT"
command -v python3 >/dev/null 2>&1 || fail "python3 not found (Debian: apt-get install -y python3)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 8))' || fail "python3 >= 3.8 needed"
python3 -c 'import venv, ensurepip' 2>/dev/null ||
    fail "python3 cannot make venvs (Debian: apt-get install -y python3-venv)"
command -v cargo >/dev/null 2>&1 || fail "cargo not found: pip builds the library with it"
emulator=$USTB_PREFIX/bin/ustb-emulator
[ -x "$emulator" ] || fail "no emulator at $emulator (make install PREFIX=...)"
cd "$USTB_WORK"
pip_quiet="--disable-pip-version-check --no-input -q"

# The README's lines: a venv, and pip building the package (cargo, release) from the checkout.
start=$(date +%s)
python3 -m venv venv
venv/bin/pip install $pip_quiet "$USTB_ROOT/examples/python" || fail "pip install"
echo "python: pip install examples/python took $(($(date +%s) - start)) s"
# The README's offline lines: a wheel, installed with no index into another venv.
venv/bin/pip wheel $pip_quiet --no-deps "$USTB_ROOT/examples/python" -w wheels || fail "pip wheel"
wheel=$(ls wheels/ustb_openai-*.whl)
case $wheel in *-py3-none-linux_x86_64.whl) ;; *) fail "unexpected wheel tag: $wheel" ;; esac
python3 -m venv offline
offline/bin/pip install $pip_quiet --no-index "$wheel" || fail "offline install of $wheel"
echo "python: built $wheel ($(du -k "$wheel" | cut -f1) KiB), installed offline"

# What the wheel carries: the library and the type information.
site=$(offline/bin/python -c 'import os, ustb_openai; print(os.path.dirname(ustb_openai.__file__))')
for f in py.typed _client.pyi _login.py _login.pyi libustb_openai.abi3.so; do
    [ -e "$site/$f" ] || fail "the installed package has no $f ($site)"
done

. "$USTB_ROOT/examples/emulator.sh"
start_emulator "$emulator" --port 0 || fail "the emulator printed no address"

cp "$USTB_ROOT/examples/python/consumer/consumer.py" .
expected="你好！我是北科大 AI 助手。你说：「你好」"
for venv in venv offline; do
    # No PYTHONPATH or LD_LIBRARY_PATH: the package and its library come from the venv alone.
    out=$(env -u PYTHONPATH -u LD_LIBRARY_PATH -u USTB_OPENAI_LIB -u USTB_LIB_DIR \
        "$venv/bin/python" consumer.py "$url" demo) || fail "the consumer failed in $venv"
    echo "python ($venv): $out"
    [ "$out" = "$expected" ] || fail "expected \"$expected\""
done
echo "python: consumer passed"
