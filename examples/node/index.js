// ustb-openai for Node.js: an openai-node-shaped client over the libustb_openai C API.
//
// Threading: every call that can wait on the network (ustb_chat_stream_next,
// ustb_chat_stream_collect, ustb_client_user_info, the other platform calls and the login's
// network calls) runs on a libuv worker thread through
// koffi's `.async`, so the event loop keeps turning while a reply streams. Everything else,
// including every free and every cancel, runs on the main thread. Cancels go through a
// ustb_canceller, so they need no check on the stream; a stream is freed only when no call
// on it is in flight (ustb_chat_stream_free must not race a running read).
import { loadLibrary, takeString, callAsync, copyBytes } from './lib/native.js';
import { Status, UstbError, takeError } from './lib/errors.js';
import { LogLevel, setLogger } from './lib/logging.js';

export { Status, UstbError, loadLibrary, LogLevel, setLogger };

/** The C library's version string, e.g. `"0.1.0"`. */
export function version() {
  return loadLibrary().version();
}

const DONE = Object.freeze({ done: true, value: undefined });

/** The options key under which Login.client() gives Client a `ustb_client *` it owns from then on. */
const ADOPT = Symbol('ustb_client');

/** @param {string} message */
function invalidArgument(message) {
  return new UstbError(message, { status: Status.INVALID_ARGUMENT, statusName: 'USTB_INVALID_ARGUMENT' });
}

/**
 * Checks a number argument before it reaches koffi, which would truncate a fraction or wrap a
 * negative unsigned value; the library checks the range it allows.
 * @param {string} name
 * @param {unknown} value
 * @param {number} min
 * @param {number} max
 */
function integer(name, value, min, max) {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(`${name} must be an integer from ${min} to ${max}, not ${String(value)}`);
  }
  return value;
}

const composeId = (value) => integer('compose_id', value, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);

/** @param {unknown} value */
function sessionId(value) {
  if (typeof value !== 'string') throw invalidArgument(`session_id must be a string, not ${typeof value}`);
  return value;
}

/**
 * `baseURL`/`ssoBaseURL`/`idleTimeoutMs` style keys become the C option names (`base_url`,
 * `sso_base_url`, `idle_timeout_ms`).
 */
function optionsJson(options) {
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const [key, value] of Object.entries(options ?? {})) {
    if (value === undefined) continue;
    const name = key.replace(/URL$/, 'Url').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    out[name] = value;
  }
  return JSON.stringify(out);
}

// Safety nets for handles the user forgot to close. They only run once the JS object is
// unreachable, which cannot happen while a worker-thread call on it is pending (the pending
// call's continuation holds the object).
const clientRegistry = new FinalizationRegistry((state) => {
  state.closing = true;
  if (state.busy === 0 && state.ptr !== null) {
    loadLibrary().clientFree(state.ptr);
    state.ptr = null;
  }
});
const loginRegistry = new FinalizationRegistry((state) => {
  state.closing = true;
  if (!state.busy && state.ptr !== null) {
    loadLibrary().loginFree(state.ptr);
    state.ptr = null;
  }
});
const streamRegistry = new FinalizationRegistry((state) => {
  if (state.ptr !== null) {
    loadLibrary().cancellerFree(state.canceller);
    loadLibrary().streamFree(state.ptr);
    state.ptr = null;
  }
});

/**
 * A streamed chat reply: an async iterable of OpenAI `chat.completion.chunk` objects.
 * Read it with `for await`; `break` (or `close()`) cancels and frees it.
 * @implements {AsyncIterableIterator<Record<string, any>>}
 */
export class ChatStream {
  #api = loadLibrary();
  /** @type {{ptr: bigint|null, canceller: bigint|null}} both freed together by #release */
  #state;
  #busy = false; // a next/collect is running on a worker thread: the free waits for it
  #closed = false;
  #aborted = false;
  /** @type {AbortSignal|undefined} */
  #signal;
  #onAbort = () => this.#abort();
  /** @type {Promise<unknown>} serialises reads: the C stream takes one reader at a time */
  #queue = Promise.resolve();

