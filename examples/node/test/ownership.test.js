// Ownership ledger: records every pointer the library hands out (out-parameters of the bound
// functions) and checks each free against it, so every string, error, stream and client is
// freed exactly once, with the right function (also streams dropped without close(), through
// the FinalizationRegistry), and that a canceller is only used while it is live.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Client, Login, QrState, Status, UstbError, loadLibrary } from '../index.js';
import { startEmulator } from './emulator.js';

v8.setFlagsFromString('--expose-gc');
const gc = globalThis.gc ?? vm.runInNewContext('gc');

// Which out-parameter of which function hands out what, and which function frees it.
const OUTS = {
  clientNew: { 1: 'client', 2: 'error' },
  clientCookies: { 1: 'string', 2: 'error' },
  clientUserInfo: { 1: 'string', 2: 'error' },
  streamOpen: { 2: 'stream', 3: 'error' },
  streamCanceller: { 1: 'canceller', 2: 'error' },
  streamNext: { 1: 'string', 3: 'error' },
  streamCollect: { 1: 'string', 2: 'error' },
  cancellerNew: { 0: 'canceller', 1: 'error' },
  webInfo: { 2: 'string', 3: 'error' },
  apps: { 2: 'string', 3: 'error' },
  loginState: { 2: 'string', 3: 'error' },
  appDetail: { 3: 'string', 4: 'error' },
  pageSettings: { 3: 'string', 4: 'error' },
  newSessionId: { 3: 'string', 4: 'error' },
  models: { 3: 'string', 4: 'error' },
  sessionDelete: { 3: 'string', 4: 'error' },
  chatHistory: { 3: 'string', 4: 'error' },
  sessions: { 4: 'string', 5: 'error' },
  setLogCallback: { 3: 'error' },
  // The QR code and puzzle images are borrowed (copied, never freed): not in the ledger.
  loginNew: { 1: 'login', 2: 'error' },
  loginQrStart: { 2: 'error' },
  loginQrPng: { 3: 'error' },
  loginQrText: { 1: 'string', 2: 'error' },
  loginQrPageUrl: { 1: 'string', 2: 'error' },
  loginQrWait: { 4: 'error' },
  loginSmsPuzzle: { 2: 'error' },
  loginPuzzleImages: { 5: 'error' },
  loginPuzzleSolve: { 2: 'error' },
  loginSmsSend: { 4: 'error' },
  loginSmsSubmit: { 3: 'error' },
  loginCookie: { 1: 'string', 2: 'error' },
  loginClient: { 1: 'client', 2: 'error' },
  loginInstall: { 2: 'error' },
};
const FREES = {
  stringFree: 'string', errorFree: 'error', streamFree: 'stream', cancellerFree: 'canceller', clientFree: 'client',
  loginFree: 'login',
};

/** @type {Record<string, Set<bigint>>} what the library handed out and was not freed yet */
const live = {
  string: new Set(), error: new Set(), stream: new Set(), canceller: new Set(), client: new Set(), login: new Set(),
};
/** @type {Record<string, number>} frees so far, by kind */
const freed = { string: 0, error: 0, stream: 0, canceller: 0, client: 0, login: 0 };

const api = loadLibrary();
const record = (name, args) => {
  for (const [i, kind] of Object.entries(OUTS[name])) {
    const ptr = args[i][0];
    if (ptr !== null) live[kind].add(ptr);
  }
};
for (const name of Object.keys(OUTS)) {
  const real = api[name];
  const sync = (...args) => {
    const res = real(...args);
    record(name, args);
    return res;
  };
  sync.async = (...args) => {
    const cb = args.pop();
    real.async(...args, (err, res) => {
      if (!err) record(name, args);
      cb(err, res);
    });
  };
  api[name] = sync;
}
for (const [name, kind] of Object.entries(FREES)) {
  const real = api[name];
  api[name] = (ptr) => {
    // A pointer the library handed out and that was not freed yet (catches double frees,
    // frees of NULL and frees with the wrong function).
    assert.ok(live[kind].delete(ptr), `${name}(${ptr}): not a live ${kind}`);
    freed[kind]++;
    return real(ptr);
  };
}
{
  const real = api.cancellerCancel;
  api.cancellerCancel = (ptr) => {
    assert.ok(live.canceller.has(ptr), `cancellerCancel(${ptr}): not a live canceller`);
    return real(ptr);
  };
}
const counts = () => ({ ...freed });
const delta = (from) => Object.fromEntries(Object.entries(freed).map(([k, v]) => [k, v - from[k]]));
/** Everything handed out since the start is freed, but for the shared client. */
const assertNothingLive = () => {
  for (const kind of ['string', 'error', 'stream', 'canceller', 'login']) assert.equal(live[kind].size, 0, `live ${kind}s left`);
};

/** @type {{url: string, stop: () => void}} */ let emu;
/** @type {Client} */ let client;
before(async () => {
  emu = await startEmulator(['--sso-long-poll-ms', '300']);
  client = new Client({ base_url: emu.url, vjuid_login: 'x' });
});
after(() => {
  client?.close();
  emu?.stop();
});
const ask = (content, stream) => ({ messages: [{ role: 'user', content }], stream });

test('a stream read to the end frees each chunk and the stream once', async () => {
  const start = counts();
  let chunks = 0;
  for await (const _ of await client.chat.completions.create(ask('请介绍你自己。', true))) chunks++;
  assert.ok(chunks > 3);
  assert.deepEqual(delta(start), { string: chunks, error: 0, stream: 1, canceller: 1, client: 0, login: 0 });
  assertNothingLive();
});

