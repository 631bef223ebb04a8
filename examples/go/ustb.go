// Package ustb is a Go client for 北科大 AI 助手 (chat.ustb.edu.cn), a thin cgo wrapper over
// the ustb-openai C library. Requests and replies mirror OpenAI's chat-completions types.
//
// A Client is safe for concurrent use by many goroutines. A Stream is read by one goroutine
// at a time, but may be closed (or its context cancelled) from any goroutine.
package ustb

/*
#cgo pkg-config: ustb_openai
#include <stdlib.h>
#include <string.h>
#include "ustb_openai.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// ErrClosed is returned by calls on a Client or Stream after Close.
var ErrClosed = errors.New("ustb: use of closed client or stream")

// Version is the C library's version, e.g. "0.1.0".
func Version() string { return C.GoString(C.ustb_version()) }

// Options configure a Client. Zero values mean the library's defaults.
type Options struct {
	BaseURL     string // default "http://chat.ustb.edu.cn" (http only)
	EasySession string // the easy_session cookie (32 alphanumerics)
	VJUIDLogin  string // the login cookie cookie_vjuid_login
	Cookie      string // a raw "easy_session=…; cookie_vjuid_login=…" header value

	ConnectTimeout time.Duration // default 10 s
	IdleTimeout    time.Duration // longest silence while waiting for or reading a reply; default 300 s
	Timeout        time.Duration // whole request; default none
	MaxRetries     *int          // connection-stage retries; default 2, at most 10

	UserAgent string
	ComposeID int    // default 3
	Model     string // default "DeepSeek"
}

// optionsJSON marshals o with the library's key names; unset fields are left out so the
// library applies its defaults (it rejects unknown keys, so nothing else may be sent).
func (o Options) optionsJSON() ([]byte, error) {
	m := map[string]any{}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	put("base_url", o.BaseURL)
	put("easy_session", o.EasySession)
	put("vjuid_login", o.VJUIDLogin)
	put("cookie", o.Cookie)
	put("user_agent", o.UserAgent)
	put("model", o.Model)
	for k, d := range map[string]time.Duration{
		"connect_timeout_ms": o.ConnectTimeout, "idle_timeout_ms": o.IdleTimeout, "timeout_ms": o.Timeout,
	} {
		if d < 0 {
			return nil, &Error{Status: StatusInvalidArgument, Type: "invalid_argument", Message: k + " must not be negative"}
		}
		if d > 0 {
			m[k] = max(d.Milliseconds(), 1) // round sub-millisecond values up, not to "default"
		}
	}
	if o.MaxRetries != nil {
		m["max_retries"] = *o.MaxRetries
	}
	if o.ComposeID != 0 {
		m["compose_id"] = o.ComposeID
	}
	return json.Marshal(m)
}

// Client talks to one server with one identity. Create it with NewClient and Close it when
// done; it is safe for concurrent use.
type Client struct {
	// mu is held shared by every call and exclusively by Close, so the C client is freed
	// only after every call on it has returned, as the C API requires.
	mu      sync.RWMutex
	ptr     *C.ustb_client
	cleanup runtime.Cleanup
}

// NewClient creates a client. It never touches the network.
func NewClient(opts Options) (*Client, error) {
	js, err := opts.optionsJSON()
	if err != nil {
		return nil, err
	}
	cs := C.CString(string(js))
	defer C.free(unsafe.Pointer(cs))
	var ptr *C.ustb_client
	var cerr *C.ustb_error
	if st := C.ustb_client_new(cs, &ptr, &cerr); st != C.USTB_OK {
		return nil, newError(st, cerr)
	}
	return wrapClient(ptr), nil
}

// wrapClient makes a Client of a new C client.
func wrapClient(ptr *C.ustb_client) *Client {
	c := &Client{ptr: ptr}
	// A forgotten Close frees the C client once the Client is unreachable.
	c.cleanup = runtime.AddCleanup(c, func(p *C.ustb_client) { C.ustb_client_free(p) }, ptr)
	return c
}

// Close frees the client, waiting for calls in progress to return. Streams opened from it
// stay usable. Closing twice is a no-op.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr != nil {
		c.cleanup.Stop()
		C.ustb_client_free(c.ptr)
		c.ptr = nil
	}
	return nil
}

// with runs fn with the C client, holding the shared lock for the whole call.
func (c *Client) with(fn func(*C.ustb_client) error) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == nil {
		return ErrClosed
	}
	return fn(c.ptr)
}

// callString runs a C call that hands out a string, and returns it copied into Go memory
// (the C string is freed here, exactly once).
func callString(call func(out **C.char, cerr **C.ustb_error) C.ustb_status) ([]byte, error) {
	var out *C.char
	var cerr *C.ustb_error
	if st := call(&out, &cerr); st != C.USTB_OK {
		return nil, newError(st, cerr)
	}
	defer C.ustb_string_free(out)
	return C.GoBytes(unsafe.Pointer(out), C.int(C.strlen(out))), nil
}

// CreateChatCompletion sends a chat and waits for the whole reply. Cancelling ctx stops it
// at any point, also while waiting on a silent server: it opens a stream and reads it whole
// with ustb_chat_stream_collect, which the stream's cancel interrupts.
func (c *Client) CreateChatCompletion(ctx context.Context, req ChatCompletionRequest) (*ChatCompletion, error) {
	s, err := c.CreateChatCompletionStream(ctx, req)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.collect()
}

// Cookies are the client's identity cookies. They are secrets: do not log them.
type Cookies struct {
	EasySession string `json:"easy_session"`
	VJUIDLogin  string `json:"vjuid_login"`
	Cookie      string `json:"cookie"` // the Cookie header value sent
}

// Cookies returns the client's current cookies, including an easy_session the server
// issued, so that it can be saved and passed to NewClient next time.
func (c *Client) Cookies() (*Cookies, error) {
	var data []byte
	err := c.with(func(p *C.ustb_client) (err error) {
		data, err = callString(func(out **C.char, cerr **C.ustb_error) C.ustb_status {
			return C.ustb_client_cookies(p, out, cerr)
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	var ck Cookies
	if err := json.Unmarshal(data, &ck); err != nil {
		return nil, decodeError("cookies", err)
	}
	return &ck, nil
}

// UserInfo fetches the caller's profile (GET /site/user_info) as raw JSON. Like
// CreateChatCompletion, ctx is only checked before the request is sent.
func (c *Client) UserInfo(ctx context.Context) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var data []byte
	err := c.with(func(p *C.ustb_client) (err error) {
		data, err = callString(func(out **C.char, cerr **C.ustb_error) C.ustb_status {
			return C.ustb_client_user_info(p, out, cerr)
		})
		return err
	})
	return data, err
}