  /**
   * @param {bigint} ptr an open `ustb_chat_stream *` (owned from now on)
   * @param {AbortSignal} [signal]
   * @internal use `client.chat.completions.create({..., stream: true})`
   */
  constructor(ptr, signal) {
    const canceller = [null];
    const err = [null];
    const status = this.#api.streamCanceller(ptr, canceller, err);
    if (status !== Status.OK) {
      this.#api.streamFree(ptr);
      throw takeError(status, err[0]);
    }
    this.#state = { ptr, canceller: canceller[0] };
    streamRegistry.register(this, this.#state, this);
    if (signal) {
      this.#signal = signal;
      if (signal.aborted) this.#abort();
      else signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  /** @returns {Promise<IteratorResult<Record<string, any>>>} */
  next() {
    return this.#enqueue(() => this.#next());
  }

  /** Called by `for await` on `break`/`throw`: stop and free the stream. */
  async return() {
    this.close();
    return DONE;
  }

  /**
   * Reads the rest of the reply into one OpenAI `chat.completion` object
   * (`ustb_chat_stream_collect`), then frees the stream. Chunks already iterated are not
   * included. Cancellable like iteration; `close()` meanwhile makes it throw `USTB_CANCELLED`.
   * @returns {Promise<Record<string, any>>}
   */
  collect() {
    return this.#enqueue(() => this.#collect());
  }

  /**
   * Stops the stream and frees it. If a read is in flight it is cancelled (it returns
   * promptly) and the stream is freed when it comes back; iteration then just ends.
   * Idempotent.
   */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#busy) this.#cancel(); // the read frees the stream when it comes back
    else this.#release();
  }

  #enqueue(read) {
    const result = this.#queue.then(read);
    this.#queue = result.catch(() => {});
    return result;
  }

  #abort() {
    this.#aborted = true;
    this.#cancel();
  }

