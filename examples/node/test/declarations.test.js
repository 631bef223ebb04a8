// index.d.ts declares exactly what index.js exports (tsc checks the declarations themselves
// and test/usage.ts against them; this checks they describe the real module).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as mod from '../index.js';

test('index.d.ts declares every export of index.js, and nothing more', () => {
  const dts = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');
  const declared = new Set([...dts.matchAll(/^export declare (?:const|function|class) (\w+)/gm)].map((m) => m[1]));
  if (/^export default \w+;/m.test(dts)) declared.add('default');
  assert.deepEqual(new Set(Object.keys(mod)), declared);
  assert.equal(mod.default, mod.Client);
});
