// `npm pack` (prepack): copies the C library into prebuilds/<platform>-<arch>/, where
// lib/native.js looks after an explicit path and the environment. `--clean` (postpack) removes
// it again, so no stale copy stays in the source folder. The library to bundle is the one
// USTB_OPENAI_LIB names, else libustb_openai.so in USTB_LIB_DIR (e.g. $PREFIX/lib after
// `make install PREFIX=…`, which is built without the emulator); symlinks are followed.
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prebuilds = join(root, 'prebuilds');

if (process.argv.includes('--clean')) {
  rmSync(prebuilds, { recursive: true, force: true });
  process.exit(0);
}

const { USTB_OPENAI_LIB, USTB_LIB_DIR } = process.env;
const source = USTB_OPENAI_LIB || (USTB_LIB_DIR && join(USTB_LIB_DIR, 'libustb_openai.so'));
if (!source || !existsSync(source)) {
  console.error(
    `bundle-library: ${source ? `no library at ${source}` : 'which library to bundle?'}: set USTB_LIB_DIR ` +
      'to the folder with libustb_openai.so (e.g. USTB_LIB_DIR=$PREFIX/lib after make install PREFIX=…), ' +
      'or USTB_OPENAI_LIB to the file',
  );
  process.exit(1);
}
const target = join(prebuilds, `${process.platform}-${process.arch}`, 'libustb_openai.so');
rmSync(prebuilds, { recursive: true, force: true });
mkdirSync(dirname(target), { recursive: true });
copyFileSync(source, target);
console.error(`bundle-library: ${source} -> ${target.slice(root.length + 1)} (${statSync(target).size} bytes)`);
