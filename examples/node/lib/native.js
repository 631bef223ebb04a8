// koffi bindings for libustb_openai. Only this file knows about pointers; everything it
// hands out is BigInt handles, JS strings and plain objects.
import koffi from 'koffi';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The library bundled into the npm package by `npm pack` (scripts/bundle-library.js). */
export const BUNDLED = join(here, '..', 'prebuilds', `${process.platform}-${process.arch}`, 'libustb_openai.so');

/** What the system's dynamic loader is asked for last (the installed soname). */
export const SYSTEM = 'libustb_openai.so.0';

/**
 * Which library to load, in this order: `explicit` (the argument of `loadLibrary`), the file
 * in USTB_OPENAI_LIB, libustb_openai.so in the folder USTB_LIB_DIR, the copy bundled in the
 * package, the system loader's search (ldconfig cache, LD_LIBRARY_PATH).
 * @param {string} [explicit]
 * @param {Record<string, string | undefined>} [env]
 * @param {(path: string) => boolean} [exists]
 */
export function libraryPath(explicit, env = process.env, exists = existsSync) {
  if (explicit) return explicit;
  if (env.USTB_OPENAI_LIB) return env.USTB_OPENAI_LIB;
  if (env.USTB_LIB_DIR) return join(env.USTB_LIB_DIR, 'libustb_openai.so');
  if (exists(BUNDLED)) return BUNDLED;
  return SYSTEM;
}

