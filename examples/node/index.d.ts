// TypeScript declarations of the public API of index.js (checked by `tsc --noEmit` in
// run-tests.sh, with test/usage.ts exercising them). Chunk and completion types cover the
// fields the library documents in include/ustb_openai.h; other fields may be present.

/** The C library's status codes (`ustb_status`); test/header.test.js checks them against the header. */
export declare const Status: Readonly<{
  OK: 0;
  END_OF_STREAM: 1;
  STOPPED: 2;
  INVALID_ARGUMENT: 3;
  INVALID_REQUEST: 4;
  CONNECT_ERROR: 5;
  TIMEOUT: 6;
  CONNECTION_LOST: 7;
  HTTP_STATUS: 8;
  API_ERROR: 9;
  AUTH_ERROR: 10;
  PROTOCOL_ERROR: 11;
  TRUNCATED: 12;
  TOO_LARGE: 13;
  CANCELLED: 14;
  PANIC: 15;
}>;

/** One of the `Status` values. */
export type StatusCode = (typeof Status)[keyof typeof Status];

/** The library's error detail JSON (`ustb_error_detail`). */
export interface ErrorDetail {
  type?: string;
  message?: string;
  /** The server's envelope code. */
  e?: number;
  /** The server's envelope message. */
  m?: string;
  http_status?: number;
  [key: string]: unknown;
}

/** A failed library call, carrying everything the C `ustb_error` said. */
export declare class UstbError extends Error {
  constructor(
    message: string,
    fields: { status: number; statusName: string; apiCode?: number; httpStatus?: number; detail?: ErrorDetail },
    options?: ErrorOptions,
  );
  /** A `Status` value. */
  status: number;
  /** e.g. `"USTB_AUTH_ERROR"`. */
  statusName: string;
  /** The server's envelope code `e` (e.g. 10042), 0 if none. */
  apiCode: number;
  /** HTTP status of the reply, 0 if none was received. */
  httpStatus: number;
  detail: ErrorDetail;
  /** The detail's `type`, e.g. `"auth_error"` or `"timeout"`. */
  type: string | null;
}

/** Loads the C library (once; a second, different path throws) and returns its bindings. */
export declare function loadLibrary(path?: string): Record<string, unknown>;

/** The C library's version string, e.g. `"0.1.0"`. */
export declare function version(): string;

/** Client options: the C library's keys, in snake_case or camelCase (`baseURL` too). Unknown keys throw. */
export interface ClientOptions {
  base_url?: string;
  baseURL?: string;
  easy_session?: string;
  easySession?: string;
  vjuid_login?: string;
  vjuidLogin?: string;
  cookie?: string;
  connect_timeout_ms?: number;
  connectTimeoutMs?: number;
  idle_timeout_ms?: number;
  idleTimeoutMs?: number;
  timeout_ms?: number;
  timeoutMs?: number;
  max_retries?: number;
  maxRetries?: number;
  max_reply_bytes?: number;
  maxReplyBytes?: number;
  user_agent?: string;
  userAgent?: string;
  compose_id?: number;
  composeId?: number;
  model?: string;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | (string & {});
  content: string;
  [key: string]: unknown;
}

/** An OpenAI chat-completions request with the USTB extras. */
export interface ChatCompletionCreateParams {
  messages: ChatMessage[];
  model?: string;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean };
  deep_thinking?: boolean;
  web_search?: boolean;
  thinking_budget?: number;
  compose_id?: number;
  [key: string]: unknown;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** A page the answer cites as `[citation:N]` (with `web_search`; a USTB extension). */
export interface SearchResult {
  title: string;
  url: string;
  content: string;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: { role: 'assistant'; content: string | null; reasoning_content: string | null };
    /** `"stop"`, or `"content_filter"` when the server's moderation answered. */
    finish_reason: string | null;
  }>;
  usage: Usage | null;
  search_results?: SearchResult[];
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  /** Empty in the last chunk when `stream_options.include_usage` is set. */
  choices: Array<{
    index: number;
    delta: { role?: 'assistant'; content?: string | null; reasoning_content?: string | null };
    finish_reason: string | null;
  }>;
  usage?: Usage | null;
  search_results?: SearchResult[];
}

export interface RequestOptions {
  /** Cancels the request: the pending read rejects with `Status.CANCELLED`, `cause` = the signal's reason. */
  signal?: AbortSignal;
}

/** A streamed chat reply; `break` (or `close()`) cancels and frees it. */
export declare class ChatStream implements AsyncIterableIterator<ChatCompletionChunk> {
  private constructor();
  [Symbol.asyncIterator](): this;
  next(): Promise<IteratorResult<ChatCompletionChunk, undefined>>;
  return(): Promise<IteratorResult<ChatCompletionChunk, undefined>>;
  /** The rest of the reply as one `chat.completion`, then frees the stream. */
  collect(): Promise<ChatCompletion>;
  /** Stops the stream and frees it (after a read in flight returns). Idempotent. */
  close(): void;
}

export interface Completions {
  create(body: ChatCompletionCreateParams & { stream: true }, options?: RequestOptions): Promise<ChatStream>;
  create(body: ChatCompletionCreateParams & { stream?: false | null }, options?: RequestOptions): Promise<ChatCompletion>;
  create(body: ChatCompletionCreateParams, options?: RequestOptions): Promise<ChatStream | ChatCompletion>;
}

/** The identity cookies in use (secrets: do not log them). */
export interface Cookies {
  easy_session: string | null;
  vjuid_login: string | null;
  cookie: string | null;
}

/** A client of one server. */
export declare class Client {
  constructor(options?: ClientOptions);
  readonly chat: { readonly completions: Completions };
  /** Frees the client once a running `userInfo()` has returned; streams outlive it. Idempotent. */
  close(): void;
  cookies(): Cookies;
  /** `GET /site/user_info`: the caller's profile. */
  userInfo(): Promise<Record<string, unknown>>;
}

export default Client;
