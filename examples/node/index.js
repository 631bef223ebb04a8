// ustb-openai for Node.js: an openai-node-shaped client over the libustb_openai C API.
//
// Threading: every call that can wait on the network (ustb_chat_stream_next,
// ustb_chat_stream_collect, ustb_client_user_info) runs on a libuv worker thread through
// koffi's `.async`, so the event loop keeps turning while a reply streams. Everything else,
// including every free and every cancel, runs on the main thread. Cancels go through a
// ustb_canceller, so they need no check on the stream; a stream is freed only when no call
// on it is in flight (ustb_chat_stream_free must not race a running read).
import { loadLibrary, takeString, callAsync } from './lib/native.js';
import { Status, UstbError, takeError } from './lib/errors.js';

export { Status, UstbError, loadLibrary };

/** The C library's version string, e.g. `"0.1.0"`. */
export function version() {
  return loadLibrary().version();
}

const DONE = Object.freeze({ done: true, value: undefined });

/** @param {string} message */
function closedError(message) {
  return new UstbError(message, { status: Status.INVALID_ARGUMENT, statusName: 'USTB_INVALID_ARGUMENT' });
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
      throw closedError('the stream is already closed or read to the end');
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
  }

  /**
   * Frees the client. A running `userInfo()` finishes first (the free waits for it); streams
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
    if (this.#state.closing || this.#state.ptr === null) throw closedError('the client is closed');
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
    const ptr = this.#handle();
    const json = [null];
    const err = [null];
    this.#state.busy++; // the client must outlive the worker-thread call
    let status;
    try {
      status = await callAsync(this.#api.clientUserInfo, ptr, json, err);
    } finally {
      this.#state.busy--;
      this.#freeIfIdle();
    }
    if (status !== Status.OK) throw takeError(status, err[0]);
    return JSON.parse(/** @type {string} */ (takeString(json[0])));
  }
}

export default Client;
