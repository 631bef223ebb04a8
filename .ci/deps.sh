#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust, a C compiler, Go, Node and Python, only
# where it is missing (so a second run is quick): valgrind, Mono, xbuild and nuget from
# Debian's packages, koffi and typescript from npm (examples/node, as locked; koffi also into
# npm's cache for examples/node/consumer-test.sh), and in target/venv openai-python
# (for the output-schema test) and ruff (the Python wrapper's linter).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=()
command -v valgrind >/dev/null || apt_packages+=(valgrind)
command -v pkg-config >/dev/null || apt_packages+=(pkg-config)
command -v mcs >/dev/null || apt_packages+=(mono-mcs)
command -v mono >/dev/null || apt_packages+=(mono-runtime)
# The C# package and its consumer test: nuget (pack, install), xbuild and the reference
# assemblies it compiles against (mono-devel).
command -v nuget >/dev/null || apt_packages+=(nuget)
command -v xbuild >/dev/null || apt_packages+=(mono-xbuild)
[ -f /usr/lib/mono/4.5-api/mscorlib.dll ] || apt_packages+=(mono-devel)
if [ ${#apt_packages[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "deps: please install with your package manager: ${apt_packages[*]}" >&2
        exit 1
    fi
    echo "deps: apt-get install ${apt_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

# Again when the lock file is newer than what npm last installed (e.g. a new devDependency).
if [ -f examples/node/package-lock.json ] &&
    [ examples/node/package-lock.json -nt examples/node/node_modules/.package-lock.json ]; then
    echo "deps: npm ci (examples/node)"
    (cd examples/node && npm ci --no-audit --no-fund --loglevel=error)
fi

# examples/node/consumer-test.sh installs the packed wrapper with `npm --offline`, so koffi and
# its prebuilt binary must be in npm's cache with their registry metadata (npm ci caches only
# the tarballs). Probed with the same offline install; `npm cache add` when it fails.
koffi=$(node -p 'require("./examples/node/package.json").dependencies.koffi')
koffi_bin=@koromix/koffi-$(node -p 'process.platform + "-" + process.arch')
probe=$(mktemp -d)
echo '{"private": true}' >"$probe/package.json"
if ! (cd "$probe" && npm install --offline --no-save --no-audit --no-fund --loglevel=error --ignore-scripts \
    "koffi@$koffi" >/dev/null 2>&1 && [ -d "node_modules/$koffi_bin" ]); then
    echo "deps: npm cache add koffi@$koffi $koffi_bin@$koffi (for examples/node/consumer-test.sh)"
    npm cache add "koffi@$koffi" "$koffi_bin@$koffi" --loglevel=error
fi
rm -rf "$probe"

if ! target/venv/bin/python -c "import openai" 2>/dev/null; then
    echo "deps: openai-python into target/venv"
    python3 -m venv target/venv
    target/venv/bin/pip install -q --disable-pip-version-check openai==3.57.0
fi

ruff_version=0.17.5
if [ "$(target/venv/bin/ruff --version 2>/dev/null)" != "ruff $ruff_version" ]; then
    echo "deps: ruff $ruff_version into target/venv"
    [ -x target/venv/bin/pip ] || python3 -m venv target/venv
    target/venv/bin/pip install -q --disable-pip-version-check "ruff==$ruff_version"
fi
