// The platform calls (web info, applications, page settings, sessions, history, models, login
// state) against the emulator: their data, their errors, AbortSignal, and close() meanwhile.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Client, Status } from '../index.js';
import { startEmulator } from './emulator.js';
import { rejectsWith, closedPort } from './helpers.js';

/** @type {{url: string, stop: () => void}} */ let emu;
/** @type {{url: string, stop: () => void}} */ let open; // --no-login
/** @type {{url: string, stop: () => void}} */ let strict; // one valid login token
/** @type {{url: string, close: () => void}} */ let silent;
/** @type {Client} */ let client;

/** A server that accepts connections and never answers, so only a cancel ends a call. */
function silentServer() {
  const sockets = new Set();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const close = () => {
        for (const s of sockets) s.destroy();
        server.close();
      };
      resolve({ url: `http://127.0.0.1:${/** @type {any} */ (server.address()).port}`, close });
    });
  });
}

before(async () => {
  [emu, open, strict, silent] = await Promise.all([
    startEmulator(), startEmulator(['--no-login']), startEmulator(['--login-token', 'good-token']), silentServer(),
  ]);
  client = new Client({ base_url: emu.url, vjuid_login: 'test-login', idle_timeout_ms: 20000 });
});

after(() => {
  client?.close();
  emu?.stop();
  open?.stop();
  strict?.stop();
  silent?.close();
});

test('web info, applications, one application and its page settings', async () => {
  const info = await client.webInfo();
  assert.equal(info.name, '北科大AI助手');
  assert.equal(info.isCas, true);
  assert.equal(info.cookie_login_key, 'cookie_vjuid_login');

  const apps = await client.apps();
  assert.deepEqual(apps.map((a) => [a.id, a.name]), [[3, 'DeepSeek'], [5, '通义千问']]);
  assert.equal((await client.appDetail()).id, 3, 'no id: the client\'s compose_id');
  assert.equal((await client.appDetail(5)).name, '通义千问');

  const settings = await client.pageSettings(5);
  assert.deepEqual(settings.model_select.model_content.value.map((m) => m.value), ['qwen-max', 'qwen-plus']);
  assert.equal((await client.pageSettings()).compose_id, 3);
});

test('models.list() is an OpenAI model list, per application', async () => {
  assert.deepEqual(await client.models.list(), {
    object: 'list',
    data: [{ id: 'DeepSeek', object: 'model', created: 0, owned_by: 'ustb', label: 'DeepSeek', compose_id: 3 }],
  });
  const qwen = await client.models.list({ compose_id: 5 });
  assert.deepEqual(qwen.data.map((m) => [m.id, m.label, m.compose_id]), [
    ['qwen-max', '通义千问-Max', 5], ['qwen-plus', '通义千问-Plus', 5],
  ]);
  const five = new Client({ base_url: emu.url, compose_id: 5 });
  try {
    assert.equal((await five.models.list()).data.length, 2, 'the client\'s compose_id is the default');
  } finally {
    five.close();
  }
});

test('a chat makes a session, with its history; deleting it removes it', async () => {
  const prompt = `会话测试 ${Date.now()}`;
  await client.chat.completions.create({ messages: [{ role: 'user', content: prompt }] });
  const sessions = await client.sessions({ page: 1, page_size: 10 });
  const mine = sessions.find((s) => s.last_content.includes(prompt));
  assert.ok(mine, `no session for the chat in ${JSON.stringify(sessions)}`);
  assert.match(mine.sess_id, /^[0-9a-f]{32}$/);
  assert.equal(mine.compose_id, 3);

  const history = await client.chatHistory(mine.sess_id);
  assert.equal(history.length, 2, JSON.stringify(history));
  assert.equal(history[0].role, 'user');
  assert.ok(history[0].content.includes(prompt));
  assert.equal(history[1].role, 'assistant');
  assert.equal(history[1].sess_id, mine.sess_id);

  assert.deepEqual(await client.deleteSession(mine.sess_id), []);
  const after = await client.sessions({ pageSize: 100 });
  assert.ok(!after.some((s) => s.sess_id === mine.sess_id), 'the deleted session is still listed');
  assert.deepEqual(await client.chatHistory('0123456789abcdef0123456789abcdef'), [], 'an unknown session has no messages');
});

test('a new session id is 32 hex digits, a fresh one each time', async () => {
  const [a, b] = [await client.newSessionId(), await client.newSessionId(3)];
  assert.match(a, /^[0-9a-f]{32}$/);
  assert.notEqual(a, b);
});

test('session calls need a login: AUTH_ERROR 10042, unless the server lifts it', async () => {
  const anon = new Client({ base_url: emu.url });
  const guest = new Client({ base_url: open.url });
  try {
    for (const call of [() => anon.sessions(), () => anon.chatHistory('abc'), () => anon.deleteSession('abc'), () => anon.newSessionId()]) {
      const e = await rejectsWith(call(), Status.AUTH_ERROR);
      assert.equal(e.apiCode, 10042);
      assert.equal(e.detail.m, '请登录');
    }
    assert.deepEqual(await guest.sessions(), []);
    assert.match(await guest.newSessionId(), /^[0-9a-f]{32}$/);
    assert.equal((await anon.models.list()).data[0].id, 'DeepSeek', 'page settings need no login');
  } finally {
    anon.close();
    guest.close();
  }
});

