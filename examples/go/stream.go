package ustb

/*
#include <stdlib.h>
#include <string.h>
#include "ustb_openai.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"sync"
	"unsafe"
)

var errConcurrentRead = errors.New("ustb: Recv or ForEach called while another read of the stream is running")

// Stream is one streamed reply. Read it with Recv (or ForEach) from one goroutine at a
// time; Close it when done, from any goroutine.
type Stream struct {
	st      *streamState
	cleanup runtime.Cleanup
}

// streamState is what the cleanup holds, so that it does not keep the Stream itself reachable.
//
// Cancelling needs no lock: it goes through a canceller, which stays valid after the free.
// mu remains because ustb_chat_stream_free must not race a running read: Close during a read
// (from another goroutine, or from a ForEach callback) only cancels it, and the read frees
// the stream on its way out.
type streamState struct {
	canceller *canceller
	ctx       context.Context
	stopWatch func() bool // unregisters the context watcher

	mu      sync.Mutex
	ptr     *C.ustb_chat_stream
	closed  bool
	reading bool
}

// canceller wraps a ustb_canceller: it cancels its stream from any goroutine at any time,
// also after the stream was freed (then it does nothing). The GC frees it once neither the
// stream state nor a context watcher can call it any more.
type canceller struct{ p *C.ustb_canceller }

func newCanceller(stream *C.ustb_chat_stream) (*canceller, error) {
	var p *C.ustb_canceller
	var cerr *C.ustb_error
	if status := C.ustb_chat_stream_canceller(stream, &p, &cerr); status != C.USTB_OK {
		return nil, newError(status, cerr)
	}
	c := &canceller{p: p}
	runtime.AddCleanup(c, func(p *C.ustb_canceller) { C.ustb_canceller_free(p) }, p)
	return c, nil
}

// cancel makes a blocked or later read return USTB_CANCELLED. Never blocks.
func (c *canceller) cancel() {
	C.ustb_canceller_cancel(c.p)
	runtime.KeepAlive(c) // the cleanup must not free it during the call
}

// CreateChatCompletionStream opens a streamed chat. The request is checked now (invalid
// arguments and requests fail here) and sent by the first Recv. Cancelling ctx cancels the
// stream at once: a blocked Recv returns an error wrapping ctx.Err().
func (c *Client) CreateChatCompletionStream(ctx context.Context, req ChatCompletionRequest) (*Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	creq, err := req.cString()
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(creq))
	var ptr *C.ustb_chat_stream
	err = c.with(func(p *C.ustb_client) error {
		var cerr *C.ustb_error
		if st := C.ustb_chat_stream_open(p, creq, &ptr, &cerr); st != C.USTB_OK {
			return newError(st, cerr)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	canc, err := newCanceller(ptr)
	if err != nil {
		C.ustb_chat_stream_free(ptr)
		return nil, err
	}
	st := &streamState{ptr: ptr, canceller: canc, ctx: ctx, stopWatch: func() bool { return false }}
	if ctx.Done() != nil {
		// AfterFunc runs cancel in its own goroutine once ctx is done, maybe after Close
		// has freed the stream: the canceller makes that harmless.
		st.stopWatch = context.AfterFunc(ctx, canc.cancel)
	}
	s := &Stream{st: st}
	// A forgotten Close frees the C stream once the Stream is unreachable.
	s.cleanup = runtime.AddCleanup(s, func(st *streamState) { st.close() }, st)
	return s, nil
}

// close frees the stream now, or cancels the running read, which then frees it.
func (st *streamState) close() {
	st.stopWatch()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return
	}
	st.closed = true
	if st.reading {
		st.canceller.cancel()
		return
	}
	C.ustb_chat_stream_free(st.ptr)
	st.ptr = nil
}

// beginRead claims the stream for one C read; endRead must follow.
func (st *streamState) beginRead() (*C.ustb_chat_stream, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case st.closed:
		return nil, ErrClosed
	case st.reading:
		return nil, errConcurrentRead
	}
	st.reading = true
	if st.ctx.Err() != nil {
		// The watcher cancels from its own goroutine, maybe not yet: cancel here too, so
		// that a read after cancel() has returned never yields a buffered chunk.
		st.canceller.cancel()
	}
	return st.ptr, nil
}

// endRead releases the stream, freeing it if Close was called during the read.
func (st *streamState) endRead() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.reading = false
	if st.closed && st.ptr != nil {
		C.ustb_chat_stream_free(st.ptr)
		st.ptr = nil
	}
}

// fail turns a C error status into a Go error, naming why a cancelled read was cancelled.
func (st *streamState) fail(status C.ustb_status, cerr *C.ustb_error) error {
	err := newError(status, cerr)
	if e, ok := err.(*Error); ok && e.Status == StatusCancelled {
		if cause := st.ctx.Err(); cause != nil {
			e.cause = cause
		} else {
			st.mu.Lock()
			if st.closed {
				e.cause = ErrClosed
			}
			st.mu.Unlock()
		}
	}
	return err
}

// Close cancels the reply if it is still streaming and frees the stream. It never blocks
// and may be called from any goroutine, also while Recv is blocked (Recv then returns an
// error wrapping ErrClosed) or from a ForEach callback. Closing twice is a no-op.
func (s *Stream) Close() error {
	s.cleanup.Stop()
	s.st.close()
	return nil
}

// Recv returns the next chunk, or io.EOF once the reply is complete. After an error, later
// calls return the same kind of error.
func (s *Stream) Recv() (*ChatCompletionChunk, error) {
	defer runtime.KeepAlive(s) // an unreachable Stream's cleanup would close it mid-read
	st := s.st
	ptr, err := st.beginRead()
	if err != nil {
		return nil, err
	}
	defer st.endRead()
	var out *C.char
	var n C.size_t
	var cerr *C.ustb_error
	switch status := C.ustb_chat_stream_next(ptr, &out, &n, &cerr); status {
	case C.USTB_OK:
		// json.Unmarshal copies what it keeps, so the C string can be read in place.
		data := unsafe.Slice((*byte)(unsafe.Pointer(out)), int(n))
		var chunk ChatCompletionChunk
		err := json.Unmarshal(data, &chunk)
		C.ustb_string_free(out)
		if err != nil {
			return nil, decodeError("chat.completion.chunk", err)
		}
		return &chunk, nil
	case C.USTB_END_OF_STREAM:
		return nil, io.EOF
	default:
		return nil, st.fail(status, cerr)
	}
}

// collect reads the rest of the reply into one chat.completion (ustb_chat_stream_collect);
// a cancel interrupts it as it does Recv.
func (s *Stream) collect() (*ChatCompletion, error) {
	defer runtime.KeepAlive(s)
	st := s.st
	ptr, err := st.beginRead()
	if err != nil {
		return nil, err
	}
	defer st.endRead()
	var out *C.char
	var cerr *C.ustb_error
	if status := C.ustb_chat_stream_collect(ptr, &out, &cerr); status != C.USTB_OK {
		return nil, st.fail(status, cerr)
	}
	defer C.ustb_string_free(out)
	var cc ChatCompletion
	if err := json.Unmarshal(C.GoBytes(unsafe.Pointer(out), C.int(C.strlen(out))), &cc); err != nil {
		return nil, decodeError("chat.completion", err)
	}
	return &cc, nil
}
