package ustb

/*
#include <stdint.h>
#include <stdlib.h>
#include "ustb_openai.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"math"
	"runtime"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Logging in through the university SSO (WeChat QR code or SMS code), to get the
// cookie_vjuid_login cookie and a ready Client (docs/PROTOCOL.md section 6).
//
// QR code: NewLogin → QRStart → show QRPNG (or QRText in a terminal) → Wait until
// QRConfirmed (on QRExpired, QRStart again for a new code) → Client or Cookie.
//
// SMS code: NewLogin → SendSMS(phone, PuzzleAuto) (the library solves the slider puzzle; or
// SMSPuzzle + PuzzleImages for a person to solve it, then SendSMS(phone, x)) → SubmitSMS(code)
// → Client or Cookie.

// LoginOptions configure a Login: the options of the Client it makes, plus the SSO's hosts.
type LoginOptions struct {
	Options           // the client's options; BaseURL is also where the SSO sends the browser back to
	SSOBaseURL string // default "https://sso.ustb.edu.cn"
	SISBaseURL string // default "https://sis.ustb.edu.cn"
	CAFile     string // a PEM file trusted instead of the bundled roots (a network that intercepts TLS)
}

func (o LoginOptions) optionsJSON() ([]byte, error) {
	js, err := o.Options.optionsJSON()
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, decodeError("options", err)
	}
	for k, v := range map[string]string{"sso_base_url": o.SSOBaseURL, "sis_base_url": o.SISBaseURL, "ca_file": o.CAFile} {
		if v != "" {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// QRState is where a QR code login is (the answer of Login.Wait).
type QRState int

const (
	QRWaiting   QRState = C.USTB_LOGIN_WAITING   // nobody has scanned the code yet
	QRScanned   QRState = C.USTB_LOGIN_SCANNED   // scanned on a phone, not yet confirmed there
	QRConfirmed QRState = C.USTB_LOGIN_CONFIRMED // the login is complete: Cookie and Client work
	QRExpired   QRState = C.USTB_LOGIN_EXPIRED   // call QRStart for a new code
	QRFailed    QRState = C.USTB_LOGIN_FAILED    // Wait returned an error
)

func (s QRState) String() string {
	switch s {
	case QRWaiting:
		return "waiting"
	case QRScanned:
		return "scanned"
	case QRConfirmed:
		return "confirmed"
	case QRExpired:
		return "expired"
	case QRFailed:
		return "failed"
	}
	return "unknown"
}

// PuzzleAuto as SendSMS's x makes the library fetch and solve the slider puzzle itself.
const PuzzleAuto = int(C.USTB_PUZZLE_AUTO)

// Login is one login in progress and, once it succeeded, its cookie. Its methods may be
// called from any goroutine; they run one at a time (a call waits for the one running).
// Calls that use the network take a ctx: cancelling it stops them at once with an error
// wrapping ctx.Err() and ErrCancelled. Close it when done.
type Login struct {
	// mu serializes the calls: the C login allows one at a time, and the bytes QRPNG and
	// PuzzleImages copy out stay valid only until the next call.
	mu      sync.Mutex
	ptr     *C.ustb_login
	cleanup runtime.Cleanup
}

// NewLogin creates a login. It never touches the network.
func NewLogin(opts LoginOptions) (*Login, error) {
	js, err := opts.optionsJSON()
	if err != nil {
		return nil, err
	}
	cs := C.CString(string(js))
	defer C.free(unsafe.Pointer(cs))
	var ptr *C.ustb_login
	var cerr *C.ustb_error
	if st := C.ustb_login_new(cs, &ptr, &cerr); st != C.USTB_OK {
		return nil, newError(st, cerr)
	}
	l := &Login{ptr: ptr}
	// A forgotten Close frees the C login (and forgets its cookie) once l is unreachable.
	l.cleanup = runtime.AddCleanup(l, func(p *C.ustb_login) { C.ustb_login_free(p) }, ptr)
	return l, nil
}

// Close frees the login, waiting for a call in progress; its cookie is forgotten (clients
// made from it keep theirs). Closing twice is a no-op.
func (l *Login) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ptr != nil {
		l.cleanup.Stop()
		C.ustb_login_free(l.ptr)
		l.ptr = nil
	}
	return nil
}

// with runs fn with the C login, holding the lock for the whole call.
func (l *Login) with(fn func(*C.ustb_login) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ptr == nil {
		return ErrClosed
	}
	return fn(l.ptr)
}

// network runs a call that takes a canceller, tied to ctx.
func (l *Login) network(ctx context.Context, call func(*C.ustb_login, *C.ustb_canceller, **C.ustb_error) C.ustb_status) error {
	return withCanceller(ctx, func(k *C.ustb_canceller) error {
		return l.with(func(p *C.ustb_login) error {
			var cerr *C.ustb_error
			if st := call(p, k, &cerr); st != C.USTB_OK {
				return newError(st, cerr)
			}
			return nil
		})
	})
}

// local runs a call without network traffic that only reports a status.
func (l *Login) local(call func(*C.ustb_login, **C.ustb_error) C.ustb_status) error {
	return l.with(func(p *C.ustb_login) error {
		var cerr *C.ustb_error
		if st := call(p, &cerr); st != C.USTB_OK {
			return newError(st, cerr)
		}
		return nil
	})
}

// str runs a call that hands out a library string.
func (l *Login) str(call func(*C.ustb_login, **C.char, **C.ustb_error) C.ustb_status) (string, error) {
	var s []byte
	err := l.with(func(p *C.ustb_login) (err error) {
		s, err = callString(func(out **C.char, cerr **C.ustb_error) C.ustb_status { return call(p, out, cerr) })
		return err
	})
	return string(s), err
}

// QRStart starts the QR code login, or renews the code (after QRExpired, or any time): it
// asks the SSO for a new code and downloads its image. Then show it and call Wait.
func (l *Login) QRStart(ctx context.Context) error {
	return l.network(ctx, func(p *C.ustb_login, k *C.ustb_canceller, e **C.ustb_error) C.ustb_status {
		return C.ustb_login_qr_start(p, k, e)
	})
}

// QRPNG returns the current QR code as PNG bytes (a copy). ErrInvalidArgument before QRStart.
func (l *Login) QRPNG() ([]byte, error) {
	var png []byte
	err := l.with(func(p *C.ustb_login) error {
		var data *C.uint8_t
		var n C.size_t
		var cerr *C.ustb_error
		if st := C.ustb_login_qr_png(p, &data, &n, &cerr); st != C.USTB_OK {
			return newError(st, cerr)
		}
		png = C.GoBytes(unsafe.Pointer(data), C.int(n))
		return nil
	})
	return png, err
}

// QRText returns the current QR code drawn with Unicode half blocks for a terminal (dark
// modules filled; print it on a light background).
func (l *Login) QRText() (string, error) {
	return l.str(func(p *C.ustb_login, out **C.char, e **C.ustb_error) C.ustb_status {
		return C.ustb_login_qr_text(p, out, e)
	})
}

// QRPageURL returns the SSO web page that shows the current QR code, for a browser. It
// carries a one-time token: do not log it.
func (l *Login) QRPageURL() (string, error) {
	return l.str(func(p *C.ustb_login, out **C.char, e **C.ustb_error) C.ustb_status {
		return C.ustb_login_qr_page_url(p, out, e)
	})
}

// Wait waits up to timeout for the QR code's state to change and returns it: QRWaiting or
// QRScanned (no change within the time, or newly scanned), QRConfirmed (the cookie is
// ready) or QRExpired (call QRStart again). On error the state is QRFailed: ErrAuth when the
// SSO says the QR session is invalid (start again), ErrCancelled when ctx was cancelled, or
// a network error (after retries while time remained; waiting again is allowed).
func (l *Login) Wait(ctx context.Context, timeout time.Duration) (QRState, error) {
	if timeout < 0 {
		return QRFailed, &Error{Status: StatusInvalidArgument, Type: "invalid_argument", Message: "timeout must not be negative"}
	}
	ms := C.uint32_t(min(timeout.Milliseconds(), math.MaxUint32))
	state := C.ustb_login_state(C.USTB_LOGIN_FAILED)
	err := l.network(ctx, func(p *C.ustb_login, k *C.ustb_canceller, e **C.ustb_error) C.ustb_status {
		return C.ustb_login_qr_wait(p, ms, k, &state, e)
	})
	if err != nil {
		return QRFailed, err
	}
	return QRState(state), nil
}

// SMSPuzzle fetches a new slider puzzle for a person to solve (see PuzzleImages); not needed
// with PuzzleAuto.
func (l *Login) SMSPuzzle(ctx context.Context) error {
	return l.network(ctx, func(p *C.ustb_login, k *C.ustb_canceller, e **C.ustb_error) C.ustb_status {
		return C.ustb_login_sms_puzzle(p, k, e)
	})
}

// PuzzleImages returns the current puzzle's two PNG images (copies): the background with a
// piece-shaped hole, and the piece (as tall as the background, transparent around the
// piece). The answer is how many pixels from the background's left edge the piece's left
// edge belongs. ErrInvalidArgument when there is no puzzle.
func (l *Login) PuzzleImages() (background, piece []byte, err error) {
	err = l.with(func(p *C.ustb_login) error {
		var bg, pc *C.uint8_t
		var bgLen, pcLen C.size_t
		var cerr *C.ustb_error
		if st := C.ustb_login_puzzle_images(p, &bg, &bgLen, &pc, &pcLen, &cerr); st != C.USTB_OK {
			return newError(st, cerr)
		}
		background = C.GoBytes(unsafe.Pointer(bg), C.int(bgLen))
		piece = C.GoBytes(unsafe.Pointer(pc), C.int(pcLen))
		return nil
	})
	return background, piece, err
}

// SolvePuzzle returns the library's answer to the current puzzle (image matching; no
// network).
func (l *Login) SolvePuzzle() (int, error) {
	var x C.uint32_t
	err := l.local(func(p *C.ustb_login, e **C.ustb_error) C.ustb_status {
		return C.ustb_login_puzzle_solve(p, &x, e)
	})
	return int(x), err
}

// SendSMS sends an SMS code to phone (11 digits starting with 1; checked before any
// traffic). x answers the current puzzle (one answer per puzzle), or is PuzzleAuto. The SSO's
// refusals are ErrAPI errors: APICode 5054 (wrong puzzle answer: fetch a new puzzle) or 201
// (a code was sent moments ago: wait a minute). The phone number never appears in errors.
func (l *Login) SendSMS(ctx context.Context, phone string, x int) error {
	if x < PuzzleAuto || x > math.MaxInt32 {
		return &Error{Status: StatusInvalidArgument, Type: "invalid_argument", Message: "the puzzle answer must be 0 or more, or PuzzleAuto"}
	}
	return l.withCString("phone", phone, func(cs *C.char) error {
		return l.network(ctx, func(p *C.ustb_login, k *C.ustb_canceller, e **C.ustb_error) C.ustb_status {
			return C.ustb_login_sms_send(p, cs, C.int32_t(x), k, e)
		})
	})
}

// SubmitSMS submits the code the phone received and completes the login. A refused code is
// an ErrAPI error (another try is allowed).
func (l *Login) SubmitSMS(ctx context.Context, code string) error {
	return l.withCString("code", code, func(cs *C.char) error {
		return l.network(ctx, func(p *C.ustb_login, k *C.ustb_canceller, e **C.ustb_error) C.ustb_status {
			return C.ustb_login_sms_submit(p, cs, k, e)
		})
	})
}

// withCString passes s to fn as a C string; C would cut it at a NUL byte, so that is refused
// (naming the argument only: it is a secret).
func (l *Login) withCString(name, s string, fn func(*C.char) error) error {
	if strings.IndexByte(s, 0) >= 0 {
		return &Error{Status: StatusInvalidArgument, Type: "invalid_argument", Message: name + " contains a NUL byte"}
	}
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	return fn(cs)
}

// Cookie returns the cookie_vjuid_login value the login obtained, to store securely (it is
// a secret) and pass later as Options.VJUIDLogin. ErrInvalidArgument before the login
// succeeded.
func (l *Login) Cookie() (string, error) {
	return l.str(func(p *C.ustb_login, out **C.char, e **C.ustb_error) C.ustb_status {
		return C.ustb_login_cookie(p, out, e)
	})
}

// Client returns a new client with the login's options and cookie. It never touches the
// network. ErrInvalidArgument before the login succeeded.
func (l *Login) Client() (*Client, error) {
	var ptr *C.ustb_client
	err := l.local(func(p *C.ustb_login, e **C.ustb_error) C.ustb_status {
		return C.ustb_login_client(p, &ptr, e)
	})
	if err != nil {
		return nil, err
	}
	return wrapClient(ptr), nil
}

// Install gives an existing client the login's cookie, e.g. after an ErrAuth error (its old
// login expired). Streams opened before keep their cookie.
func (l *Login) Install(c *Client) error {
	return c.with(func(cp *C.ustb_client) error {
		return l.local(func(p *C.ustb_login, e **C.ustb_error) C.ustb_status {
			return C.ustb_login_install(p, cp, e)
		})
	})
}
