// Where the C library is looked for: loadLibrary(path), USTB_OPENAI_LIB, USTB_LIB_DIR, the copy
// bundled in the package (prebuilds/<platform>-<arch>/), then the system loader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLED, SYSTEM, libraryPath } from '../lib/native.js';

const yes = () => true;
/** @param {string} s a path, matched literally at the start of the output */
const starts = (s) => new RegExp(`^${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `);
const no = () => false;

test('an explicit path comes first', () => {
  const env = { USTB_OPENAI_LIB: '/env/lib.so', USTB_LIB_DIR: '/dir' };
  assert.equal(libraryPath('/explicit.so', env, yes), '/explicit.so');
});

test('then USTB_OPENAI_LIB, then USTB_LIB_DIR', () => {
  assert.equal(libraryPath(undefined, { USTB_OPENAI_LIB: '/env/lib.so', USTB_LIB_DIR: '/dir' }, yes), '/env/lib.so');
  assert.equal(libraryPath(undefined, { USTB_LIB_DIR: '/dir' }, yes), '/dir/libustb_openai.so');
  assert.equal(libraryPath(undefined, { USTB_OPENAI_LIB: '', USTB_LIB_DIR: '/dir' }, yes), '/dir/libustb_openai.so');
});

test('then the bundled copy, if the package has one', () => {
  const seen = [];
  const exists = (p) => (seen.push(p), true);
  assert.equal(libraryPath(undefined, {}, exists), BUNDLED);
  assert.deepEqual(seen, [BUNDLED]);
  assert.match(BUNDLED, new RegExp(`/prebuilds/${process.platform}-${process.arch}/libustb_openai\\.so$`));
});

test('then the system loader, by soname', () => {
  assert.equal(libraryPath(undefined, {}, no), SYSTEM);
  assert.equal(SYSTEM, 'libustb_openai.so.0');
});

// The same order in a real process: a copy of the package with a bundled library, run with
// and without the environment variables (koffi from this folder's node_modules).
test('a packaged copy loads its bundled library unless the environment names another', (t) => {
  const here = fileURLToPath(new URL('..', import.meta.url));
  const lib = process.env.USTB_OPENAI_LIB || join(process.env.USTB_LIB_DIR ?? '', 'libustb_openai.so');
  const pkg = mkdtempSync(join(tmpdir(), 'ustb-node-lookup-'));
  t.after(() => rmSync(pkg, { recursive: true, force: true }));
  for (const f of ['package.json', 'index.js', 'lib']) cpSync(join(here, f), join(pkg, f), { recursive: true });
  symlinkSync(join(here, 'node_modules'), join(pkg, 'node_modules'));

  const clean = { ...process.env };
  delete clean.USTB_OPENAI_LIB;
  delete clean.USTB_LIB_DIR;
  const loaded = (env) =>
    execFileSync(process.execPath, ['--input-type=module', '-e',
      "import { loadLibrary, version } from './index.js'; console.log(loadLibrary().path, version());"],
    { cwd: pkg, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

  // No bundled copy, no variable: the system loader, which here does not know the library
  // (unless it was installed system-wide), so the error names the ways to point at it.
  try {
    assert.match(loaded(clean), /^libustb_openai\.so\.0 \d+\.\d+\.\d+$/);
  } catch (err) {
    assert.match(String(err.stderr), /cannot load the ustb-openai C library from libustb_openai\.so\.0: .*USTB_OPENAI_LIB/);
  }

  const bundled = join(pkg, 'prebuilds', `${process.platform}-${process.arch}`, 'libustb_openai.so');
  mkdirSync(join(bundled, '..'), { recursive: true });
  cpSync(lib, bundled);
  assert.match(loaded(clean), starts(bundled));
  assert.match(loaded({ ...clean, USTB_LIB_DIR: join(lib, '..') }), starts(join(lib, '..', 'libustb_openai.so')));
  assert.match(loaded({ ...clean, USTB_OPENAI_LIB: lib, USTB_LIB_DIR: '/nowhere' }), starts(lib));
});
