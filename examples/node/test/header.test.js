// The koffi prototypes and the status tables must agree with the C header
// (USTB_INCLUDE_DIR/ustb_openai.h): a changed signature would otherwise be a silent
// memory-safety bug, and a renumbered status a silent misreport, not a compile error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROTOTYPES } from '../lib/native.js';
import { Status } from '../lib/errors.js';
import { LogLevel } from '../lib/logging.js';

const here = dirname(fileURLToPath(import.meta.url));
const includeDir = process.env.USTB_INCLUDE_DIR ?? join(here, '..', '..', '..', 'include');

/** `NAME: value` pairs of a C enum body or a TypeScript object type, as an object. */
function pairs(text, pattern) {
  return Object.fromEntries([...text.matchAll(pattern)].map(([, name, value]) => [name, Number(value)]));
}

test('Status (lib/errors.js and index.d.ts) matches the ustb_status enum of the header', () => {
  const header = readFileSync(join(includeDir, 'ustb_openai.h'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const body = /typedef enum \{([^}]*)\} ustb_status;/.exec(header);
  assert.ok(body, 'no ustb_status enum in the header');
  const declared = pairs(body[1], /\bUSTB_(\w+)\s*=\s*(-?\d+)/g);
  assert.ok(Object.keys(declared).length >= 16, `only ${Object.keys(declared).length} statuses in the header`);
  assert.deepEqual({ ...Status }, declared, 'lib/errors.js Status vs header');
  const dts = readFileSync(join(here, '..', 'index.d.ts'), 'utf8');
  const typed = /export declare const Status: Readonly<\{([^}]*)\}>/.exec(dts);
  assert.ok(typed, 'no Status declaration in index.d.ts');
  assert.deepEqual(pairs(typed[1], /(\w+): (-?\d+);/g), declared, 'index.d.ts Status vs header');
});

test('LogLevel (lib/logging.js and index.d.ts) matches the USTB_LOG_* defines of the header', () => {
  const header = readFileSync(join(includeDir, 'ustb_openai.h'), 'utf8');
  const declared = pairs(header, /^#define USTB_LOG_(\w+) (\d+)$/gm);
  assert.equal(Object.keys(declared).length, 5, JSON.stringify(declared));
  assert.deepEqual({ ...LogLevel }, declared, 'lib/logging.js LogLevel vs header');
  const dts = readFileSync(join(here, '..', 'index.d.ts'), 'utf8');
  const typed = /export declare const LogLevel: Readonly<\{([^}]*)\}>/.exec(dts);
  assert.ok(typed, 'no LogLevel declaration in index.d.ts');
  assert.deepEqual(pairs(typed[1], /(\w+): (-?\d+);/g), declared, 'index.d.ts LogLevel vs header');
});

/**
 * Reduces a C declaration to `ret name(type,type)`: no parameter names, qualifiers or koffi
 * directions. ustb_status and ustb_login_state are int-sized enums, ustb_log_level an int; the `void` pointers
 * stand for the library's `char` strings and `uint8_t` buffers we keep as raw pointers (see lib/native.js).
 */
function normalise(decl) {
  const m = /^\s*(.*?)\s*\b(ustb_\w+)\s*\(([^)]*)\)/s.exec(decl);
  assert.ok(m, `not a declaration: ${decl}`);
  const type = (t) => t
    .replace(/\b(const|_Out_|_Inout_)\b/g, '')
    .replace(/\bustb_(status|log_level|login_state)\b/g, 'int')
    // koffi spells a function pointer as a pointer to its prototype.
    .replace(/\bustb_log_callback\s*\*/g, 'ustb_log_callback')
    .replace(/\bchar\b/g, 'void')
    .replace(/\buint8_t\s*\*/g, 'void*')
    .replace(/\s+/g, '');
  // Every parameter is named in both, so the last word after a space or `*` is the name.
  const params = m[3].trim() === 'void' ? [] : m[3].split(',').map((p) => type(p.trim().replace(/([\s*])\w+$/, '$1')));
  return `${type(m[1])} ${m[2]}(${params.join(',')})`;
}

test('every bound function matches its declaration in ustb_openai.h', () => {
  const header = readFileSync(join(includeDir, 'ustb_openai.h'), 'utf8');
  const declared = new Map();
  for (const m of header.matchAll(/^[A-Za-z_][^;{}#]*?\b(ustb_\w+)\s*\([^)]*\)\s*;/gm)) {
    declared.set(m[1], normalise(m[0]));
  }
  assert.ok(declared.size >= 18, `only ${declared.size} functions found in the header`);
  for (const proto of Object.values(PROTOTYPES)) {
    const mine = normalise(proto);
    const name = /\b(ustb_\w+)\(/.exec(mine)[1];
    assert.equal(mine, declared.get(name), `${name}: koffi prototype vs header`);
  }
  const bound = new Set(Object.values(PROTOTYPES).map((p) => /\b(ustb_\w+)\(/.exec(p)[1]));
  const unbound = [...declared.keys()].filter((n) => !bound.has(n));
  console.log(`not bound (by design or new): ${unbound.join(', ')}`);
});

test('QrState and PUZZLE_AUTO (index.js and index.d.ts) match ustb_login_state and USTB_PUZZLE_AUTO', async () => {
  const { QrState, PUZZLE_AUTO } = await import('../index.js');
  const raw = readFileSync(join(includeDir, 'ustb_openai.h'), 'utf8');
  const header = raw.replace(/\/\*[\s\S]*?\*\//g, '');
  const body = /typedef enum \{([^}]*)\} ustb_login_state;/.exec(header);
  assert.ok(body, 'no ustb_login_state enum in the header');
  const declared = pairs(body[1], /\bUSTB_LOGIN_(\w+)\s*=\s*(-?\d+)/g);
  assert.equal(Object.keys(declared).length, 5, JSON.stringify(declared));
  assert.deepEqual({ ...QrState }, declared, 'index.js QrState vs header');
  const dts = readFileSync(join(here, '..', 'index.d.ts'), 'utf8');
  const typed = /export declare const QrState: Readonly<\{([^}]*)\}>/.exec(dts);
  assert.ok(typed, 'no QrState declaration in index.d.ts');
  assert.deepEqual(pairs(typed[1], /(\w+): (-?\d+);/g), declared, 'index.d.ts QrState vs header');
  const auto = /^#define USTB_PUZZLE_AUTO (-?\d+)$/m.exec(raw);
  assert.ok(auto, 'no USTB_PUZZLE_AUTO in the header');
  assert.equal(PUZZLE_AUTO, Number(auto[1]));
  assert.match(dts, new RegExp(`export declare const PUZZLE_AUTO: ${auto[1]};`));
});
