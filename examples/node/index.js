// ustb-openai for Node.js: an openai-node-shaped client over the libustb_openai C API.
//
// Threading: every call that can wait on the network (ustb_chat_stream_next,
// ustb_chat_stream_collect, ustb_client_user_info and the other platform calls) runs on a
// libuv worker thread through
// koffi's `.async`, so the event loop keeps turning while a reply streams. Everything else,
// including every free and every cancel, runs on the main thread. Cancels go through a
// ustb_canceller, so they need no check on the stream; a stream is freed only when no call
// on it is in flight (ustb_chat_stream_free must not race a running read).
import { loadLibrary, takeString, callAsync } from './lib/native.js';
import { Status, UstbError, takeError } from './lib/errors.js';
import { LogLevel, setLogger } from './lib/logging.js';

export { Status, UstbError, loadLibrary, LogLevel, setLogger };

/** The C library's version string, e.g. `"0.1.0"`. */
export function version() {
  return loadLibrary().version();
}

const DONE = Object.freeze({ done: true, value: undefined });

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

/** `baseURL`/`idleTimeoutMs` style keys become the C option names (`base_url`, `idle_timeout_ms`). */
function optionsJson(options) {
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const [key, value] of Object.entries(options ?? {})) {
    if (value === undefined) continue;
    const name = key === 'baseURL' ? 'base_url' : key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
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
    const out = [null];
    const err = [null];
    const status = this.#api.clientNew(optionsJson(options), out, err);
    if (status !== Status.OK) throw takeError(status, err[0]);
    this.#state = { ptr: out[0], busy: 0, closing: false };
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

export default Client;
