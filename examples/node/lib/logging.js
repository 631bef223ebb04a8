// The library's log lines routed to a JS logger (ustb_set_log_callback).
//
// koffi runs a callback that another thread calls on the main thread, while that thread waits
// for it. ustb_set_log_callback waits for callbacks running on other threads, so called on the
// main thread it could wait for a callback that is queued behind it: a deadlock. Hence one
// callback, registered once for the process (never unregistered), that hands each line to the
// JS logger of the moment; and ustb_set_log_callback runs on a worker thread, one call at a time.
import koffi from 'koffi';
import { loadLibrary, callAsync } from './native.js';
import { Status, UstbError, takeError } from './errors.js';

/** The library's log levels (`USTB_LOG_*`): a line is logged at its level or a more important one. */
export const LogLevel = Object.freeze({ OFF: 0, ERROR: 1, WARN: 2, INFO: 3, DEBUG: 4 });

/** Level names by value, as the logger receives them. */
const NAMES = ['off', 'error', 'warn', 'info', 'debug'];

/** @type {((level: string, message: string) => void) | Record<string, any> | null} */
let current = null;
/** @type {unknown} the registered koffi callback, made on the first setLogger */
let trampoline = null;
/** @type {Promise<unknown>} serialises setLogger calls, so the last one wins */
let queue = Promise.resolve();
/** The current logger threw, and a warning said so (once per logger). */
let warned = false;

/** The registered callback: runs on the main thread, whichever thread logged. */
function deliver(_userdata, level, message) {
  const logger = current;
  if (logger === null) return;
  const name = NAMES[level] ?? 'debug';
  try {
    if (typeof logger === 'function') logger(name, message);
    else logger[name](message);
  } catch (e) {
    // A throw must not unwind into the C library; tell the user without stopping the call.
    if (warned) return;
    warned = true;
    process.emitWarning(`the ustb-openai logger threw: ${e instanceof Error ? e.message : e}`, 'UstbLoggerWarning');
  }
}

/** @param {unknown} level a LogLevel value or its name (`'info'`) */
function levelValue(level) {
  const value = typeof level === 'string' ? NAMES.indexOf(level.toLowerCase()) : level;
  if (typeof value === 'number' && Number.isInteger(value) && value >= LogLevel.OFF && value <= LogLevel.DEBUG) {
    return value;
  }
  throw new UstbError(`the log level must be one of ${NAMES.join(', ')} (or 0 to 4), not ${String(level)}`, {
    status: Status.INVALID_ARGUMENT,
    statusName: 'USTB_INVALID_ARGUMENT',
  });
}

/** @param {unknown} logger */
function checkLogger(logger) {
  if (logger === null || typeof logger === 'function') return;
  const ok = typeof logger === 'object' && NAMES.slice(1).every((n) => typeof (/** @type {any} */ (logger))[n] === 'function');
  if (!ok) {
    throw new UstbError('the logger must be null, a function (level, message) or an object with error, warn, info and debug methods', {
      status: Status.INVALID_ARGUMENT,
      statusName: 'USTB_INVALID_ARGUMENT',
    });
  }
}

/**
 * Routes the library's log lines (process-wide) to `logger`: a function `(level, message)`
 * with `level` one of `'error'`, `'warn'`, `'info'`, `'debug'`, or an object with those
 * methods (`console`, pino, winston). `options.level` (default `'info'`) is the least important
 * level passed on. `null` removes the logger; the library then logs to stderr when `USTB_LOG`
 * is set, else not at all. Resolves once the library uses the new setting.
 * @param {((level: string, message: string) => void) | Record<string, any> | null} logger
 * @param {{level?: string | number}} [options]
 * @returns {Promise<void>}
 */
export async function setLogger(logger, options = {}) {
  checkLogger(logger);
  const level = logger === null ? LogLevel.OFF : levelValue(options.level ?? 'info');
  const api = loadLibrary(); // declares the callback type registered below
  trampoline ??= koffi.register(deliver, 'ustb_log_callback *');
  const run = async () => {
    const previous = current;
    current = logger; // lines still logged under the old setting go to the new logger
    warned = false;
    const err = [null];
    const status = await callAsync(api.setLogCallback, logger === null ? null : trampoline, null, level, err);
    if (status !== Status.OK) {
      current = previous;
      throw takeError(status, err[0]);
    }
  };
  const result = queue.then(run);
  queue = result.catch(() => {});
  return result;
}
