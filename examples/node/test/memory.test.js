// No growth: hundreds of streams, completions and errors must not grow the process's RSS.
// Each stream here hands out ~25 KB of library-owned chunk strings, so a missed
// ustb_string_free or ustb_chat_stream_free adds 9 to 28 MiB over the run, well past the bound
// below. Error objects are small, so a second test makes tens of thousands of them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Client, Status, UstbError } from '../index.js';
import { startEmulator } from './emulator.js';

// RSS settles after ~250 rounds (allocator arenas of the worker threads fill up), so the
// warm-up is longer than that; measured: under 1.5 MiB of growth over the 400 rounds after it.
const ROUNDS = 400; // rounds measured, each with one or two streams
const WARMUP = 300;
const BOUND_MIB = 4;
const ERRORS = 30_000; // measured: ~0 MiB; a missed ustb_error_free costs ~10 MiB here
const ERROR_BOUND_MIB = 2;
const PROMPT = '内存 @emu:long=8000'; // ~8000 characters of content, in 2048-character chunks
const NOT_FROM_USER = { messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: 'y' }], stream: true };

// `node --expose-gc` gives global.gc; without the flag, switch it on at run time.
v8.setFlagsFromString('--expose-gc');
const gc = globalThis.gc ?? vm.runInNewContext('gc');

/** @type {{url: string, stop: () => void}} */ let emu;
before(async () => {
  emu = await startEmulator(['--chunk-chars', '2048']);
});
after(() => emu?.stop());

/** One round: a long stream read to the end, plus an error or a completion now and then. */
async function round(client, anon, i) {
  const ask = (content, stream) => ({ messages: [{ role: 'user', content }], stream });
  let bytes = 0;
  for await (const chunk of await client.chat.completions.create(ask(PROMPT, true))) {
    bytes += (chunk.choices[0]?.delta?.content ?? '').length;
  }
  assert.ok(bytes >= 8000, `short reply: ${bytes}`);
  if (i % 4 === 0) {
    await assert.rejects(client.chat.completions.create(ask('@emu:truncate x', true)).then(async (s) => {
      for await (const _ of s);
    }), (e) => e instanceof UstbError && e.status === Status.TRUNCATED);
  }
  if (i % 4 === 1) {
    await assert.rejects(anon.chat.completions.create(ask('x', false)),
      (e) => e instanceof UstbError && e.apiCode === 10042);
  }
  if (i % 4 === 2) {
    const c = await client.chat.completions.create(ask(PROMPT, false));
    assert.ok(c.choices[0].message.content.length >= 8000);
  }
  if (i % 4 === 3) {
    // Abandoned halfway: break frees it with the connection unread.
    for await (const _ of await client.chat.completions.create(ask(PROMPT, true))) break;
  }
}

async function rss() {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().rss;
}

test(`RSS grows less than ${BOUND_MIB} MiB over ${ROUNDS} rounds: ${ROUNDS * 1.5} streams, ${ROUNDS / 2} errors, ${ROUNDS / 4} completions (after ${WARMUP} warm-up rounds)`, { timeout: 120_000 }, async () => {
  const client = new Client({ base_url: emu.url, vjuid_login: 'mem', idle_timeout_ms: 20000 });
  const anon = new Client({ base_url: emu.url });
  try {
    for (let i = 0; i < WARMUP; i++) await round(client, anon, i);
    const before = await rss();
    for (let i = 0; i < ROUNDS; i++) await round(client, anon, i);
    const growth = (await rss()) - before;
    const mib = growth / 1024 / 1024;
    console.log(`rss growth over ${ROUNDS} rounds: ${mib.toFixed(2)} MiB (bound ${BOUND_MIB} MiB)`);
    assert.ok(mib < BOUND_MIB, `RSS grew by ${mib.toFixed(2)} MiB`);
  } finally {
    client.close();
    anon.close();
  }
});

test(`RSS grows less than ${ERROR_BOUND_MIB} MiB over ${ERRORS} error objects`, async () => {
  const client = new Client({ base_url: emu.url, vjuid_login: 'mem' });
  // Refused before any network traffic, so this is quick; each failure hands out an ustb_error.
  const fail = async () => {
    try {
      await client.chat.completions.create(NOT_FROM_USER);
    } catch (e) {
      assert.equal(e.status, Status.INVALID_REQUEST);
      return;
    }
    assert.fail('the request was accepted');
  };
  try {
    for (let i = 0; i < 10_000; i++) await fail();
    const before = await rss();
    for (let i = 0; i < ERRORS; i++) await fail();
    const mib = ((await rss()) - before) / 1024 / 1024;
    console.log(`rss growth over ${ERRORS} errors: ${mib.toFixed(2)} MiB (bound ${ERROR_BOUND_MIB} MiB)`);
    assert.ok(mib < ERROR_BOUND_MIB, `RSS grew by ${mib.toFixed(2)} MiB`);
  } finally {
    client.close();
  }
});
