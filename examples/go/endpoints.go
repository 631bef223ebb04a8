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
	"unsafe"
)

// The platform's other calls (docs/PROTOCOL.md section 5). Each blocks until the reply is
// read, bounded by the client's timeouts; cancelling ctx stops it at once (through a
// ustb_canceller) with an error wrapping ctx.Err() and ErrCancelled. The site's own data is
// handed out as json.RawMessage (its shapes are the server's, not ours); the model list, the
// login state and a new session id are typed.

// endpointCall is one ustb_client_* platform call with its arguments bound.
type endpointCall func(p *C.ustb_client, cancel *C.ustb_canceller, out **C.char, cerr **C.ustb_error) C.ustb_status

// newCallCanceller makes a canceller for platform calls (ustb_canceller_new).
func newCallCanceller() (*canceller, error) {
	var p *C.ustb_canceller
	var cerr *C.ustb_error
	if status := C.ustb_canceller_new(&p, &cerr); status != C.USTB_OK {
		return nil, newError(status, cerr)
	}
	c := &canceller{p: p}
	runtime.AddCleanup(c, func(p *C.ustb_canceller) { C.ustb_canceller_free(p) }, p)
	return c, nil
}

// withCanceller runs fn with a canceller tied to ctx (nil for a context that is never done).
// A cancelled call's error wraps ctx.Err().
func withCanceller(ctx context.Context, fn func(*C.ustb_canceller) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var canc *canceller
	var cp *C.ustb_canceller
	if ctx.Done() != nil {
		var err error
		if canc, err = newCallCanceller(); err != nil {
			return err
		}
		cp = canc.p
		// AfterFunc may fire after the call returned: the canceller is then only marked
		// cancelled, and it is used for this call alone.
		defer context.AfterFunc(ctx, canc.cancel)()
	}
	err := fn(cp)
	runtime.KeepAlive(canc) // its cleanup must not free it during the call
	if e, ok := err.(*Error); ok && e.Status == StatusCancelled {
		e.cause = ctx.Err()
	}
	return err
}

// endpoint runs call with a canceller tied to ctx and returns the JSON it hands out.
func (c *Client) endpoint(ctx context.Context, call endpointCall) (json.RawMessage, error) {
	var data []byte
	err := withCanceller(ctx, func(k *C.ustb_canceller) error {
		return c.with(func(p *C.ustb_client) (err error) {
			data, err = callString(func(out **C.char, cerr **C.ustb_error) C.ustb_status {
				return call(p, k, out, cerr)
			})
			return err
		})
	})
	return data, err
}

// WebInfo fetches the site's configuration (GET /common/web_info): name, logos, isCas, ….
func (c *Client) WebInfo(ctx context.Context) (json.RawMessage, error) {
	return c.endpoint(ctx, func(p *C.ustb_client, k *C.ustb_canceller, out **C.char, e **C.ustb_error) C.ustb_status {
		return C.ustb_client_web_info(p, k, out, e)
	})
}

// Apps lists the applications (GET /site/ai/compose_list): a JSON list of objects with id,
// name, desc, welcome_message, is_stream, model_ids, ….
func (c *Client) Apps(ctx context.Context) (json.RawMessage, error) {
	return c.endpoint(ctx, func(p *C.ustb_client, k *C.ustb_canceller, out **C.char, e **C.ustb_error) C.ustb_status {
		return C.ustb_client_apps(p, k, out, e)
	})
}

// AppDetail fetches one application (GET /site/ai/compose_detail). composeID 0 is the
// client's default (Options.ComposeID, 3 unless set); an unknown id is an ErrAPI error.
func (c *Client) AppDetail(ctx context.Context, composeID int64) (json.RawMessage, error) {
	return c.endpoint(ctx, func(p *C.ustb_client, k *C.ustb_canceller, out **C.char, e **C.ustb_error) C.ustb_status {
		return C.ustb_client_app_detail(p, C.int64_t(composeID), k, out, e)
	})
}

// PageSettings fetches an application's page settings (GET /site/voom/page-setting):
// model_select, deepThinking_select, networking_select, …. composeID as for AppDetail.
func (c *Client) PageSettings(ctx context.Context, composeID int64) (json.RawMessage, error) {
	return c.endpoint(ctx, func(p *C.ustb_client, k *C.ustb_canceller, out **C.char, e **C.ustb_error) C.ustb_status {
		return C.ustb_client_page_settings(p, C.int64_t(composeID), k, out, e)
	})
}

// NewSessionID asks the server for a new session id. Needs a login (ErrAuth without one).
func (c *Client) NewSessionID(ctx context.Context, composeID int64) (string, error) {
	data, err := c.endpoint(ctx, func(p *C.ustb_client, k *C.ustb_canceller, out **C.char, e **C.ustb_error) C.ustb_status {
		return C.ustb_client_new_session_id(p, C.int64_t(composeID), k, out, e)
	})
	if err != nil {
		return "", err
	}
	var id string
	if err := json.Unmarshal(data, &id); err != nil {
		return "", decodeError("session id", err)
	}
	return id, nil
}