  #cancel() {
    // Only #abort and close() cancel, and neither can run after #release: the abort listener
    // is removed there, and close() frees instead once no read is in flight.
    this.#api.cancellerCancel(this.#state.canceller);
  }

  #release() {
    const { ptr, canceller } = this.#state;
    if (ptr === null) return;
    this.#state.ptr = null;
    this.#state.canceller = null;
    streamRegistry.unregister(this);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#api.cancellerFree(canceller);
    this.#api.streamFree(ptr);
  }

  /**
   * Runs `fn(stream, ...outs, &err)` on a worker thread. Returns the status, or a UstbError
   * (the C error taken and freed) for a failure.
   */
  async #blocking(fn, outs) {
    const err = [null];
    this.#busy = true;
    let status;
    try {
      status = await callAsync(fn, this.#state.ptr, ...outs, err);
    } catch (e) {
      // koffi itself failed (e.g. its async queue is full); nothing was handed out.
      this.#release();
      throw e;
    } finally {
      this.#busy = false;
    }
    if (status === Status.OK || status === Status.END_OF_STREAM) return status;
    return takeError(status, err[0], this.#aborted ? { cause: this.#signal?.reason } : undefined);
  }

  async #next() {
    if (this.#state.ptr === null || this.#closed) {
      this.#release();
      return DONE;
    }
    /** @type {[bigint|null]} */ const chunk = [null];
    /** @type {[number]} */ const len = [0];
    const status = await this.#blocking(this.#api.streamNext, [chunk, len]);
    if (status === Status.OK) {
      const text = /** @type {string} */ (takeString(chunk[0], len[0]));
      if (!this.#closed) return { done: false, value: JSON.parse(text) };
    }
    this.#release();
    // End, or close() asked for this cancel: end quietly. An AbortSignal or a failure throws.
    if (!(status instanceof UstbError) || (this.#closed && !this.#aborted)) return DONE;
    this.#closed = true;
    throw status;
  }

  async #collect() {
    if (this.#state.ptr === null || this.#closed) {
      this.#release();
      throw invalidArgument('the stream is already closed or read to the end');
    }
    /** @type {[bigint|null]} */ const json = [null];
    const status = await this.#blocking(this.#api.streamCollect, [json]);
    this.#closed = true;
    this.#release();
    if (status instanceof UstbError) throw status;
    return JSON.parse(/** @type {string} */ (takeString(json[0])));
  }
}

class Completions {
  #client;
  /** @param {Client} client */
  constructor(client) {
    this.#client = client;
  }

  /**
   * Sends an OpenAI chat-completions request. With `stream: true` resolves to a
   * {@link ChatStream}; otherwise to a `chat.completion` object. `signal` cancels either
   * (`ustb_canceller_cancel`): the pending read rejects with a `UstbError` whose status is
   * `Status.CANCELLED` and whose `cause` is the signal's reason.
   *
   * @param {{messages: Array<{role: string, content: string}>, model?: string, stream?: boolean,
   *          [key: string]: any}} body
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<any>}
   */
  async create(body, options = {}) {
    const stream = this.#client._open(body, options.signal);
    return body?.stream ? stream : stream.collect();
  }
}

class Models {
  #client;
  /** @param {Client} client */
  constructor(client) {
    this.#client = client;
  }

  /**
   * The models an application offers, as an OpenAI model list
   * `{object: 'list', data: [{id, object: 'model', created, owned_by, label, compose_id}]}`
   * (`ustb_client_models`, one page-settings call). `compose_id` 0 or absent: the client's.
   * @param {{compose_id?: number}} [params]
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<any>}
   */
  async list(params = {}, options = {}) {
    return this.#client._platform('models', [composeId(params.compose_id ?? 0)], options.signal);
  }
}

/**
 * A client of one server. Options are the C library's (`base_url`, `vjuid_login`, `cookie`,
 * `easy_session`, `idle_timeout_ms`, …), in snake_case or camelCase (`baseURL`,
 * `vjuidLogin`, `idleTimeoutMs`, …). Unknown options throw.
 */
export class Client {
  #api;
  /** @type {{ptr: bigint|null, busy: number, closing: boolean}} */
  #state;
  chat;
  models;

  /** @param {Record<string, unknown>} [options] */
  constructor(options = {}) {
    this.#api = loadLibrary();
    // Login.client() hands over a `ustb_client *` under a key only this module knows.
    let ptr = /** @type {any} */ (options)?.[ADOPT] ?? null;
    if (ptr === null) {
      const out = [null];
      const err = [null];
      const status = this.#api.clientNew(optionsJson(options), out, err);
      if (status !== Status.OK) throw takeError(status, err[0]);
      ptr = out[0];
    }
    this.#state = { ptr, busy: 0, closing: false };
    clientRegistry.register(this, this.#state, this);
    this.chat = { completions: new Completions(this) };
    this.models = new Models(this);
  }

  /**
   * Frees the client. Running `userInfo()` and platform calls finish first (the free waits for it); streams
   * and completions in progress go on, as streams outlive their client. Idempotent.
   */
  close() {
    const s = this.#state;
    if (s.closing) return;
    s.closing = true;
    clientRegistry.unregister(this);
    this.#freeIfIdle();
  }

  #freeIfIdle() {
    const s = this.#state;
    if (s.closing && s.busy === 0 && s.ptr !== null) {
      this.#api.clientFree(s.ptr);
      s.ptr = null;
    }
  }

  #handle() {
    if (this.#state.closing || this.#state.ptr === null) throw invalidArgument('the client is closed');
    return this.#state.ptr;
  }

  /**
   * The `ustb_client *`, for a call that returns before the main thread goes on (Login.install).
   * @internal
   */
  _handle() {
    return this.#handle();
  }

  /**
   * Opens a stream (`ustb_chat_stream_open` only checks the request: no network, so it runs
   * on the main thread). Bad requests throw here.
   * @internal
   */
  _open(body, signal) {
    const out = [null];
    const err = [null];
    const status = this.#api.streamOpen(this.#handle(), JSON.stringify(body), out, err);
    if (status !== Status.OK) throw takeError(status, err[0]);
    return new ChatStream(out[0], signal);
  }

  /**
   * The identity cookies in use, including an `easy_session` the server issued:
   * `{easy_session, vjuid_login, cookie}` (secrets: do not log them).
   * @returns {{easy_session: string|null, vjuid_login: string|null, cookie: string|null}}
   */
  cookies() {
    const json = [null];
    const err = [null];
    const status = this.#api.clientCookies(this.#handle(), json, err);
    if (status !== Status.OK) throw takeError(status, err[0]);
    return JSON.parse(/** @type {string} */ (takeString(json[0])));
  }

  /**
   * `GET /site/user_info`: the caller's profile. For a cookieless client the server issues an
   * `easy_session`, kept from then on (see {@link cookies}). Not cancellable (the C call has
   * no cancel); bounded by the client's timeouts.
   * @returns {Promise<Record<string, any>>}
   */
  async userInfo() {
    return this.#blocking(this.#api.clientUserInfo, []);
  }

  /**
   * `GET /common/web_info`: the site's configuration (name, logos, `isCas`, …).
   * @param {{signal?: AbortSignal}} [options]
   */
  async webInfo(options = {}) {
    return this._platform('webInfo', [], options.signal);
  }

  /**
   * The applications (`GET /site/ai/compose_list`): `[{id, name, desc, welcome_message, …}]`.
   * @param {{signal?: AbortSignal}} [options]
   */
  async apps(options = {}) {
    return this._platform('apps', [], options.signal);
  }

  /**
   * One application (`GET /site/ai/compose_detail`); `composeId` 0: the client's.
   * @param {number} [id]
   * @param {{signal?: AbortSignal}} [options]
   */
  async appDetail(id = 0, options = {}) {
    return this._platform('appDetail', [composeId(id)], options.signal);
  }

  /**
   * An application's page settings (`GET /site/voom/page-setting`): the model list and
   * switches; `composeId` 0: the client's.
   * @param {number} [id]
   * @param {{signal?: AbortSignal}} [options]
   */
  async pageSettings(id = 0, options = {}) {
    return this._platform('pageSettings', [composeId(id)], options.signal);
  }

  /**
   * A new session id (a string; `GET /site/voom/get_new_session_id`). Needs a login.
   * @param {number} [id] the application, 0: the client's
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<string>}
   */
  async newSessionId(id = 0, options = {}) {
    return this._platform('newSessionId', [composeId(id)], options.signal);
  }

  /**
   * The caller's sessions, newest first (`GET /site/voom/session_list`): `page` from 1
   * (default 1), `page_size` (or `pageSize`) 1 to 100 (default 20). Needs a login.
   * @param {{page?: number, page_size?: number, pageSize?: number}} [params]
   * @param {{signal?: AbortSignal}} [options]
   */
  async sessions(params = {}, options = {}) {
    const page = integer('page', params.page ?? 1, 0, 0xffffffff);
    const size = integer('page_size', params.page_size ?? params.pageSize ?? 20, 0, 0xffffffff);
    return this._platform('sessions', [page, size], options.signal);
  }

  /**
   * Deletes a session by its `sess_id` or `id` (`POST /site/voom/session_delete`); resolves
   * to the server's answer (normally `[]`). Needs a login.
   * @param {string} id
   * @param {{signal?: AbortSignal}} [options]
   */
  async deleteSession(id, options = {}) {
    return this._platform('sessionDelete', [sessionId(id)], options.signal);
  }

  /**
   * A session's messages (`GET /site/voom/chat_history_info`): `[{role, content, ct, …}]`.
   * Needs a login.
   * @param {string} id
   * @param {{signal?: AbortSignal}} [options]
   */
  async chatHistory(id, options = {}) {
    return this._platform('chatHistory', [sessionId(id)], options.signal);
  }

  /**
   * Whether the login cookie works, with one cheap request: `{state, detail, http_status,
   * error}`, `state` `'logged_in'`, `'logged_out'` or `'unreachable'` (these three resolve;
   * another answer, such as HTTP 500, rejects).
   * @param {{signal?: AbortSignal}} [options]
   */
  async loginState(options = {}) {
    return this._platform('loginState', [], options.signal);
  }

  /**
   * Runs a platform call `ustb_client_<name>(client, ...args, cancel, &json, &err)` on a
   * worker thread, with a canceller that `signal` fires (none without a signal).
   * @internal
   * @param {string} name a PROTOTYPES key
   * @param {unknown[]} args
   * @param {AbortSignal} [signal]
   */
  async _platform(name, args, signal) {
    if (!signal) return this.#blocking(this.#api[name], [...args, null]);
    const out = [null];
    const err = [null];
    const status = this.#api.cancellerNew(out, err);
    if (status !== Status.OK) throw takeError(status, err[0]);
    const canceller = out[0];
    const onAbort = () => this.#api.cancellerCancel(canceller);
    // Aborted already: the call returns USTB_CANCELLED without sending anything.
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.#blocking(this.#api[name], [...args, canceller], signal);
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.#api.cancellerFree(canceller); // the call has returned: nothing uses it now
    }
  }

  /**
   * Runs `fn(client, ...args, &json, &err)` on a worker thread and parses the JSON it hands
   * out. The client is not freed while it runs.
   * @param {Function & {async: Function}} fn
   * @param {unknown[]} args
   * @param {AbortSignal} [signal] its reason becomes the `cause` of a cancel
   */
  async #blocking(fn, args, signal) {
    const ptr = this.#handle();
    const json = [null];
    const err = [null];
    this.#state.busy++; // the client must outlive the worker-thread call
    let status;
    try {
      status = await callAsync(fn, ptr, ...args, json, err);
    } finally {
      this.#state.busy--;
      this.#freeIfIdle();
    }
    if (status !== Status.OK) throw takeError(status, err[0], signal?.aborted ? { cause: signal.reason } : undefined);
    return JSON.parse(/** @type {string} */ (takeString(json[0])));
  }
}

