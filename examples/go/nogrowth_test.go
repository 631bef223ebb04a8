package ustb_test

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	ustb "github.com/ustb-openai/ustb-openai/examples/go"
)

// rss is the resident set size from /proc/self/statm.
func rss(t *testing.T) int64 {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory() // return Go's free heap so only live memory is counted
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// TestNoGrowth checks that every string and error the C library hands out is freed: after
// a warm-up it runs 300 streams (pull, push, stopped, cancelled, whole replies, errors) and
// 20,000 failing NewClient calls, and requires RSS to grow by less than 4 MiB. The chunk
// JSON handed out adds up to over twice that bound and the error objects to over four
// times (checked below), so leaking half of either would break it.
func TestNoGrowth(t *testing.T) {
	const bound = 4 << 20
	c := loggedIn(t)
	// Lower estimates of the bytes handed out across the C boundary.
	var chunkBytes, errorBytes int64
	const chunkOverhead = 240 // a chunk's JSON without its text is about 245 bytes

	long := ask("长 @emu:long=2000") // about 510 chunks
	round := func(i int) {
		ctx := context.Background()
		switch i % 6 {
		case 0, 3: // pull: a long reply, or a short one
			req := long
			if i%6 == 3 {
				req = ask("短")
			}
			s, err := c.CreateChatCompletionStream(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for {
				ch, err := s.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				chunkBytes += chunkOverhead
				for _, choice := range ch.Choices {
					chunkBytes += int64(len(choice.Delta.Content) + len(choice.Delta.ReasoningContent))
				}
			}
			s.Close()
		case 1: // push
			err := c.StreamCallback(ctx, long, func(ch *ustb.ChatCompletionChunk) bool {
				chunkBytes += chunkOverhead
				for _, choice := range ch.Choices {
					chunkBytes += int64(len(choice.Delta.Content) + len(choice.Delta.ReasoningContent))
				}
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
		case 2: // push, stopped early
			n := 0
			err := c.StreamCallback(ctx, long, func(*ustb.ChatCompletionChunk) bool { n++; return n < 3 })
			if err != nil || n != 3 {
				t.Fatal(err, n)
			}
		case 4: // a whole reply, and errors: truncated, and auth through a cookieless client
			if _, err := c.CreateChatCompletion(ctx, ask("短")); err != nil {
				t.Fatal(err)
			}
			_, err := c.CreateChatCompletion(ctx, ask("x @emu:truncate"))
			if !errors.Is(err, ustb.ErrTruncated) {
				t.Fatal(err)
			}
			anon, err := ustb.NewClient(ustb.Options{BaseURL: emulatorURL})
			if err != nil {
				t.Fatal(err)
			}
			_, err = anon.CreateChatCompletion(ctx, ask("hi"))
			anon.Close()
			if !errors.Is(err, ustb.ErrAuth) {
				t.Fatal(err)
			}
		case 5: // a stream cancelled by its context after the first chunk
			ctx, cancel := context.WithCancel(ctx)
			s, err := c.CreateChatCompletionStream(ctx, long)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Recv(); err != nil {
				t.Fatal(err)
			}
			cancel()
			if _, err := s.Recv(); !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
			s.Close()
		}
	}
	// A 1 KB base URL is quoted (as a 120-character excerpt) in the error's message and again
	// in its detail JSON: enough errors that a leak of them would show.
	badURL := "ftp://" + strings.Repeat("x", 1000)
	badOptions := func(n int) {
		for range n {
			_, err := ustb.NewClient(ustb.Options{BaseURL: badURL})
			var e *ustb.Error
			if !errors.As(err, &e) {
				t.Fatal(err)
			}
			errorBytes += 2 * int64(len(e.Message))
		}
	}

	for i := range 30 { // warm-up: pools, arenas and the Go heap reach their working size
		round(i)
	}
	badOptions(2000)
	before := rss(t)
	chunkBytes, errorBytes = 0, 0
	start := time.Now()
	for i := range 300 {
		round(i)
	}
	badOptions(60000)
	after := rss(t)
	growth := after - before
	t.Logf("RSS %d KiB -> %d KiB (growth %d KiB, bound %d KiB); handed out: %d MiB of chunks, %d MiB of errors; %v",
		before>>10, after>>10, growth>>10, bound>>10, chunkBytes>>20, errorBytes>>20, time.Since(start).Round(time.Millisecond))
	if chunkBytes < 2*bound || errorBytes < 4*bound {
		t.Errorf("too little handed out for the bound to catch a leak")
	}
	if growth > bound {
		t.Errorf("RSS grew by %d KiB after 300 streams, more than %d KiB: something is not freed", growth>>10, bound>>10)
	}
}