test('the server\'s refusals and bad arguments are errors', async () => {
  const unknown = await rejectsWith(client.appDetail(999), Status.API_ERROR);
  assert.equal(unknown.detail.m, '应用不存在');
  await rejectsWith(client.models.list({ compose_id: 999 }), Status.API_ERROR);
  // Checked by the library:
  await rejectsWith(client.sessions({ page: 0 }), Status.INVALID_ARGUMENT);
  await rejectsWith(client.sessions({ page_size: 101 }), Status.INVALID_ARGUMENT);
  await rejectsWith(client.appDetail(-1), Status.INVALID_ARGUMENT);
  await rejectsWith(client.deleteSession('../x'), Status.INVALID_ARGUMENT);
  await rejectsWith(client.chatHistory(''), Status.INVALID_ARGUMENT);
  // Checked here, before koffi would truncate or wrap them:
  await rejectsWith(client.sessions({ page: 1.5 }), Status.INVALID_ARGUMENT);
  await rejectsWith(client.sessions({ page: -1 }), Status.INVALID_ARGUMENT);
  await rejectsWith(client.appDetail(/** @type {any} */ ('5')), Status.INVALID_ARGUMENT);
  await rejectsWith(client.chatHistory(/** @type {any} */ (42)), Status.INVALID_ARGUMENT);
});

test('loginState tells logged in, logged out, an expired cookie and unreachable apart', async () => {
  assert.deepEqual(
    { ...(await client.loginState()), detail: '' },
    { state: 'logged_in', detail: '', http_status: 200, error: null },
  );
  const clients = {
    none: new Client({ base_url: emu.url }),
    expired: new Client({ base_url: strict.url, vjuid_login: 'stale-token' }),
    valid: new Client({ base_url: strict.url, vjuid_login: 'good-token' }),
    down: new Client({ base_url: `http://127.0.0.1:${await closedPort()}`, max_retries: 0 }),
  };
  try {
    const none = await clients.none.loginState();
    assert.equal(none.state, 'logged_out');
    assert.equal(none.http_status, 302);
    assert.equal((await clients.expired.loginState()).state, 'logged_out');
    assert.equal((await clients.valid.loginState()).state, 'logged_in');
    const down = await clients.down.loginState();
    assert.equal(down.state, 'unreachable');
    assert.equal(down.error, 'connect_error');
    assert.equal(down.http_status, null);
    assert.ok(down.detail.length > 0);
  } finally {
    for (const c of Object.values(clients)) c.close();
  }
});

test('AbortSignal cancels a platform call waiting on a silent server, promptly', async () => {
  const c = new Client({ base_url: silent.url, idle_timeout_ms: 60000 });
  try {
    const calls = {
      webInfo: (signal) => c.webInfo({ signal }),
      models: (signal) => c.models.list({}, { signal }),
      loginState: (signal) => c.loginState({ signal }),
      sessions: (signal) => c.sessions({ page: 1 }, { signal }),
    };
    for (const [name, call] of Object.entries(calls)) {
      const abort = new AbortController();
      const started = performance.now();
      setTimeout(() => abort.abort(new Error(`stop ${name}`)), 200);
      const e = await rejectsWith(call(abort.signal), Status.CANCELLED);
      const elapsed = performance.now() - started;
      assert.equal(e.type, 'cancelled');
      assert.equal(e.cause?.message, `stop ${name}`);
      assert.ok(elapsed >= 150 && elapsed < 3000, `${name}: cancel took ${elapsed.toFixed(0)} ms (silence lasts 60 s)`);
      abort.abort(); // after the call: a no-op
    }
  } finally {
    c.close();
  }
});

test('an already-aborted signal cancels before anything is sent', async () => {
  const reason = new Error('never mind');
  const e = await rejectsWith(client.loginState({ signal: AbortSignal.abort(reason) }), Status.CANCELLED);
  assert.equal(e.cause, reason);
  await rejectsWith(client.chatHistory('abc', { signal: AbortSignal.abort() }), Status.CANCELLED);
  // A signal that is never aborted changes nothing.
  assert.equal((await client.webInfo({ signal: new AbortController().signal })).isCas, true);
});

test('close() waits for running platform calls; later calls reject', async () => {
  const c = new Client({ base_url: emu.url, vjuid_login: 'x' });
  const pending = [c.webInfo(), c.models.list(), c.sessions(), c.loginState()];
  c.close();
  await rejectsWith(c.apps(), Status.INVALID_ARGUMENT);
  const [info, models, sessions, state] = await Promise.all(pending);
  assert.equal(info.isCas, true);
  assert.equal(models.object, 'list');
  assert.ok(Array.isArray(sessions));
  assert.equal(state.state, 'logged_in');
});