/** Where a QR code login is (`ustb_login_state`): what `login.wait()` resolves to. */
export const QrState = Object.freeze({
  /** Nobody has scanned the code yet (nothing changed within the time). */
  WAITING: 0,
  /** Scanned on a phone, not yet confirmed there. */
  SCANNED: 1,
  /** Confirmed: the login is complete and the cookie is ready. */
  CONFIRMED: 2,
  /** The code expired: `qrStart()` again gives a new one. */
  EXPIRED: 3,
  /** The C API's state of a failed wait; `wait()` rejects instead of resolving to it. */
  FAILED: 4,
});

/** The `x` of `smsSend` that lets the library solve the slider puzzle itself (`USTB_PUZZLE_AUTO`). */
export const PUZZLE_AUTO = -1;

/** @param {string} name @param {unknown} value */
function text(name, value) {
  // Never echo the value: it may be a phone number or a code.
  if (typeof value !== 'string') throw invalidArgument(`${name} must be a string, not ${typeof value}`);
  return value;
}

/**
 * A login through the university SSO (`ustb_login`): a WeChat QR code or an SMS code gives the
 * `cookie_vjuid_login` cookie and a ready {@link Client}. Options are the {@link Client}'s plus
 * `sso_base_url`, `sis_base_url` and `ca_file` (camelCase too: `ssoBaseURL`, `caFile`).
 *
 * One call at a time: a call made while another one on the same login runs throws
 * `Status.INVALID_ARGUMENT` ("busy"), as the C library does. The network calls (`qrStart`,
 * `wait`, `smsPuzzle`, `smsSend`, `smsSubmit`) run on a worker thread, each with its own
 * `ustb_canceller`, which its `signal` and `close()` fire. The cookie is a secret: store it
 * safely, never log it.
 */