// The C functions used, as koffi prototypes. `_Out_` marks out-parameters, which koffi copies
// back into one-element arrays. Library-owned strings (`char **` outs, and the argument of
// ustb_string_free) are declared `void` pointers on purpose: koffi must not convert, and so
// lose, the pointer; takeString() decodes it and hands it back to ustb_string_free exactly
// once. Borrowed `const char *` returns (error message/detail, names) are copied by koffi,
// which frees nothing. Not bound: ustb_chat_create, since open + collect does the same and can
// be cancelled; the push API (ustb_chat_stream_for_each/_callback), since koffi would have to
// queue each callback from the worker thread to the main thread;
// ustb_chunk_delta, since JSON.parse does that job here; ustb_chat_stream_cancel, since a
// ustb_canceller does the same and may outlive its stream.
// ustb_set_log_callback takes one callback registered once for the process (lib/logging.js).
export const PROTOTYPES = Object.freeze({
  version: 'const char *ustb_version(void)',
  statusName: 'const char *ustb_status_name(int status)',
  stringFree: 'void ustb_string_free(void *s)',

  clientNew: 'int ustb_client_new(const char *options, _Out_ ustb_client **client, _Out_ ustb_error **err)',
  clientFree: 'void ustb_client_free(ustb_client *client)',
  clientCookies: 'int ustb_client_cookies(const ustb_client *client, _Out_ void **json, _Out_ ustb_error **err)',
  clientUserInfo: 'int ustb_client_user_info(const ustb_client *client, _Out_ void **json, _Out_ ustb_error **err)',

  cancellerNew: 'int ustb_canceller_new(_Out_ ustb_canceller **canceller, _Out_ ustb_error **err)',
  webInfo: 'int ustb_client_web_info(const ustb_client *client, const ustb_canceller *cancel, _Out_ void **json, _Out_ ustb_error **err)',
  apps: 'int ustb_client_apps(const ustb_client *client, const ustb_canceller *cancel, _Out_ void **json, _Out_ ustb_error **err)',
  appDetail: 'int ustb_client_app_detail(const ustb_client *client, int64_t compose_id, const ustb_canceller *cancel, _Out_ void **json, _Out_ ustb_error **err)',
  pageSettings: 'int ustb_client_page_settings(const ustb_client *client, int64_t compose_id, const ustb_canceller *cancel, _Out_ void **json, _Out_ ustb_error **err)',
  newSessionId: 'int ustb_client_new_session_id(const ustb_client *client, int64_t compose_id, const ustb_canceller *cancel, _Out_ void **json, _Out_ ustb_error **err)',
  sessions: 'int ustb_client_sessions(const ustb_client *client, uint32_t page, uint32_t page_size, const ustb_canceller *cancel, _Out_ void **json, _Out_ ustb_error **err)',
  sessionDelete: 'int ustb_client_session_delete(const ustb_client *client, const char *session_id, const ustb_canceller *cancel, _Out_ void **json, _Out_ ustb_error **err)',
  chatHistory: 'int ustb_client_chat_history(const ustb_client *client, const char *session_id, const ustb_canceller *cancel, _Out_ void **json, _Out_ ustb_error **err)',
  models: 'int ustb_client_models(const ustb_client *client, int64_t compose_id, const ustb_canceller *cancel, _Out_ void **json, _Out_ ustb_error **err)',
  loginState: 'int ustb_client_login_state(const ustb_client *client, const ustb_canceller *cancel, _Out_ void **json, _Out_ ustb_error **err)',

  streamOpen: 'int ustb_chat_stream_open(const ustb_client *client, const char *req, _Out_ ustb_chat_stream **stream, _Out_ ustb_error **err)',
  streamNext: 'int ustb_chat_stream_next(ustb_chat_stream *stream, _Out_ void **chunk, _Out_ size_t *len, _Out_ ustb_error **err)',
  streamCollect: 'int ustb_chat_stream_collect(ustb_chat_stream *stream, _Out_ void **json, _Out_ ustb_error **err)',
  streamCanceller: 'int ustb_chat_stream_canceller(const ustb_chat_stream *stream, _Out_ ustb_canceller **canceller, _Out_ ustb_error **err)',
  cancellerCancel: 'void ustb_canceller_cancel(const ustb_canceller *canceller)',
  cancellerFree: 'void ustb_canceller_free(ustb_canceller *canceller)',
  streamFree: 'void ustb_chat_stream_free(ustb_chat_stream *stream)',

  errorStatus: 'int ustb_error_status(const ustb_error *err)',
  errorMessage: 'const char *ustb_error_message(const ustb_error *err)',
  errorDetail: 'const char *ustb_error_detail(const ustb_error *err)',
  errorApiCode: 'int64_t ustb_error_api_code(const ustb_error *err)',
  errorHttpStatus: 'uint16_t ustb_error_http_status(const ustb_error *err)',
  errorFree: 'void ustb_error_free(ustb_error *err)',

  setLogCallback: 'int ustb_set_log_callback(ustb_log_callback *cb, void *userdata, int min_level, _Out_ ustb_error **err)',

  // Login (src/ffi/login.rs). Borrowed byte buffers (`const uint8_t **`) are `void` pointers
  // too: copyBytes() copies them out at once, on the main thread, while no other call on the
  // login runs (the wrapper makes sure of that), so the library cannot replace them meanwhile.
  loginNew: 'int ustb_login_new(const char *options, _Out_ ustb_login **login, _Out_ ustb_error **err)',
  loginFree: 'void ustb_login_free(ustb_login *login)',
  loginQrStart: 'int ustb_login_qr_start(ustb_login *login, const ustb_canceller *cancel, _Out_ ustb_error **err)',
  loginQrPng: 'int ustb_login_qr_png(const ustb_login *login, _Out_ void **png, _Out_ size_t *len, _Out_ ustb_error **err)',
  loginQrText: 'int ustb_login_qr_text(const ustb_login *login, _Out_ void **text, _Out_ ustb_error **err)',
  loginQrPageUrl: 'int ustb_login_qr_page_url(const ustb_login *login, _Out_ void **url, _Out_ ustb_error **err)',
  loginQrWait: 'int ustb_login_qr_wait(ustb_login *login, uint32_t timeout_ms, const ustb_canceller *cancel, _Out_ int *state, _Out_ ustb_error **err)',
  loginSmsPuzzle: 'int ustb_login_sms_puzzle(ustb_login *login, const ustb_canceller *cancel, _Out_ ustb_error **err)',
  loginPuzzleImages: 'int ustb_login_puzzle_images(const ustb_login *login, _Out_ void **background, _Out_ size_t *background_len, _Out_ void **piece, _Out_ size_t *piece_len, _Out_ ustb_error **err)',
  loginPuzzleSolve: 'int ustb_login_puzzle_solve(const ustb_login *login, _Out_ uint32_t *x, _Out_ ustb_error **err)',
  loginSmsSend: 'int ustb_login_sms_send(ustb_login *login, const char *phone, int32_t x, const ustb_canceller *cancel, _Out_ ustb_error **err)',
  loginSmsSubmit: 'int ustb_login_sms_submit(ustb_login *login, const char *code, const ustb_canceller *cancel, _Out_ ustb_error **err)',
  loginCookie: 'int ustb_login_cookie(const ustb_login *login, _Out_ void **cookie, _Out_ ustb_error **err)',
  loginClient: 'int ustb_login_client(const ustb_login *login, _Out_ ustb_client **client, _Out_ ustb_error **err)',
  loginInstall: 'int ustb_login_install(const ustb_login *login, const ustb_client *client, _Out_ ustb_error **err)',
});

