// Login (QR code and SMS) against the emulator's SSO: the happy paths, expiry and renewal, an
// invalid QR session, SMS refusals, bad input without traffic, AbortSignal and close() during a
// wait, calls out of order, use after close, secrets kept out of errors, and the example
// program login.js. The tests share one emulator and run one at a time (node:test's default
// within a file), so each sets the QR script it needs and puts the default back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Login, PUZZLE_AUTO, QrState, Status, UstbError } from '../index.js';
import { startEmulator } from './emulator.js';
import { rejectsWith, closedPort } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const DEFAULT_SCRIPT = 'scan@800,confirm@1600';
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const INTRO = '请介绍你自己。';
const INTRO_CONTENT = '你好！我是北科大 AI 助手。';

/** @type {{url: string, stop: () => void}} */ let emu;
/** @type {{url: string, stop: () => void}} */ let strict; // accepts one login token only
/** @type {string} */ let closedUrl;

before(async () => {
  [emu, strict] = await Promise.all([
    startEmulator(['--sso-long-poll-ms', '300']), startEmulator(['--login-token', 'only-this-one']),
  ]);
  closedUrl = `http://127.0.0.1:${await closedPort()}`;
});

after(() => {
  emu?.stop();
  strict?.stop();
});

/** Login options with every host on `url` (the emulator by default). */
const hosts = (url = emu.url) => ({ base_url: url, sso_base_url: url, sis_base_url: url, max_retries: 0 });

/** Sets the emulator's QR script for the QR codes made from now on. */
async function qrScript(script) {
  const res = await fetch(`${emu.url}/emulator/sso/qr-script`, { method: 'POST', body: script });
  assert.equal(res.status, 204, `qr-script ${script}: ${await res.text()}`);
}

/** Runs `fn` with the QR script `script`, then puts the default back. */
async function withScript(script, fn) {
  await qrScript(script);
  try {
    return await fn();
  } finally {
    await qrScript(DEFAULT_SCRIPT);
  }
}

let phones = 0;
/** A phone number not used before by this emulator (one SMS a minute per phone). */
const newPhone = () => `139${String(process.pid % 10_000).padStart(4, '0')}${String(phones++).padStart(4, '0')}`;
/** The emulator's SMS code: the phone's last 6 digits. */
const codeOf = (phone) => phone.slice(-6);

/** Waits until CONFIRMED or EXPIRED (at most 10 waits), returning the states seen in order. */
async function waitStates(login, timeoutMs = 5000) {
  const seen = [];
  for (let i = 0; i < 10; i++) {
    const state = await login.wait(timeoutMs);
    seen.push(state);
    if (state === QrState.CONFIRMED || state === QrState.EXPIRED) return seen;
  }
  assert.fail(`no final state after 10 waits: ${seen}`);
}

/** The content of one streamed answer. */
async function chat(client) {
  const stream = await client.chat.completions.create({ messages: [{ role: 'user', content: INTRO }], stream: true });
  let content = '';
  for await (const chunk of stream) content += chunk.choices[0]?.delta?.content ?? '';
  return content;
}

/** Everything an error shows: message, detail, cause. */
const errorText = (e) => `${e.message} ${JSON.stringify(e.detail)} ${e.statusName} ${String(e.cause ?? '')}`;

test('QR login: PNG, text and page, scanned then confirmed, a working client and install()', async () => {
  const login = new Login({ baseURL: emu.url, ssoBaseURL: emu.url, sisBaseUrl: emu.url, maxRetries: 0 });
  try {
    await login.qrStart();
    const png = login.qrPng();
    assert.ok(png.subarray(0, 8).equals(PNG), 'qrPng() is a PNG');
    assert.ok(png.length > 100, `PNG of ${png.length} bytes`);
    const text = login.qrText();
    assert.ok(text.split('\n').length > 10, 'qrText() has a line per two rows of modules');
    assert.match(text, /[▀▄█]/);
    assert.ok(login.qrPageUrl().startsWith(`${emu.url}/connect/qrpage?`), login.qrPageUrl());

    // The wait runs on a worker thread: timers keep firing meanwhile.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const seen = await waitStates(login).finally(() => clearInterval(timer));
    assert.ok(ticks >= 10, `the event loop ran ${ticks} timer ticks during the wait`);
    assert.deepEqual(seen.filter((s) => s !== QrState.WAITING), [QrState.SCANNED, QrState.CONFIRMED]);
    assert.equal(await login.wait(60_000), QrState.CONFIRMED, 'CONFIRMED again at once');

    const cookie = login.cookie();
    assert.match(cookie, /^\S+$/);
    const client = login.client();
    try {
      assert.equal(await chat(client), INTRO_CONTENT);
      assert.equal(client.cookies().vjuid_login, cookie);
    } finally {
      client.close();
    }

    const plain = new Client({ base_url: emu.url, max_retries: 0 });
    try {
      const e = await rejectsWith(chat(plain), Status.AUTH_ERROR);
      assert.equal(e.apiCode, 10042);
      login.install(plain);
      assert.equal(await chat(plain), INTRO_CONTENT);
    } finally {
      plain.close();
    }
  } finally {
    login.close();
  }
});

