import { loadLibrary } from './native.js';

/** The C library's status codes (`ustb_status`). */
export const Status = Object.freeze({
  OK: 0,
  END_OF_STREAM: 1,
  STOPPED: 2,
  INVALID_ARGUMENT: 3,
  INVALID_REQUEST: 4,
  CONNECT_ERROR: 5,
  TIMEOUT: 6,
  CONNECTION_LOST: 7,
  HTTP_STATUS: 8,
  API_ERROR: 9,
  /** Not logged in, or the login expired (10042 `请登录`); for a QR wait: the QR session is invalid. Log in again (`Login`). */
  AUTH_ERROR: 10,
  PROTOCOL_ERROR: 11,
  TRUNCATED: 12,
  TOO_LARGE: 13,
  CANCELLED: 14,
  PANIC: 15,
});

/**
 * A failed library call, carrying everything the C `ustb_error` said. `Status.AUTH_ERROR`
 * means the login cookie is missing or expired: log in again with `Login` (QR code or SMS),
 * then `login.install(client)` or `login.client()`, and store the new `login.cookie()`.
 */
export class UstbError extends Error {
  /**
   * @param {string} message
   * @param {{status: number, statusName: string, apiCode?: number, httpStatus?: number,
   *          detail?: Record<string, any>}} fields
   * @param {ErrorOptions} [options]
   */
  constructor(message, fields, options) {
    super(message, options);
    this.name = 'UstbError';
    /** @type {number} a `Status` value */
    this.status = fields.status;
    /** @type {string} e.g. `"USTB_AUTH_ERROR"` */
    this.statusName = fields.statusName;
    /** @type {number} the server's envelope code `e` (e.g. 10042), 0 if none */
    this.apiCode = fields.apiCode ?? 0;
    /** @type {number} HTTP status of the reply, 0 if none was received */
    this.httpStatus = fields.httpStatus ?? 0;
    /** @type {Record<string, any>} the library's detail JSON (type, message, e, m, http_status) */
    this.detail = fields.detail ?? {};
    /** @type {string|null} the detail's `type`, e.g. `"auth_error"` or `"timeout"` */
    this.type = this.detail.type ?? null;
  }
}

/**
 * Builds a UstbError from a returned status and the call's `ustb_error *`, then frees that
 * error object (every error handed out is freed here, exactly once).
 * @param {number} status
 * @param {bigint|null} errPtr
 * @param {ErrorOptions} [options]
 */
export function takeError(status, errPtr, options) {
  const api = loadLibrary();
  try {
    if (errPtr === null || errPtr === undefined) {
      const statusName = api.statusName(status);
      return new UstbError(statusName, { status, statusName }, options);
    }
    const st = api.errorStatus(errPtr);
    let detail = {};
    try {
      detail = JSON.parse(api.errorDetail(errPtr));
    } catch {
      // The library promises JSON; a bad detail must not hide the error itself.
    }
    return new UstbError(api.errorMessage(errPtr), {
      status: st,
      statusName: api.statusName(st),
      apiCode: Number(api.errorApiCode(errPtr)),
      httpStatus: api.errorHttpStatus(errPtr),
      detail,
    }, options);
  } finally {
    if (errPtr) api.errorFree(errPtr);
  }
}
