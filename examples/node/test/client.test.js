// Behaviour of the wrapper against the bundled emulator: text, errors, cancel, event loop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, ChatStream, Status, UstbError, version } from '../index.js';
import { startEmulator } from './emulator.js';
import { rejectsWith } from './helpers.js';

const INTRO = '请介绍你自己。';
const INTRO_REASONING = '好的，用户问：请介绍你自己。。';
const INTRO_CONTENT = '你好！我是北科大 AI 助手。';
const LOGIN = { vjuid_login: 'test-login', idle_timeout_ms: 20000 };

/** @type {{url: string, stop: () => void}} */ let emu;
/** @type {{url: string, stop: () => void}} */ let slowEmu;
/** @type {Client} */ let client;

before(async () => {
  [emu, slowEmu] = await Promise.all([startEmulator(), startEmulator(['--delay-ms', '60'])]);
  client = new Client({ base_url: emu.url, ...LOGIN });
});

after(() => {
  client?.close();
  emu?.stop();
  slowEmu?.stop();
});

const ask = (content, extra = {}) => ({ model: 'deepseek-r1', messages: [{ role: 'user', content }], ...extra });

/** Reads a whole stream; returns the text and the chunks. */
async function collect(stream) {
  const chunks = [];
  let reasoning = '';
  let content = '';
  for await (const chunk of stream) {
    chunks.push(chunk);
    const delta = chunk.choices[0]?.delta ?? {};
    reasoning += delta.reasoning_content ?? '';
    content += delta.content ?? '';
  }
  return { chunks, reasoning, content };
}

test('version is the C library version', () => {
  assert.match(version(), /^\d+\.\d+\.\d+/);
});

test('streams the reasoning and then the content of the reply', async () => {
  const stream = await client.chat.completions.create(ask(INTRO, { stream: true }));
  assert.ok(stream instanceof ChatStream);
  const { chunks, reasoning, content } = await collect(stream);
  assert.equal(reasoning, INTRO_REASONING);
  assert.equal(content, INTRO_CONTENT);
  assert.equal(chunks[0].object, 'chat.completion.chunk');
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  assert.ok(chunks.every((c) => c.id === chunks[0].id), 'all chunks share one id');
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  // Reading past the end stays at the end.
  assert.deepEqual(await stream.next(), { done: true, value: undefined });
});

test('another prompt is echoed back', async () => {
  const { content } = await collect(await client.chat.completions.create(ask('北科大在哪里？', { stream: true })));
  assert.equal(content, `${INTRO_CONTENT}你说：「北科大在哪里？」`);
});

test('a non-streamed call returns a chat.completion', async () => {
  const completion = await client.chat.completions.create(ask(INTRO, { stream: false }));
  assert.equal(completion.object, 'chat.completion');
  assert.equal(completion.choices[0].message.role, 'assistant');
  assert.equal(completion.choices[0].message.content, INTRO_CONTENT);
  assert.equal(completion.choices[0].message.reasoning_content, INTRO_REASONING);
  assert.equal(completion.choices[0].finish_reason, 'stop');
});

test('moderation is a normal reply with finish_reason content_filter', async () => {
  const completion = await client.chat.completions.create(ask('@emu:moderation 你好'));
  assert.equal(completion.choices[0].finish_reason, 'content_filter');
});

test('no login cookie: AUTH_ERROR with api code 10042, streamed and not', async () => {
  const anon = new Client({ base_url: emu.url });
  try {
    const stream = await anon.chat.completions.create(ask(INTRO, { stream: true }));
    const e = await rejectsWith(collect(stream), Status.AUTH_ERROR);
    assert.equal(e.statusName, 'USTB_AUTH_ERROR');
    assert.equal(e.apiCode, 10042);
    assert.equal(e.type, 'auth_error');
    assert.equal(e.detail.e, 10042);
    assert.equal(e.detail.m, '请登录');
    assert.equal(e.httpStatus, 200);
    assert.match(e.message, /10042/);

    const e2 = await rejectsWith(anon.chat.completions.create(ask(INTRO)), Status.AUTH_ERROR);
    assert.equal(e2.apiCode, 10042);
  } finally {
    anon.close();
  }
});

test('a reply cut off before finish_reason is TRUNCATED, after the text so far', async () => {
  const stream = await client.chat.completions.create(ask('@emu:truncate 你好', { stream: true }));
  let content = '';
  const e = await rejectsWith((async () => {
    for await (const chunk of stream) content += chunk.choices[0]?.delta?.content ?? '';
  })(), Status.TRUNCATED);
  assert.equal(e.type, 'truncated');
  assert.ok(content.length > 0 && INTRO_CONTENT.startsWith(content.slice(0, 4)), `partial content: ${content}`);
  await rejectsWith(client.chat.completions.create(ask('@emu:truncate 你好')), Status.TRUNCATED);
});

test('bad input is refused before any network traffic', async () => {
  assert.throws(() => new Client({ no_such_option: 1 }), (e) => e instanceof UstbError && e.status === Status.INVALID_ARGUMENT);
  const last = { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }], stream: true };
  await rejectsWith(client.chat.completions.create(last), Status.INVALID_REQUEST);
  await rejectsWith(client.chat.completions.create({ ...last, stream: false }), Status.INVALID_REQUEST);
});

test('camelCase options map to the C option names', async () => {
  const c = new Client({ baseURL: emu.url, vjuidLogin: 'x', idleTimeoutMs: 5000, maxRetries: 0 });
  try {
    assert.equal(c.cookies().vjuid_login, 'x');
    const { content } = await collect(await c.chat.completions.create(ask(INTRO, { stream: true })));
    assert.equal(content, INTRO_CONTENT);
  } finally {
    c.close();
  }
});