test('an expired QR code is renewed with qrStart() and the new one is confirmed', async () => {
  await withScript('expire@200;scan@100,confirm@300', async () => {
    const login = new Login(hosts());
    try {
      await login.qrStart();
      const first = login.qrPng();
      assert.equal((await waitStates(login)).at(-1), QrState.EXPIRED);
      assert.equal(await login.wait(60_000), QrState.EXPIRED, 'EXPIRED again at once');

      await login.qrStart();
      assert.ok(!login.qrPng().equals(first), 'a new QR code');
      const seen = await waitStates(login);
      assert.deepEqual(seen.filter((s) => s !== QrState.WAITING), [QrState.SCANNED, QrState.CONFIRMED]);
      const client = login.client();
      try {
        assert.equal(await chat(client), INTRO_CONTENT);
      } finally {
        client.close();
      }
    } finally {
      login.close();
    }
  });
});

test('an invalid QR session rejects the wait with AUTH_ERROR', async () => {
  await withScript('invalid@100', async () => {
    const login = new Login(hosts());
    try {
      await login.qrStart();
      const e = await rejectsWith(waitStates(login), Status.AUTH_ERROR);
      assert.ok(e.message.length > 0);
      assert.throws(() => login.cookie(), (err) => err instanceof UstbError && err.status === Status.INVALID_ARGUMENT);
    } finally {
      login.close();
    }
  });
});

test('SMS login with the library solving the puzzle gives a working client', async () => {
  const login = new Login(hosts());
  try {
    const phone = newPhone();
    await login.smsSend(phone); // PUZZLE_AUTO
    await login.smsSubmit(codeOf(phone));
    const client = login.client();
    try {
      assert.equal(await chat(client), INTRO_CONTENT);
      assert.equal(client.cookies().vjuid_login, login.cookie());
    } finally {
      client.close();
    }
  } finally {
    login.close();
  }
});

test('SMS login with the puzzle images and an explicit answer', async () => {
  const login = new Login(hosts());
  try {
    await login.smsPuzzle();
    const { background, piece } = login.puzzleImages();
    assert.ok(background.subarray(0, 8).equals(PNG), 'the background is a PNG');
    assert.ok(piece.subarray(0, 8).equals(PNG), 'the piece is a PNG');
    assert.ok(!background.equals(piece));
    const x = login.puzzleSolve();
    assert.ok(Number.isInteger(x) && x >= 0, `x = ${x}`);
    const phone = newPhone();
    await login.smsSend(phone, x);
    await login.smsSubmit(codeOf(phone));
    assert.ok(login.cookie().length > 0);
  } finally {
    login.close();
  }
});

test('SMS refusals: a wrong code, a second code too soon (201), a wrong puzzle answer (5054)', async () => {
  const login = new Login(hosts());
  const phone = newPhone();
  try {
    await login.smsSend(phone, PUZZLE_AUTO);
    const wrong = codeOf(phone) === '000000' ? '111111' : '000000';
    await rejectsWith(login.smsSubmit(wrong), Status.API_ERROR);
    await login.smsSubmit(codeOf(phone)); // another try is allowed
    assert.ok(login.cookie().length > 0);
  } finally {
    login.close();
  }
  const other = new Login(hosts());
  try {
    const e201 = await rejectsWith(other.smsSend(phone), Status.API_ERROR);
    assert.equal(e201.apiCode, 201);
    await other.smsPuzzle();
    const x = other.puzzleSolve();
    const e = await rejectsWith(other.smsSend(newPhone(), x > 100 ? x - 60 : x + 60), Status.API_ERROR);
    assert.equal(e.apiCode, 5054);
  } finally {
    other.close();
  }
});