// Sessions lists the caller's sessions, newest first (GET /site/voom/session_list): a JSON
// list of {id, sess_id, uid, compose_id, create_time, update_time, last_content, …}, empty
// past the last page. page counts from 1; pageSize is 1 to 100. Needs a login.
func (c *Client) Sessions(ctx context.Context, page, pageSize int) (json.RawMessage, error) {
	if page < 0 || pageSize < 0 || uint64(page) > math.MaxUint32 || uint64(pageSize) > math.MaxUint32 {
		return nil, &Error{Status: StatusInvalidArgument, Type: "invalid_argument", Message: "page and page_size must be 1 or more"}
	}
	return c.endpoint(ctx, func(p *C.ustb_client, k *C.ustb_canceller, out **C.char, e **C.ustb_error) C.ustb_status {
		return C.ustb_client_sessions(p, C.uint32_t(page), C.uint32_t(pageSize), k, out, e)
	})
}

// DeleteSession deletes a session by its sess_id (or numeric id); an id the server does not
// know is not an error. Needs a login.
func (c *Client) DeleteSession(ctx context.Context, sessionID string) error {
	_, err := c.sessionCall(ctx, sessionID, func(p *C.ustb_client, id *C.char, k *C.ustb_canceller, out **C.char, e **C.ustb_error) C.ustb_status {
		return C.ustb_client_session_delete(p, id, k, out, e)
	})
	return err
}

// ChatHistory fetches a session's messages (GET /site/voom/chat_history_info): a JSON list
// of objects with role, content, ct, …; an unknown session gives []. Needs a login.
func (c *Client) ChatHistory(ctx context.Context, sessionID string) (json.RawMessage, error) {
	return c.sessionCall(ctx, sessionID, func(p *C.ustb_client, id *C.char, k *C.ustb_canceller, out **C.char, e **C.ustb_error) C.ustb_status {
		return C.ustb_client_chat_history(p, id, k, out, e)
	})
}

// sessionCall runs a call that takes a session id (a C string for the call's duration).
func (c *Client) sessionCall(ctx context.Context, sessionID string,
	call func(*C.ustb_client, *C.char, *C.ustb_canceller, **C.char, **C.ustb_error) C.ustb_status) (json.RawMessage, error) {
	// C would cut the id at a NUL byte, and call another session.
	if strings.IndexByte(sessionID, 0) >= 0 {
		return nil, &Error{Status: StatusInvalidArgument, Type: "invalid_argument", Message: "session_id contains a NUL byte"}
	}
	id := C.CString(sessionID)
	defer C.free(unsafe.Pointer(id))
	return c.endpoint(ctx, func(p *C.ustb_client, k *C.ustb_canceller, out **C.char, e **C.ustb_error) C.ustb_status {
		return call(p, id, k, out, e)
	})
}

// Model is one entry of an OpenAI model list, plus USTB's label and compose_id.
type Model struct {
	ID        string `json:"id"` // what ChatCompletionRequest.Model takes, e.g. "DeepSeek"
	Object    string `json:"object"`
	Created   int64  `json:"created"` // 0: the server gives no date
	OwnedBy   string `json:"owned_by"`
	Label     string `json:"label"`      // the name the web page shows
	ComposeID int64  `json:"compose_id"` // the application
}

// ModelList is an OpenAI model list (what GET /v1/models answers).
type ModelList struct {
	Object string  `json:"object"` // "list"
	Data   []Model `json:"data"`
}

// Models lists the models an application offers, from its page settings. composeID as for
// AppDetail.
func (c *Client) Models(ctx context.Context, composeID int64) (*ModelList, error) {
	data, err := c.endpoint(ctx, func(p *C.ustb_client, k *C.ustb_canceller, out **C.char, e **C.ustb_error) C.ustb_status {
		return C.ustb_client_models(p, C.int64_t(composeID), k, out, e)
	})
	if err != nil {
		return nil, err
	}
	var list ModelList
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, decodeError("model list", err)
	}
	return &list, nil
}

// Login states of LoginState.
const (
	LoggedIn    = "logged_in"
	LoggedOut   = "logged_out"  // no login cookie, or an expired one
	Unreachable = "unreachable" // no connection, a timeout, or the connection lost
)

// LoginState is the answer of Client.LoginState.
type LoginState struct {
	State      string `json:"state"` // LoggedIn, LoggedOut or Unreachable
	Detail     string `json:"detail"`
	HTTPStatus int    `json:"http_status"` // 0 when there was no answer
	Error      string `json:"error"`       // for Unreachable: the error's type, e.g. "connect_error"
}

// LoginState tells whether the login cookie works, with one cheap request of the chat page.
// The three states are answers, not errors; another answer (e.g. HTTP 500) is an error.
func (c *Client) LoginState(ctx context.Context) (*LoginState, error) {
	data, err := c.endpoint(ctx, func(p *C.ustb_client, k *C.ustb_canceller, out **C.char, e **C.ustb_error) C.ustb_status {
		return C.ustb_client_login_state(p, k, out, e)
	})
	if err != nil {
		return nil, err
	}
	var st LoginState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, decodeError("login state", err)
	}
	return &st, nil
}
