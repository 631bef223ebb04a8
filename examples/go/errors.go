package ustb

// #include "ustb_openai.h"
import "C"

import (
	"encoding/json"
	"errors"
)

// Status is the library's result code (ustb_status).
//
// Status also implements error, so that each error status doubles as a sentinel:
// errors.Is(err, ustb.ErrAuth) is true for any *Error with StatusAuthError.
type Status int

// The statuses of the C API. OK, EndOfStream and Stopped are normal outcomes; the wrapper
// turns them into nil, io.EOF and nil.
const (
	StatusOK              Status = C.USTB_OK
	StatusEndOfStream     Status = C.USTB_END_OF_STREAM
	StatusStopped         Status = C.USTB_STOPPED
	StatusInvalidArgument Status = C.USTB_INVALID_ARGUMENT
	StatusInvalidRequest  Status = C.USTB_INVALID_REQUEST
	StatusConnectError    Status = C.USTB_CONNECT_ERROR
	StatusTimeout         Status = C.USTB_TIMEOUT
	StatusConnectionLost  Status = C.USTB_CONNECTION_LOST
	StatusHTTPStatus      Status = C.USTB_HTTP_STATUS
	StatusAPIError        Status = C.USTB_API_ERROR
	StatusAuthError       Status = C.USTB_AUTH_ERROR
	StatusProtocolError   Status = C.USTB_PROTOCOL_ERROR
	StatusTruncated       Status = C.USTB_TRUNCATED
	StatusTooLarge        Status = C.USTB_TOO_LARGE
	StatusCancelled       Status = C.USTB_CANCELLED
	StatusPanic           Status = C.USTB_PANIC
)

// Sentinels for errors.Is.
//
// ErrAuth means the login is missing or has expired (the server's 10042 "请登录"), or that an
// SSO QR session became invalid: log in again (NewLogin, then the QR code or an SMS code) and
// give the client the new cookie with Login.Install, or make a new one with Login.Client.
var (
	ErrInvalidArgument error = StatusInvalidArgument
	ErrInvalidRequest  error = StatusInvalidRequest
	ErrConnect         error = StatusConnectError
	ErrTimeout         error = StatusTimeout
	ErrConnectionLost  error = StatusConnectionLost
	ErrHTTPStatus      error = StatusHTTPStatus
	ErrAPI             error = StatusAPIError
	ErrAuth            error = StatusAuthError // the login is missing or expired: log in again
	ErrProtocol        error = StatusProtocolError
	ErrTruncated       error = StatusTruncated
	ErrTooLarge        error = StatusTooLarge
	ErrCancelled       error = StatusCancelled
	ErrPanic           error = StatusPanic
)

// String is the C name, e.g. "USTB_TIMEOUT" (from ustb_status_name, static storage).
func (s Status) String() string { return C.GoString(C.ustb_status_name(C.int(s))) }

func (s Status) Error() string { return "ustb: " + s.String() }

// Error is a failed call, copied out of the C library's ustb_error (which is freed at once).
type Error struct {
	Status     Status
	Message    string // one line of English; never contains cookies
	Type       string // the detail's "type", e.g. "timeout", "api_error"
	APICode    int64  // the server's envelope code e (e.g. 10042, 4028); 0 if none
	APIMessage string // the server's envelope message m (e.g. "请登录"); "" if none
	HTTPStatus int    // 0 when no reply was received

	cause error // e.g. ctx.Err() when a cancelled context made the call fail
}

func (e *Error) Error() string {
	s := "ustb: " + e.Status.String() + ": " + e.Message // the message already names e and m
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Is matches a Status sentinel, e.g. errors.Is(err, ustb.ErrTruncated).
func (e *Error) Is(target error) bool {
	s, ok := target.(Status)
	return ok && s == e.Status
}

// Unwrap gives the cause, e.g. context.Canceled for a stream whose context was cancelled.
func (e *Error) Unwrap() error { return e.cause }

// IsStatus reports whether err is (or wraps) an *Error with status s.
func IsStatus(err error, s Status) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == s
}

// newError copies a C error into Go memory and frees it. Every error pointer a C call
// hands out goes through here exactly once; cerr may be NULL.
func newError(st C.ustb_status, cerr *C.ustb_error) error {
	e := &Error{Status: Status(st), Message: Status(st).String()}
	if cerr == nil {
		return e
	}
	defer C.ustb_error_free(cerr)
	e.Status = Status(C.ustb_error_status(cerr))
	e.Message = C.GoString(C.ustb_error_message(cerr))
	e.APICode = int64(C.ustb_error_api_code(cerr))
	e.HTTPStatus = int(C.ustb_error_http_status(cerr))
	var d struct {
		Type string  `json:"type"`
		M    *string `json:"m"`
	}
	if json.Unmarshal([]byte(C.GoString(C.ustb_error_detail(cerr))), &d) == nil {
		e.Type = d.Type
		if d.M != nil {
			e.APIMessage = *d.M
		}
	}
	return e
}

// decodeError reports JSON from the library that does not fit the Go types (a bug on one
// side or the other, so it is a protocol error).
func decodeError(what string, err error) error {
	return &Error{Status: StatusProtocolError, Type: "decode", Message: "decoding " + what + ": " + err.Error(), cause: err}
}