/** @type {Record<string, any> | null} the bound functions, by PROTOTYPES name */
let api = null;

/**
 * Loads the C library once and declares its functions. Later calls return the same bindings
 * (a second, different path is an error: two copies of the library would not share handles).
 * @param {string} [path]
 */
export function loadLibrary(path) {
  if (api) {
    if (path && path !== api.path) throw new Error(`libustb_openai already loaded from ${api.path}`);
    return api;
  }
  const file = libraryPath(path);
  let lib;
  try {
    lib = koffi.load(file);
  } catch (err) {
    throw new Error(
      `cannot load the ustb-openai C library from ${file}: ${err.message}. ` +
        'Pass its path to loadLibrary(path), set USTB_OPENAI_LIB (the file) or USTB_LIB_DIR (its folder), ' +
        'or install it (make install) where the dynamic loader finds it.',
      { cause: err },
    );
  }
  // Opaque handles. They come back as BigInt (koffi 3) or null.
  koffi.opaque('ustb_client');
  koffi.opaque('ustb_chat_stream');
  koffi.opaque('ustb_canceller');
  koffi.opaque('ustb_error');
  koffi.opaque('ustb_login');
  koffi.proto('void ustb_log_callback(void *userdata, int level, const char *message)');
  api = { path: file };
  for (const [name, proto] of Object.entries(PROTOTYPES)) api[name] = lib.func(proto);
  return api;
}

/**
 * Copies a library-owned string into a JS string and frees it. NULL gives null.
 * @param {bigint|null} ptr
 * @param {number} [len] byte length, if known (saves a strlen)
 */
export function takeString(ptr, len) {
  if (ptr === null || ptr === undefined || ptr === 0n) return null;
  try {
    return len === undefined ? koffi.decode.string(ptr) : koffi.decode.string(ptr, len);
  } finally {
    api.stringFree(ptr);
  }
}

/**
 * Copies `len` bytes the library lends at `ptr` into a new Buffer (the library's memory is
 * neither kept nor freed).
 * @param {bigint|null} ptr
 * @param {number} len
 */
export function copyBytes(ptr, len) {
  if (ptr === null || ptr === undefined || ptr === 0n || len === 0) return Buffer.alloc(0);
  return Buffer.from(new Uint8Array(koffi.view(ptr, len)));
}

/**
 * Runs a declared function on a libuv worker thread; resolves with its return value once
 * koffi has copied the out-parameters back (on the main thread).
 * @param {Function & {async: Function}} fn
 * @param {...any} args
 * @returns {Promise<any>}
 */
export function callAsync(fn, ...args) {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err, res) => (err ? reject(err) : resolve(res)));
  });
}