test('a failed stream frees its error and the stream once', async () => {
  const start = counts();
  const stream = await client.chat.completions.create(ask('@emu:truncate x', true));
  let chunks = 0;
  await assert.rejects((async () => {
    for await (const _ of stream) chunks++;
  })(), (e) => e instanceof UstbError && e.status === Status.TRUNCATED);
  await stream.next(); // after the end: nothing more to free
  stream.close();
  assert.deepEqual(delta(start), { string: chunks, error: 1, stream: 1, canceller: 1, client: 0, login: 0 });
  assertNothingLive();
});

test('close() and AbortSignal during a blocked read free the stream once, after the read', async () => {
  const start = counts();
  const quiet = await client.chat.completions.create(ask('@emu:silent x', true));
  await quiet.next();
  setTimeout(() => quiet.close(), 50);
  assert.equal((await quiet.next()).done, true);

  const abort = new AbortController();
  const aborted = await client.chat.completions.create(ask('@emu:silent x', true), { signal: abort.signal });
  await aborted.next();
  setTimeout(() => abort.abort(), 50);
  await assert.rejects(aborted.next(), (e) => e instanceof UstbError && e.status === Status.CANCELLED);
  assert.deepEqual(delta(start), { string: 2, error: 2, stream: 2, canceller: 2, client: 0, login: 0 });
  assertNothingLive();
});

test('a completion frees its string; a refused request its error', async () => {
  const start = counts();
  await client.chat.completions.create(ask('你好', false));
  await assert.rejects(client.chat.completions.create({ messages: [] }), UstbError);
  assert.throws(() => new Client({ bogus: true }), UstbError);
  assert.deepEqual(delta(start), { string: 1, error: 2, stream: 1, canceller: 1, client: 0, login: 0 });
  assertNothingLive();
});

/** Opens streams and forgets them: some never read, some half-read. */
async function openAndDrop(n) {
  for (let i = 0; i < n; i++) {
    const stream = await client.chat.completions.create(ask('你好', true));
    if (i % 2) await stream.next();
  }
}

test('streams dropped without close() are freed by the garbage collector', async () => {
  const start = counts();
  await openAndDrop(20);
  for (let i = 0; i < 20 && live.stream.size > 0; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(delta(start).stream, 20);
  assert.equal(delta(start).canceller, 20);
  assertNothingLive();
});

test('platform calls free their string or error, and their canceller, once', async () => {
  const start = counts();
  const anon = new Client({ base_url: emu.url });
  try {
    await client.webInfo();
    await client.models.list({}, { signal: new AbortController().signal });
    await assert.rejects(anon.sessions({}, { signal: AbortSignal.abort() }), (e) => e instanceof UstbError && e.status === Status.CANCELLED);
    await assert.rejects(anon.chatHistory('abc'), (e) => e instanceof UstbError && e.status === Status.AUTH_ERROR);
    const abort = new AbortController();
    await client.loginState({ signal: abort.signal });
    abort.abort(); // after the call: the canceller is freed and the listener gone
    assert.deepEqual(delta(start), { string: 3, error: 2, stream: 0, canceller: 3, client: 0, login: 0 });
    assertNothingLive();
  } finally {
    anon.close();
  }
});

test('client.close() frees the client once, however often it is called', () => {
  const start = counts();
  const c = new Client({ base_url: emu.url });
  c.close();
  c.close();
  assert.equal(delta(start).client, 1);
});

const hosts = () => ({ base_url: emu.url, sso_base_url: emu.url, sis_base_url: emu.url, max_retries: 0 });

test('a QR login frees its strings, errors, cancellers and itself once; its client is the caller\'s', async () => {
  const start = counts();
  const login = new Login(hosts());
  assert.throws(() => login.cookie(), UstbError); // error 1
  await login.qrStart(); // canceller 1
  await assert.rejects(login.wait(100, { signal: AbortSignal.abort() }), UstbError); // error 2, a canceller
  assert.ok(login.qrPng().length > 0);
  assert.ok(login.qrText().length > 0); // string 1
  assert.ok(login.qrPageUrl().length > 0); // string 2
  let waits = 0;
  while ((await login.wait(5000)) !== QrState.CONFIRMED) assert.ok(++waits < 10, 'confirmed within 10 waits');
  waits++;
  assert.ok(login.cookie().length > 0); // string 3
  const made = login.client();
  login.install(client);
  login.close();
  login.close();
  assert.deepEqual(delta(start), { string: 3, error: 2, stream: 0, canceller: waits + 2, client: 0, login: 1 });
  made.close();
  assert.equal(delta(start).client, 1, 'the client from client() is freed by its close()');
  assertNothingLive();
});

test('an SMS login, a close() during a wait and a dropped login free everything once', async () => {
  const start = counts();
  const sms = new Login(hosts());
  await sms.smsPuzzle();
  const { background } = sms.puzzleImages();
  assert.ok(background.length > 0);
  const phone = '1370000' + String(process.pid % 10_000).padStart(4, '0');
  await sms.smsSend(phone, sms.puzzleSolve());
  await assert.rejects(sms.smsSubmit(phone.slice(-6) === '000000' ? '111111' : '000000'), UstbError); // error 1
  await sms.smsSubmit(phone.slice(-6));
  sms.close();

  const waiting = new Login(hosts());
  await waiting.qrStart();
  const pending = waiting.wait(600_000);
  setTimeout(() => waiting.close(), 50);
  await assert.rejects(pending, (e) => e instanceof UstbError && e.status === Status.CANCELLED); // error 2

  (() => new Login(hosts()))(); // dropped: the garbage collector frees it
  for (let i = 0; i < 20 && live.login.size > 0; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  // Cancellers: puzzle, send, two submits, qrStart, wait.
  assert.deepEqual(delta(start), { string: 0, error: 2, stream: 0, canceller: 6, client: 0, login: 3 });
  assertNothingLive();
});
