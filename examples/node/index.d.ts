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
  /** Not logged in, or the login expired (10042); for a QR wait: the QR session is invalid. Log in again (`Login`). */
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

/**
 * A failed library call, carrying everything the C `ustb_error` said. `Status.AUTH_ERROR`
 * means the login cookie is missing or expired: log in again with `Login` (QR code or SMS),
 * then `login.install(client)` or `login.client()`, and store the new `login.cookie()`.
 */
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
  /** May be null in an assistant message that only calls tools. */
  content: string | null;
  /** The calls an assistant message made (sent back with the tool results). */
  tool_calls?: ChatCompletionMessageToolCall[];
  /** In a `role: "tool"` message: the `id` of the call this is the result of. */
  tool_call_id?: string;
  name?: string;
  [key: string]: unknown;
}

/** A function the model may call (OpenAI's `tools` entry). */
export interface ChatCompletionTool {
  type: 'function';
  function: {
    /** 1 to 64 letters, digits, `_` or `-`. */
    name: string;
    description?: string;
    /** A JSON Schema object. */
    parameters?: Record<string, unknown>;
    strict?: boolean | null;
  };
}

/** `"auto"` (the default), `"none"`, `"required"`, or one named function. */
export type ChatCompletionToolChoiceOption =
  | 'auto'
  | 'none'
  | 'required'
  | { type: 'function'; function: { name: string } };

/** One call in `message.tool_calls`. */
export interface ChatCompletionMessageToolCall {
  id: string;
  type: 'function';
  /** `arguments` is the model's text: JSON, or the raw text when it is not valid JSON. */
  function: { name: string; arguments: string };
}

/** A call as a stream delivers it: first `id`, `type` and `name`, then `arguments` fragments. */
export interface ChatCompletionChunkToolCall {
  /** Counts the reply's calls from 0. */
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
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
  tools?: ChatCompletionTool[];
  tool_choice?: ChatCompletionToolChoiceOption;
  parallel_tool_calls?: boolean;
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
    message: {
      role: 'assistant';
      content: string | null;
      reasoning_content: string | null;
      /** Present when the model called tools (`finish_reason` is then `"tool_calls"`). */
      tool_calls?: ChatCompletionMessageToolCall[];
    };
    /** `"stop"`, `"tool_calls"`, or `"content_filter"` when the server's moderation answered. */
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
    delta: {
      role?: 'assistant';
      content?: string | null;
      reasoning_content?: string | null;
      tool_calls?: ChatCompletionChunkToolCall[];
    };
    finish_reason: string | null;
  }>;
  usage?: Usage | null;
  search_results?: SearchResult[];
}

export interface RequestOptions {
  /** Cancels the request: the pending read rejects with `Status.CANCELLED`, `cause` = the signal's reason. */
  signal?: AbortSignal;
}

/** One model of an application (an OpenAI `Model`, with two USTB extensions). */
export interface Model {
  /** What a chat request's `model` takes (the page's `value`). */
  id: string;
  object: 'model';
  /** Always 0: the server gives no date. */
  created: number;
  owned_by: string;
  /** The name the web page shows. */
  label: string;
  /** The application offering it. */
  compose_id: number;
}

/** What `GET /v1/models` answers. */
export interface ModelList {
  object: 'list';
  data: Model[];
}

export interface Models {
  /** The models of the application `compose_id` (absent or 0: the client's). */
  list(params?: { compose_id?: number }, options?: RequestOptions): Promise<ModelList>;
}

/** What `loginState()` tells. */
export interface LoginState {
  state: 'logged_in' | 'logged_out' | 'unreachable';
  /** A readable explanation. */
  detail: string;
  /** The page's HTTP status; null when unreachable. */
  http_status: number | null;
  /** When unreachable: the error's type, e.g. `"connect_error"`. */
  error: string | null;
}

/** One application (`compose_list` / `compose_detail`); other fields may be present. */
export interface App {
  id: number;
  name: string;
  desc: string;
  welcome_message: string;
  is_stream: number;
  model_ids: string;
  [key: string]: unknown;
}

/** One session of the caller (`session_list`). */
export interface Session {
  id: number;
  sess_id: string;
  uid: number;
  compose_id: number;
  create_time: string;
  update_time: string;
  last_content: string;
  is_delete: number;
  [key: string]: unknown;
}

/** One message of a session's history (`chat_history_info`). */
export interface HistoryMessage {
  content: string;
  /** The time it was written. */
  ct: string;
  compose_id: number;
  role?: string;
  [key: string]: unknown;
}

/** The library's log levels (`USTB_LOG_*`); test/header.test.js checks them against the header. */
export declare const LogLevel: Readonly<{
  OFF: 0;
  ERROR: 1;
  WARN: 2;
  INFO: 3;
  DEBUG: 4;
}>;

export type LogLevelName = 'error' | 'warn' | 'info' | 'debug';

/** A function `(level, message)`, or an object with a method per level (`console`, pino, winston). */
export type Logger = ((level: LogLevelName, message: string) => void) | { [L in LogLevelName]: (message: string) => void };