test('a bad phone number or code is refused before any traffic', async () => {
  let connections = 0;
  const server = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const login = new Login(hosts(`http://127.0.0.1:${/** @type {any} */ (server.address()).port}`));
  try {
    for (const phone of ['1380013800', '138001380001', '23800138000', '1380013800a', '', '+8613800138000']) {
      await rejectsWith(login.smsSend(phone), Status.INVALID_ARGUMENT);
    }
    await rejectsWith(login.smsSend(/** @type {any} */ (13800138000)), Status.INVALID_ARGUMENT);
    await rejectsWith(login.smsSend('13800138000', 1.5), Status.INVALID_ARGUMENT);
    await rejectsWith(login.smsSend('13800138000', -2), Status.INVALID_ARGUMENT);
    await rejectsWith(login.smsSubmit(/** @type {any} */ (123456)), Status.INVALID_ARGUMENT);
    await rejectsWith(login.wait(-1), Status.INVALID_ARGUMENT);
    await rejectsWith(login.wait(1.5), Status.INVALID_ARGUMENT);
    assert.equal(connections, 0, 'nothing was sent');
  } finally {
    login.close();
    server.close();
  }
  assert.throws(() => new Login({ no_such_option: 1 }), (e) => e instanceof UstbError && e.status === Status.INVALID_ARGUMENT);
  assert.throws(() => new Login({ sso_base_url: 'not a url' }), (e) => e instanceof UstbError && e.status === Status.INVALID_ARGUMENT);
});

test('AbortSignal and close() cancel a long wait promptly', async () => {
  await withScript('scan@60000', async () => {
    const login = new Login(hosts());
    try {
      await login.qrStart();
      const abort = new AbortController();
      const waiting = login.wait(600_000, { signal: abort.signal });
      await new Promise((r) => setTimeout(r, 300));
      const reason = new Error('the user closed the dialog');
      const t0 = performance.now();
      abort.abort(reason);
      const e = await rejectsWith(waiting, Status.CANCELLED);
      const ms = performance.now() - t0;
      assert.ok(ms < 500, `the wait ended ${ms.toFixed(0)} ms after the abort`);
      assert.equal(e.cause, reason);

      // Aborted before the call: rejected at once, and the login is still usable.
      await rejectsWith(login.wait(600_000, { signal: AbortSignal.abort() }), Status.CANCELLED);
      assert.equal(await login.wait(100), QrState.WAITING);

      const second = login.wait(600_000);
      await new Promise((r) => setTimeout(r, 300));
      const t1 = performance.now();
      login.close();
      await rejectsWith(second, Status.CANCELLED);
      const closeMs = performance.now() - t1;
      assert.ok(closeMs < 500, `close() ended the wait after ${closeMs.toFixed(0)} ms`);
    } finally {
      login.close();
    }
  });
});

test('one call at a time: a call during a wait is refused as busy', async () => {
  await withScript('scan@60000', async () => {
    const login = new Login(hosts());
    try {
      await login.qrStart();
      const abort = new AbortController();
      const waiting = login.wait(600_000, { signal: abort.signal });
      assert.throws(() => login.qrPng(), /busy/);
      await rejectsWith(login.qrStart(), Status.INVALID_ARGUMENT);
      abort.abort();
      await rejectsWith(waiting, Status.CANCELLED);
      assert.ok(login.qrPng().length > 0, 'usable again after the wait');
    } finally {
      login.close();
    }
  });
});

test('calls before the login started or succeeded are INVALID_ARGUMENT (no traffic)', async () => {
  const login = new Login(hosts(closedUrl));
  const client = new Client({ base_url: closedUrl });
  try {
    for (const call of [
      () => login.qrPng(), () => login.qrText(), () => login.qrPageUrl(), () => login.puzzleImages(),
      () => login.puzzleSolve(), () => login.cookie(), () => login.client(), () => login.install(client),
    ]) {
      assert.throws(call, (e) => e instanceof UstbError && e.status === Status.INVALID_ARGUMENT, String(call));
    }
    await rejectsWith(login.wait(1000), Status.INVALID_ARGUMENT);
    await rejectsWith(login.smsSubmit('123456'), Status.INVALID_ARGUMENT);
    await rejectsWith(login.smsSend('13800138000', 10), Status.INVALID_ARGUMENT); // no puzzle for an explicit x
    assert.throws(() => login.install(/** @type {any} */ ({})), /takes a Client/);
  } finally {
    login.close();
    client.close();
  }
});