test('a cookieless client keeps the easy_session that user_info issues', async () => {
  const anon = new Client({ base_url: emu.url });
  try {
    assert.equal(anon.cookies().easy_session, null);
    await anon.userInfo();
    assert.match(anon.cookies().easy_session, /^[A-Za-z0-9]{32}$/);
  } finally {
    anon.close();
  }
});

test('AbortSignal cancels a stream stuck on a silent server, promptly', async () => {
  const abort = new AbortController();
  const stream = await client.chat.completions.create(ask('@emu:silent 你好', { stream: true }), { signal: abort.signal });
  const first = await stream.next(); // the one event the silent server sends
  assert.equal(first.done, false);
  const started = performance.now();
  setTimeout(() => abort.abort(new Error('user gave up')), 200);
  const e = await rejectsWith(collect(stream), Status.CANCELLED);
  const elapsed = performance.now() - started;
  assert.equal(e.type, 'cancelled');
  assert.equal(e.cause?.message, 'user gave up');
  assert.ok(elapsed >= 150 && elapsed < 5000, `cancel took ${elapsed.toFixed(0)} ms (silence lasts 60 s)`);
  abort.abort(); // after the stream is freed: must be a harmless no-op
});

test('an already-aborted signal cancels before anything is read', async () => {
  const stream = await client.chat.completions.create(ask(INTRO, { stream: true }), { signal: AbortSignal.abort() });
  await rejectsWith(stream.next(), Status.CANCELLED);
  await rejectsWith(client.chat.completions.create(ask(INTRO), { signal: AbortSignal.abort() }), Status.CANCELLED);
});

test('AbortSignal cancels a non-streamed call on a silent server, promptly', async () => {
  const abort = new AbortController();
  const started = performance.now();
  setTimeout(() => abort.abort(new Error('too slow')), 200);
  const e = await rejectsWith(client.chat.completions.create(ask('@emu:silent 你好'), { signal: abort.signal }), Status.CANCELLED);
  const elapsed = performance.now() - started;
  assert.equal(e.type, 'cancelled');
  assert.equal(e.cause?.message, 'too slow');
  assert.ok(elapsed < 5000, `cancel took ${elapsed.toFixed(0)} ms (silence lasts 60 s)`);
});

test('collect() after some chunks returns the rest as one chat.completion', async () => {
  const stream = await client.chat.completions.create(ask(INTRO, { stream: true }));
  const first = (await stream.next()).value.choices[0].delta.reasoning_content;
  const rest = await stream.collect();
  assert.equal(rest.object, 'chat.completion');
  assert.equal(first + rest.choices[0].message.reasoning_content, INTRO_REASONING);
  assert.equal(rest.choices[0].message.content, INTRO_CONTENT);
  assert.deepEqual(await stream.next(), { done: true, value: undefined });
  await rejectsWith(stream.collect(), Status.INVALID_ARGUMENT);
});

test('close() during a blocked read ends the iteration quietly', async () => {
  const stream = await client.chat.completions.create(ask('@emu:silent 你好', { stream: true }));
  await stream.next();
  const started = performance.now();
  setTimeout(() => stream.close(), 100);
  assert.deepEqual(await stream.next(), { done: true, value: undefined });
  assert.ok(performance.now() - started < 5000);
  stream.close(); // idempotent
});

test('break out of for-await frees the stream; the client stays usable', async () => {
  const stream = await client.chat.completions.create(ask(INTRO, { stream: true }));
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    break;
  }
  assert.deepEqual(await stream.next(), { done: true, value: undefined });
  const { content } = await collect(await client.chat.completions.create(ask(INTRO, { stream: true })));
  assert.equal(content, INTRO_CONTENT);
});

test('the event loop keeps turning while a slow stream is read', async () => {
  const slow = new Client({ base_url: slowEmu.url, ...LOGIN });
  let ticks = 0;
  let last = performance.now();
  let worstGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worstGap = Math.max(worstGap, now - last);
    last = now;
    ticks++;
  }, 10);
  try {
    const started = performance.now();
    const { content, chunks } = await collect(await slow.chat.completions.create(ask(INTRO, { stream: true })));
    const elapsed = performance.now() - started;
    assert.equal(content, INTRO_CONTENT);
    // ~10 events 60 ms apart: a blocking read would starve the timer for the whole stream.
    assert.ok(chunks.length >= 8 && elapsed >= 400, `stream took only ${elapsed.toFixed(0)} ms`);
    assert.ok(ticks >= elapsed / 10 / 3, `${ticks} timer ticks in ${elapsed.toFixed(0)} ms`);
    assert.ok(worstGap < 200, `the timer waited ${worstGap.toFixed(0)} ms at worst`);
  } finally {
    clearInterval(timer);
    slow.close();
  }
});

test('closing the client waits for a running userInfo(); streams and completions outlive it', async () => {
  const c = new Client({ base_url: slowEmu.url, ...LOGIN });
  const stream = await c.chat.completions.create(ask(INTRO, { stream: true }));
  const completion = c.chat.completions.create(ask(INTRO));
  const info = c.userInfo(); // on a worker thread now: the free must wait for it
  c.close();
  assert.throws(() => c.cookies(), (e) => e instanceof UstbError && /closed/.test(e.message));
  await rejectsWith(c.chat.completions.create(ask(INTRO)), Status.INVALID_ARGUMENT);
  assert.equal(typeof (await info), 'object');
  assert.equal((await completion).choices[0].message.content, INTRO_CONTENT);
  assert.equal((await collect(stream)).content, INTRO_CONTENT);
});