/**
 * Routes the library's log lines (process-wide) to `logger`, from `options.level` (default
 * `'info'`) up; `null` removes it (then `USTB_LOG` decides). Resolves once in effect.
 */
export declare function setLogger(logger: Logger | null, options?: { level?: LogLevelName | 'off' | number }): Promise<void>;

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
  readonly models: Models;
  /** Frees the client once running calls have returned; streams outlive it. Idempotent. */
  close(): void;
  cookies(): Cookies;
  /** `GET /site/user_info`: the caller's profile. */
  userInfo(): Promise<Record<string, unknown>>;
  /** The site's configuration (name, logos, `isCas`, …). */
  webInfo(options?: RequestOptions): Promise<Record<string, unknown>>;
  /** The applications. */
  apps(options?: RequestOptions): Promise<App[]>;
  /** One application (0 or absent: the client's `compose_id`). */
  appDetail(composeId?: number, options?: RequestOptions): Promise<App>;
  /** An application's page settings (model list, switches). */
  pageSettings(composeId?: number, options?: RequestOptions): Promise<Record<string, unknown>>;
  /** A new session id. Needs a login. */
  newSessionId(composeId?: number, options?: RequestOptions): Promise<string>;
  /** The caller's sessions, newest first (`page` from 1, default 1; `page_size` 1 to 100, default 20). Needs a login. */
  sessions(params?: { page?: number; page_size?: number; pageSize?: number }, options?: RequestOptions): Promise<Session[]>;
  /** Deletes a session by its `sess_id` (or `id`). Needs a login. */
  deleteSession(sessionId: string, options?: RequestOptions): Promise<unknown>;
  /** A session's messages. Needs a login. */
  chatHistory(sessionId: string, options?: RequestOptions): Promise<HistoryMessage[]>;
  /** Whether the login cookie works; the three states resolve, another answer rejects. */
  loginState(options?: RequestOptions): Promise<LoginState>;
}

/** Login options: the client's, plus where the SSO is and a CA file (camelCase too). */
export interface LoginOptions extends ClientOptions {
  /** Default `"https://sso.ustb.edu.cn"`. */
  sso_base_url?: string;
  ssoBaseURL?: string;
  ssoBaseUrl?: string;
  /** Default `"https://sis.ustb.edu.cn"`. */
  sis_base_url?: string;
  sisBaseURL?: string;
  sisBaseUrl?: string;
  /** A PEM file whose certificates are trusted instead of the bundled root set. */
  ca_file?: string;
  caFile?: string;
}

/** Where a QR code login is (`ustb_login_state`); test/header.test.js checks it against the header. */
export declare const QrState: Readonly<{
  WAITING: 0;
  SCANNED: 1;
  CONFIRMED: 2;
  EXPIRED: 3;
  FAILED: 4;
}>;

/** One of the `QrState` values. */
export type QrStateCode = (typeof QrState)[keyof typeof QrState];

/** `x` for `smsSend` that lets the library solve the slider puzzle (`USTB_PUZZLE_AUTO`). */
export declare const PUZZLE_AUTO: -1;

/**
 * A login through the university SSO (WeChat QR code or SMS code). One call at a time (another
 * throws `Status.INVALID_ARGUMENT`, busy); network calls run on a worker thread and take a
 * `signal`; `close()` cancels a call in flight.
 */
export declare class Login {
  constructor(options?: LoginOptions);
  /** Frees the login (after a call in flight, which it cancels, returns). Idempotent. */
  close(): void;
  /** Starts the QR login or renews the QR code. */
  qrStart(options?: RequestOptions): Promise<void>;
  /** The current QR code as PNG bytes (a copy). */
  qrPng(): Buffer;
  /** The current QR code as text for a terminal. */
  qrText(): string;
  /** The SSO page that shows the QR code (a one-time token: do not log it). */
  qrPageUrl(): string;
  /** Waits up to `timeoutMs` for a change: WAITING, SCANNED, CONFIRMED or EXPIRED (failures reject). */
  wait(timeoutMs: number, options?: RequestOptions): Promise<Exclude<QrStateCode, 4>>;
  /** Fetches a slider puzzle for a person to solve. */
  smsPuzzle(options?: RequestOptions): Promise<void>;
  /** The current puzzle's PNG images (copies). */
  puzzleImages(): { background: Buffer; piece: Buffer };
  /** The library's answer to the current puzzle. */
  puzzleSolve(): number;
  /** Sends the SMS code to `phone`; `x` the puzzle answer or `PUZZLE_AUTO` (the default). */
  smsSend(phone: string, x?: number, options?: RequestOptions): Promise<void>;
  /** Submits the SMS code and completes the login. */
  smsSubmit(code: string, options?: RequestOptions): Promise<void>;
  /** The `cookie_vjuid_login` value once logged in (a secret). */
  cookie(): string;
  /** A new client with the login's options and cookie. */
  client(): Client;
  /** Gives an existing client the login's cookie. */
  install(client: Client): void;
}

export default Client;
