// setLogger: the library's log lines reach a JS logger, from the main thread and from worker
// threads, filtered by level, without secrets or message content; and changing the logger
// while calls run on worker threads (whose lines koffi queues to the main thread) never
// deadlocks. The logger is process-wide; node --test runs this file in its own process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Client, LogLevel, Status, setLogger } from '../index.js';
import { startEmulator } from './emulator.js';
import { rejectsWith, closedPort } from './helpers.js';

const COOKIE = 'secret-login-7f3a9c';
const PROMPT = '日志里不应出现的提示词';
// Logger changes while calls run (USTB_NODE_LOG_SWITCHES scales it up for long runs).
const SWITCHES = Number(process.env.USTB_NODE_LOG_SWITCHES ?? 200);

/** @type {{url: string, stop: () => void}} */ let emu;
/** @type {{url: string, stop: () => void}} */ let slowEmu;
/** @type {Client} */ let client;

before(async () => {
  [emu, slowEmu] = await Promise.all([startEmulator(), startEmulator(['--delay-ms', '30'])]);
  client = new Client({ base_url: emu.url, vjuid_login: COOKIE, idle_timeout_ms: 20000 });
});
after(async () => {
  await setLogger(null);
  client?.close();
  emu?.stop();
  slowEmu?.stop();
});

/** A logger function that records `[level, message]` pairs. */
function recorder() {
  /** @type {Array<[string, string]>} */
  const lines = [];
  const log = (level, message) => {
    lines.push([level, message]);
  };
  return { log, lines };
}

const ask = (content, extra = {}) => ({ messages: [{ role: 'user', content }], ...extra });

test('lines of chats and platform calls reach the logger, without cookies or prompts', async () => {
  const { log, lines } = recorder();
  await setLogger(log, { level: 'debug' });
  await client.chat.completions.create(ask(PROMPT)); // read on a worker thread
  await client.models.list();
  await setLogger(null);
  const text = lines.map(([l, m]) => `${l} ${m}`).join('\n');
  assert.match(text, /^debug POST \/site\/ai\/compose_chat: sending attempt 1/m);
  assert.match(text, /^info POST \/site\/ai\/compose_chat: HTTP 200/m);
  assert.match(text, /^info chat stream ended normally: first byte [\d.]+ ms/m);
  assert.match(text, /^info GET \/site\/voom\/page-setting: HTTP 200/m);
  assert.ok(!text.includes(COOKIE), 'a cookie value was logged');
  assert.ok(!text.includes(PROMPT), 'the prompt was logged');
  assert.ok(lines.every(([l]) => ['error', 'warn', 'info', 'debug'].includes(l)));
});

test('the level filters; retries are warnings; null stops the lines', async () => {
  const { log, lines } = recorder();
  await setLogger(log, { level: 'warn' });
  await client.webInfo();
  assert.deepEqual(lines, [], 'a successful call logs nothing at warn');
  const down = new Client({ base_url: `http://127.0.0.1:${await closedPort()}`, max_retries: 1 });
  try {
    await rejectsWith(down.apps(), Status.CONNECT_ERROR);
    assert.ok(lines.length >= 2, JSON.stringify(lines));
    assert.ok(lines.every(([l]) => l === 'warn'));
    assert.match(lines[0][1], /^GET \/site\/ai\/compose_list: attempt 1 of 2 failed \(connect_error: .*\); retrying in/);

    await setLogger(log, { level: LogLevel.INFO });
    lines.length = 0;
    await client.webInfo();
    assert.deepEqual(lines.map(([l]) => l), ['info'], 'info without the debug line');

    await setLogger(null);
    lines.length = 0;
    await client.webInfo();
    await rejectsWith(down.apps(), Status.CONNECT_ERROR);
    assert.deepEqual(lines, []);
  } finally {
    down.close();
  }
});

test('an object logger (console-like) gets each line through its level method', async () => {
  /** @type {Record<string, string[]>} */
  const got = { error: [], warn: [], info: [], debug: [] };
  const logger = Object.fromEntries(Object.keys(got).map((k) => [k, (m) => got[k].push(m)]));
  await setLogger(logger, { level: 'debug' });
  const abort = new AbortController();
  const stream = await client.chat.completions.create(ask('@emu:silent x', { stream: true }), { signal: abort.signal });
  await stream.next();
  setTimeout(() => abort.abort(), 50);
  await rejectsWith(stream.next(), Status.CANCELLED);
  await setLogger(null);
  assert.ok(got.debug.some((m) => m.startsWith('POST /site/ai/compose_chat: sending')), JSON.stringify(got));
  assert.ok(got.info.some((m) => /cancel/i.test(m)), `no cancel line in ${JSON.stringify(got.info)}`);
});

test('changing the logger while calls log from worker threads does not deadlock', { timeout: 60000 }, async () => {
  // Each call logs from its worker thread, which then waits for the main thread to run the
  // logger; a setLogger that blocked the main thread while one waits would never return.
  const a = recorder();
  const b = recorder();
  await setLogger(a.log, { level: 'debug' });
  const slow = new Client({ base_url: slowEmu.url, vjuid_login: COOKIE });
  let running = true;
  const calls = async () => {
    let n = 0;
    while (running) {
      await client.webInfo();
      n++;
    }
    return n;
  };
  try {
    const read = async () => {
      let content = '';
      for await (const chunk of await slow.chat.completions.create(ask('请介绍你自己。', { stream: true }))) {
        content += chunk.choices[0]?.delta?.content ?? '';
      }
      return content;
    };
    const streams = [read(), read()];
    const loops = [calls(), calls()];
    const switches = [];
    for (let i = 0; i < SWITCHES; i++) {
      await new Promise((r) => setTimeout(r, 2));
      switches.push(setLogger(i % 2 ? a.log : b.log, { level: i % 3 ? 'debug' : 'info' }));
    }
    await Promise.all(switches);
    running = false;
    const done = await Promise.all(loops);
    assert.ok(done.every((n) => n > 0), `calls made: ${done}`);
    const contents = await Promise.all(streams);
    assert.deepEqual(contents, Array(2).fill('你好！我是北科大 AI 助手。'));
    const ended = [...a.lines, ...b.lines].filter(([, m]) => m.startsWith('chat stream ended normally'));
    assert.equal(ended.length, 2, 'each stream logged its end once');
  } finally {
    running = false;
    slow.close();
    await setLogger(null);
  }
});

test('a logger that throws does not break the call; a warning says so', async () => {
  await setLogger(() => {
    throw new Error('logger broke');
  });
  const warned = once(process, 'warning');
  const completion = await client.chat.completions.create(ask('你好'));
  assert.equal(completion.choices[0].finish_reason, 'stop');
  const [warning] = await warned;
  assert.match(warning.message, /logger broke/);
  await setLogger(null);
});

test('a bad logger or level is refused', async () => {
  await rejectsWith(setLogger(/** @type {any} */ ('console')), Status.INVALID_ARGUMENT);
  await rejectsWith(setLogger(/** @type {any} */ ({ info() {} })), Status.INVALID_ARGUMENT);
  await rejectsWith(setLogger(() => {}, { level: 'verbose' }), Status.INVALID_ARGUMENT);
  await rejectsWith(setLogger(() => {}, { level: 7 }), Status.INVALID_ARGUMENT);
});