test('use after close() is INVALID_ARGUMENT ("the login is closed"); close() is idempotent', async () => {
  const login = new Login(hosts());
  await login.qrStart();
  login.close();
  login.close();
  for (const call of [() => login.qrPng(), () => login.qrText(), () => login.cookie(), () => login.client()]) {
    assert.throws(call, (e) => e instanceof UstbError && e.status === Status.INVALID_ARGUMENT && /closed/.test(e.message));
  }
  for (const call of [login.qrStart(), login.wait(100), login.smsPuzzle(), login.smsSend(newPhone()), login.smsSubmit('1')]) {
    const e = await rejectsWith(call, Status.INVALID_ARGUMENT);
    assert.match(e.message, /the login is closed/);
  }
});

test('errors never contain the phone number or the cookie', async () => {
  const errors = [];
  const keep = (e) => {
    assert.ok(e instanceof UstbError, String(e));
    errors.push(e);
  };
  const login = new Login(hosts());
  const phone = newPhone();
  let cookie;
  try {
    await login.smsSend(phone);
    await login.smsSubmit('999999' === codeOf(phone) ? '888888' : '999999').then(() => assert.fail('wrong code'), keep);
    await login.smsSubmit(codeOf(phone));
    cookie = login.cookie();
  } finally {
    login.close();
  }
  const again = new Login(hosts());
  await again.smsSend(phone).then(() => assert.fail('a second SMS within a minute'), keep);
  again.close();
  const unreachable = new Login(hosts(closedUrl));
  await unreachable.smsSend(phone).then(() => assert.fail('no server'), keep);
  await unreachable.smsSend(`${phone}0`).then(() => assert.fail('bad phone'), keep);
  unreachable.close();
  // The cookie where it is not accepted, and where nothing listens.
  for (const url of [strict.url, closedUrl]) {
    const client = new Client({ base_url: url, vjuid_login: cookie, max_retries: 0 });
    await chat(client).then(() => assert.fail(`chat against ${url}`), keep);
    await client.sessions().then(() => assert.fail(`sessions against ${url}`), keep);
    client.close();
  }
  assert.deepEqual(errors.map((e) => e.statusName), [
    'USTB_API_ERROR', 'USTB_API_ERROR', 'USTB_CONNECT_ERROR', 'USTB_INVALID_ARGUMENT',
    'USTB_AUTH_ERROR', 'USTB_AUTH_ERROR', 'USTB_CONNECT_ERROR', 'USTB_CONNECT_ERROR',
  ]);
  for (const e of errors) {
    const text = errorText(e);
    assert.ok(!text.includes(phone), `the phone number in: ${text}`);
    assert.ok(!text.includes(phone.slice(-6)), `the SMS code in: ${text}`);
    assert.ok(!text.includes(cookie), `the cookie in: ${text}`);
  }
});

test('the example login.js logs in by QR code (renewing an expired one), saves the cookie 0600 and streams an answer', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ustb-node-login-'));
  const file = join(dir, 'cookie');
  try {
    const { code, stdout, stderr } = await withScript('expire@300;scan@300,confirm@600', () => run([
      join(here, '..', 'login.js'), '--base-url', emu.url, '--sso-base-url', emu.url, '--sis-base-url', emu.url,
      '--cookie-file', file, INTRO,
    ]));
    assert.equal(code, 0, `exit ${code}\n${stdout}\n${stderr}`);
    const lines = stdout.split('\n');
    const progress = lines.filter((l) => /^(waiting|scanned|confirmed|expired|renewing the QR code)$/.test(l));
    assert.deepEqual(progress, ['waiting', 'expired', 'renewing the QR code', 'waiting', 'scanned', 'confirmed'], stdout);
    assert.equal(lines.filter((l) => l.startsWith('请用微信扫描二维码登录')).length, 2, 'two QR codes shown');
    assert.ok(lines.filter((l) => /[▀▄█]/.test(l)).length > 20, 'the QR codes are drawn as text');
    assert.ok(stdout.includes(`cookie saved to ${file} (mode 0600)`), stdout);
    assert.ok(stdout.includes(`【回答】\n${INTRO_CONTENT}\n`), stdout);
    const saved = (await readFile(file, 'utf8')).trim();
    assert.match(saved, /^\S+$/);
    assert.ok(!stdout.includes(saved) && !stderr.includes(saved), 'the cookie is not printed');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const client = new Client({ base_url: emu.url, vjuid_login: saved, max_retries: 0 });
    try {
      assert.equal(await chat(client), INTRO_CONTENT, 'the saved cookie logs in');
    } finally {
      client.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Runs `node ...args` (the environment passed on: USTB_LIB_DIR), at most 30 s. */
function run(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