export class Login {
  #api = loadLibrary();
  /** @type {{ptr: bigint|null, busy: boolean, closing: boolean, canceller: bigint|null}} */
  #state;

  /** @param {Record<string, unknown>} [options] */
  constructor(options = {}) {
    const out = [null];
    const err = [null];
    const status = this.#api.loginNew(optionsJson(options), out, err);
    if (status !== Status.OK) throw takeError(status, err[0]);
    this.#state = { ptr: out[0], busy: false, closing: false, canceller: null };
    loginRegistry.register(this, this.#state, this);
  }

  /**
   * Frees the login (its cookie is forgotten; clients made from it keep theirs). A network
   * call in flight is cancelled (it rejects with `Status.CANCELLED`) and the login is freed
   * when it returns. Idempotent.
   */
  close() {
    const s = this.#state;
    if (s.closing) return;
    s.closing = true;
    loginRegistry.unregister(this);
    if (s.canceller !== null) this.#api.cancellerCancel(s.canceller);
    this.#freeIfIdle();
  }

  /**
   * Starts the QR code login, or renews the QR code (after `QrState.EXPIRED`, or any time).
   * Then show `qrPng()` or `qrText()` and call `wait()`.
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<void>}
   */
  async qrStart(options = {}) {
    await this.#network('loginQrStart', [], [], options.signal);
  }

  /** The current QR code as PNG bytes (a copy). */
  qrPng() {
    const png = [null];
    const len = [0];
    this.#sync('loginQrPng', [png, len]);
    return copyBytes(png[0], len[0]);
  }

  /** The current QR code drawn with Unicode half blocks, for a terminal. */
  qrText() {
    const out = [null];
    this.#sync('loginQrText', [out]);
    return /** @type {string} */ (takeString(out[0]));
  }

  /** The SSO's web page showing the current QR code. It carries a one-time token: do not log it. */
  qrPageUrl() {
    const out = [null];
    this.#sync('loginQrPageUrl', [out]);
    return /** @type {string} */ (takeString(out[0]));
  }

  /**
   * Waits up to `timeoutMs` for the QR code's state to change: resolves to `QrState.WAITING`
   * or `SCANNED` (no change within the time, or newly scanned), `CONFIRMED` (the cookie is
   * ready) or `EXPIRED`. Rejects with `Status.AUTH_ERROR` when the SSO calls the QR session
   * invalid (start again), `Status.CANCELLED` on `signal` or `close()`, or a network status.
   * @param {number} timeoutMs
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<number>}
   */
  async wait(timeoutMs, options = {}) {
    const state = [QrState.FAILED];
    await this.#network('loginQrWait', [integer('timeout_ms', timeoutMs, 0, 0xffffffff)], [state], options.signal);
    return state[0];
  }

  /**
   * Fetches a new slider puzzle for a person to solve (`puzzleImages()`); not needed with
   * `PUZZLE_AUTO`.
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<void>}
   */
  async smsPuzzle(options = {}) {
    await this.#network('loginSmsPuzzle', [], [], options.signal);
  }

  /**
   * The current puzzle's PNG images (copies): the background with a piece-shaped hole, and the
   * piece. The answer is the piece's distance in pixels from the background's left edge.
   * @returns {{background: Buffer, piece: Buffer}}
   */
  puzzleImages() {
    const bg = [null];
    const bgLen = [0];
    const piece = [null];
    const pieceLen = [0];
    this.#sync('loginPuzzleImages', [bg, bgLen, piece, pieceLen]);
    return { background: copyBytes(bg[0], bgLen[0]), piece: copyBytes(piece[0], pieceLen[0]) };
  }

  /** The library's answer to the current puzzle (image matching, no network). */
  puzzleSolve() {
    const x = [0];
    this.#sync('loginPuzzleSolve', [x]);
    return x[0];
  }

  /**
   * Sends an SMS code to `phone` (11 digits starting with 1, checked before any traffic). `x`
   * answers the current puzzle (from `smsPuzzle()`); `PUZZLE_AUTO` (the default) lets the
   * library fetch and solve puzzles itself. Rejects with `Status.API_ERROR` when the SSO
   * refuses (`apiCode` 5054: wrong answer; 201: a code was sent moments ago).
   * @param {string} phone
   * @param {number} [x]
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<void>}
   */
  async smsSend(phone, x = PUZZLE_AUTO, options = {}) {
    const args = [text('phone', phone), integer('x', x, PUZZLE_AUTO, 0x7fffffff)];
    await this.#network('loginSmsSend', args, [], options.signal);
  }

  /**
   * Submits the code the phone received and completes the login. Rejects with
   * `Status.API_ERROR` when the SSO refuses the code (another try is allowed).
   * @param {string} code
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<void>}
   */
  async smsSubmit(code, options = {}) {
    await this.#network('loginSmsSubmit', [text('code', code)], [], options.signal);
  }

  /**
   * The `cookie_vjuid_login` value, once the login succeeded: a secret, for the caller to store
   * safely and pass later as the `vjuid_login` client option.
   */
  cookie() {
    const out = [null];
    this.#sync('loginCookie', [out]);
    return /** @type {string} */ (takeString(out[0]));
  }

  /** A new {@link Client} with the login's options and cookie (no network). */
  client() {
    const out = [null];
    this.#sync('loginClient', [out]);
    return new Client({ [ADOPT]: out[0] });
  }

  /**
   * Gives an existing client the login's cookie, e.g. after its calls failed with
   * `Status.AUTH_ERROR` (the old login expired). Streams already open keep their cookie.
   * @param {Client} client
   */
  install(client) {
    if (!(client instanceof Client)) throw invalidArgument('install() takes a Client');
    this.#sync('loginInstall', [client._handle()]);
  }

  #handle() {
    const s = this.#state;
    if (s.closing || s.ptr === null) throw invalidArgument('the login is closed');
    // The library would say the same; checking here also keeps a borrowed buffer from being
    // replaced by a worker-thread call while it is copied.
    if (s.busy) throw invalidArgument('the login is busy: another call on it is running');
    return s.ptr;
  }

