#!/usr/bin/env bash
# Uses the npm package the way a user's project does (README "Install"): `npm pack` of this
# folder with the library installed in USTB_PREFIX bundled, `npm install` of the tarball into a
# fresh project in USTB_WORK, then a 10-line program there against the installed emulator, with
# no NODE_PATH and no LD_LIBRARY_PATH. Last line: "node: consumer passed".
#   USTB_PREFIX  a `make install PREFIX=…` prefix     USTB_WORK  an empty directory outside the tree
#   USTB_ROOT    this repository's root
set -euo pipefail
fail() { echo "node: consumer FAILED: $*" >&2; exit 1; }
[ -n "${USTB_PREFIX:-}" ] && [ -n "${USTB_WORK:-}" ] && [ -n "${USTB_ROOT:-}" ] ||
    fail "set USTB_PREFIX, USTB_WORK and USTB_ROOT"
command -v node >/dev/null || fail "node is not installed (need Node.js >= 20)"
command -v npm >/dev/null || fail "npm is not installed"
[ -f "$USTB_PREFIX/lib/libustb_openai.so" ] || fail "no $USTB_PREFIX/lib/libustb_openai.so (make install PREFIX=$USTB_PREFIX)"
[ -x "$USTB_PREFIX/bin/ustb-emulator" ] || fail "no $USTB_PREFIX/bin/ustb-emulator (make install PREFIX=$USTB_PREFIX)"
unset USTB_OPENAI_LIB USTB_LIB_DIR NODE_PATH LD_LIBRARY_PATH

# Tests use nothing on the network but 127.0.0.1: koffi comes from npm's cache, which
# .ci/deps.sh fills. npm's own cache folder is kept, only its offline mode is set.
export npm_config_offline=true npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
app=$USTB_WORK/node-consumer
mkdir -p "$app"
cd "$app"
npm init -y >/dev/null

# The README's install lines, as a user types them in the project.
PREFIX=$USTB_PREFIX
USTB_LIB_DIR=$PREFIX/lib npm pack "$USTB_ROOT"/examples/node || fail "npm pack"
npm pkg set allowScripts.koffi=false --json
npm install ./ustb-openai-0.1.0.tgz ||
    fail "npm install (offline: run $USTB_ROOT/.ci/deps.sh, which puts koffi into npm's cache)"

cat >hello.mjs <<'EOF'
import { Client, loadLibrary } from 'ustb-openai';

const client = new Client({ base_url: process.argv[2], vjuid_login: 'demo' });
const completion = await client.chat.completions.create({
  model: 'deepseek-r1',
  messages: [{ role: 'user', content: '你好' }],
});
console.log(`${loadLibrary().path}: ${completion.choices[0].message.content}`);
client.close();
EOF

echo "== installed: $(cd node_modules/ustb-openai && find . -type f | sort | tr '\n' ' ')"
types=$(node -p 'require("./node_modules/ustb-openai/package.json").types')
[ -f "node_modules/ustb-openai/$types" ] || fail "the package's types ($types) are missing"

. "$USTB_ROOT/examples/emulator.sh"
start_emulator "$PREFIX/bin/ustb-emulator" || fail "the emulator printed no address"

reply=$(node hello.mjs "$url") || fail "the consumer failed"
echo "$reply"
case $reply in
    "$app/node_modules/ustb-openai/prebuilds/linux-x64/libustb_openai.so: "*你好*) ;;
    *) fail "expected the bundled library and a reply containing 你好" ;;
esac
echo "node: consumer passed"
