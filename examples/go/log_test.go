package ustb_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	ustb "github.com/ustb-openai/ustb-openai/examples/go"
)

// captured is a slog.Handler that keeps the records at or above its level.
type captured struct {
	level slog.Level
	mu    sync.Mutex
	lines []capturedLine
	onLog func() // called for every record, e.g. to misbehave
}

type capturedLine struct {
	level slog.Level
	msg   string
}

func (h *captured) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *captured) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *captured) WithGroup(string) slog.Handler                { return h }
func (h *captured) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.lines = append(h.lines, capturedLine{r.Level, r.Message})
	h.mu.Unlock()
	if h.onLog != nil {
		h.onLog()
	}
	return nil
}

func (h *captured) take() []capturedLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.lines
	h.lines = nil
	return out
}

// find returns the first line at level that starts with prefix and contains part.
func find(lines []capturedLine, level slog.Level, prefix, part string) bool {
	for _, l := range lines {
		if l.level == level && strings.HasPrefix(l.msg, prefix) && strings.Contains(l.msg, part) {
			return true
		}
	}
	return false
}

func setLogger(t *testing.T, h slog.Handler) {
	t.Helper()
	if err := ustb.SetLogger(slog.New(h)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ustb.SetLogger(nil) })
}

func TestSetLogger(t *testing.T) {
	const chat = "POST /site/ai/compose_chat"
	h := &captured{level: slog.LevelDebug}
	setLogger(t, h)
	c := loggedIn(t)
	if _, err := c.CreateChatCompletion(context.Background(), ask("日志")); err != nil {
		t.Fatal(err)
	}
	lines := h.take()
	if !find(lines, slog.LevelDebug, chat, ": sending attempt 1 of ") ||
		!find(lines, slog.LevelInfo, chat, ": HTTP 200 (text/event-stream) after ") ||
		!find(lines, slog.LevelInfo, "chat stream ended normally: first byte ", "") {
		t.Errorf("lines of one chat at debug: %+v", lines)
	}
	for _, l := range lines {
		if strings.Contains(l.msg, "\n") || strings.Contains(l.msg, "test") { // "test": the login cookie
			t.Errorf("line %q", l.msg)
		}
	}

	// At Warn the library sends only warnings and errors: a refused connection gives both.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	h = &captured{level: slog.LevelWarn}
	setLogger(t, h)
	if _, err := c.CreateChatCompletion(context.Background(), ask("hi")); err != nil {
		t.Fatal(err)
	}
	refused := newClient(t, ustb.Options{BaseURL: dead, VJUIDLogin: "x", MaxRetries: ustb.Ptr(1)})
	if _, err := refused.CreateChatCompletion(context.Background(), ask("hi")); !errors.Is(err, ustb.ErrConnect) {
		t.Fatalf("refused: %v", err)
	}
	lines = h.take()
	if !find(lines, slog.LevelWarn, chat, ": attempt 1 of 2 failed (connect_error: ") ||
		!find(lines, slog.LevelError, "chat stream failed (connect_error)", "") {
		t.Errorf("lines at warn: %+v", lines)
	}
	for _, l := range lines {
		if l.level < slog.LevelWarn {
			t.Errorf("below warn: %+v", l)
		}
	}

	// Calling SetLogger from the handler is refused; a panic in it is dropped.
	var inner error
	var once sync.Once
	h = &captured{level: slog.LevelInfo, onLog: func() {
		once.Do(func() { inner = ustb.SetLogger(nil) })
		panic("boom")
	}}
	setLogger(t, h)
	if _, err := c.CreateChatCompletion(context.Background(), ask("hi")); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(inner, ustb.ErrInvalidArgument) || len(h.take()) == 0 {
		t.Errorf("SetLogger from the handler = %v", inner)
	}

	// After SetLogger(nil) the old logger is never called again.
	if err := ustb.SetLogger(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateChatCompletion(context.Background(), ask("hi")); err != nil {
		t.Fatal(err)
	}
	if lines := h.take(); len(lines) != 0 {
		t.Errorf("lines after SetLogger(nil): %+v", lines)
	}
}