  #freeIfIdle() {
    const s = this.#state;
    if (s.closing && !s.busy && s.ptr !== null) {
      this.#api.loginFree(s.ptr);
      s.ptr = null;
    }
  }

  /** Runs `ustb_login_<name>(login, ...outs, &err)` on the main thread (no network). */
  #sync(name, outs) {
    const err = [null];
    const status = this.#api[name](this.#handle(), ...outs, err);
    if (status !== Status.OK) throw takeError(status, err[0]);
  }

  /**
   * Runs `ustb_login_<name>(login, ...args, cancel, ...outs, &err)` on a worker thread with a
   * new canceller, which `signal` and close() fire.
   * @param {string} name a PROTOTYPES key
   * @param {unknown[]} args
   * @param {unknown[]} outs
   * @param {AbortSignal} [signal]
   */
  async #network(name, args, outs, signal) {
    const ptr = this.#handle();
    const out = [null];
    const err = [null];
    let status = this.#api.cancellerNew(out, err);
    if (status !== Status.OK) throw takeError(status, err[0]);
    const canceller = out[0];
    const onAbort = () => this.#api.cancellerCancel(canceller);
    // Aborted already: the call returns USTB_CANCELLED without sending anything.
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const s = this.#state;
    s.busy = true; // the login must outlive the worker-thread call
    s.canceller = canceller;
    try {
      status = await callAsync(this.#api[name], ptr, ...args, canceller, ...outs, err);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      s.busy = false;
      s.canceller = null;
      this.#api.cancellerFree(canceller); // the call has returned: nothing uses it now
      this.#freeIfIdle();
    }
    if (status !== Status.OK) throw takeError(status, err[0], signal?.aborted ? { cause: signal.reason } : undefined);
  }
}

export default Client;
