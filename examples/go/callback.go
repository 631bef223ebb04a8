package ustb

/*
#include <stdint.h>
#include <stdlib.h>
#include "ustb_openai.h"

// ustbGoChunk is exported by export.go (a file with //export may not define C functions,
// so the trampoline lives here).
extern int ustbGoChunk(uintptr_t handle, char *chunk, size_t len);

// The C library calls this with the cgo.Handle as userdata; it forwards to Go.
static int ustb_go_trampoline(void *userdata, const char *chunk, size_t len) {
	return ustbGoChunk((uintptr_t)userdata, (char *)chunk, len);
}

// The handle travels as an integer and becomes a void* only in C, so no Go pointer is
// ever passed to C.
static ustb_status ustb_go_callback(const ustb_client *client, const char *request,
                                    uintptr_t handle, ustb_error **error) {
	return ustb_chat_stream_callback(client, request, ustb_go_trampoline, (void *)handle, error);
}

static ustb_status ustb_go_for_each(ustb_chat_stream *stream, uintptr_t handle, ustb_error **error) {
	return ustb_chat_stream_for_each(stream, ustb_go_trampoline, (void *)handle, error);
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"runtime"
	"runtime/cgo"
	"unsafe"
)

// pushState is one callback run: the user's function and what went wrong inside it.
type pushState struct {
	fn       func(*ChatCompletionChunk) bool
	err      error // a chunk that could not be decoded
	panicked bool
	panicVal any
}

// deliver decodes one borrowed chunk and calls fn; it returns non-zero to stop the stream.
// A panic in fn must not unwind through the C frames, so it is caught here and re-raised
// once the C call has returned.
func (p *pushState) deliver(data []byte) (stop C.int) {
	defer func() {
		if r := recover(); r != nil {
			p.panicked, p.panicVal, stop = true, r, 1
		}
	}()
	var chunk ChatCompletionChunk
	if err := json.Unmarshal(data, &chunk); err != nil {
		p.err = decodeError("chat.completion.chunk", err)
		return 1
	}
	if !p.fn(&chunk) {
		return 1
	}
	return 0
}

// run calls the C function with a handle to p and maps its status: OK and STOPPED (fn
// returned false) are nil.
func (p *pushState) run(call func(h C.uintptr_t, cerr **C.ustb_error) C.ustb_status, fail func(C.ustb_status, *C.ustb_error) error) error {
	h := cgo.NewHandle(p)
	defer h.Delete()
	var cerr *C.ustb_error
	status := call(C.uintptr_t(h), &cerr)
	if p.panicked {
		if cerr != nil {
			C.ustb_error_free(cerr)
		}
		panic(p.panicVal)
	}
	switch {
	case status == C.USTB_OK:
		return nil
	case status == C.USTB_STOPPED && p.err != nil:
		C.ustb_error_free(cerr) // NULL-safe
		return p.err
	case status == C.USTB_STOPPED:
		C.ustb_error_free(cerr)
		return nil
	default:
		return fail(status, cerr)
	}
}

// StreamCallback sends a chat and calls fn with every chunk, on the calling goroutine,
// until the reply is complete (nil), fn returns false (nil: the stream is stopped and
// cancelled), ctx is cancelled (an error wrapping ctx.Err()) or an error. fn must not call
// runtime.Goexit (e.g. t.FailNow): it runs inside a C call.
func (c *Client) StreamCallback(ctx context.Context, req ChatCompletionRequest, fn func(*ChatCompletionChunk) bool) error {
	if ctx.Done() != nil {
		// ustb_chat_stream_callback gives no stream to cancel, so a cancellable context
		// needs the open + for_each form.
		s, err := c.CreateChatCompletionStream(ctx, req)
		if err != nil {
			return err
		}
		defer s.Close()
		return s.ForEach(fn)
	}
	creq, err := req.cString()
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(creq))
	p := &pushState{fn: fn}
	return c.with(func(cl *C.ustb_client) error {
		return p.run(func(h C.uintptr_t, cerr **C.ustb_error) C.ustb_status {
			return C.ustb_go_callback(cl, creq, h, cerr)
		}, newError)
	})
}

// ForEach calls fn with every remaining chunk, like StreamCallback, on the calling
// goroutine. It returns nil when the reply is complete or fn returned false.
func (s *Stream) ForEach(fn func(*ChatCompletionChunk) bool) error {
	defer runtime.KeepAlive(s)
	st := s.st
	ptr, err := st.beginRead()
	if err != nil {
		return err
	}
	defer st.endRead()
	p := &pushState{fn: fn}
	return p.run(func(h C.uintptr_t, cerr **C.ustb_error) C.ustb_status {
		return C.ustb_go_for_each(ptr, h, cerr)
	}, st.fail)
}
