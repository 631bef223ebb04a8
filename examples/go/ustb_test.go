package ustb_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	ustb "github.com/ustb-openai/ustb-openai/examples/go"
)

const (
	introPrompt    = "请介绍你自己。"
	introReasoning = "好的，用户问：请介绍你自己。。"
	introContent   = "你好！我是北科大 AI 助手。"
)

// replyTo is the emulator's deterministic answer to any prompt but the intro one.
func replyTo(p string) string { return introContent + "你说：「" + p + "」" }

func newClient(t testing.TB, opts ustb.Options) *ustb.Client {
	t.Helper()
	if opts.BaseURL == "" {
		opts.BaseURL = emulatorURL
	}
	c, err := ustb.NewClient(opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func loggedIn(t testing.TB) *ustb.Client {
	return newClient(t, ustb.Options{VJUIDLogin: "test", IdleTimeout: 20 * time.Second})
}

func ask(prompt string) ustb.ChatCompletionRequest {
	return ustb.ChatCompletionRequest{
		Model:    "deepseek-r1",
		Messages: []ustb.ChatCompletionMessage{{Role: ustb.RoleUser, Content: prompt}},
	}
}

// collect reads a stream to its end; err is Recv's first non-EOF error.
func collect(s *ustb.Stream) (reasoning, content string, chunks int, err error) {
	var r, c strings.Builder
	for {
		chunk, err := s.Recv()
		if err == io.EOF {
			return r.String(), c.String(), chunks, nil
		}
		if err != nil {
			return r.String(), c.String(), chunks, err
		}
		chunks++
		for _, ch := range chunk.Choices {
			r.WriteString(ch.Delta.ReasoningContent)
			c.WriteString(ch.Delta.Content)
		}
	}
}

func TestVersionAndStatusNames(t *testing.T) {
	if v := ustb.Version(); !strings.HasPrefix(v, "0.") {
		t.Errorf("Version() = %q", v)
	}
	for s, want := range map[ustb.Status]string{
		ustb.StatusOK: "USTB_OK", ustb.StatusTruncated: "USTB_TRUNCATED",
		ustb.StatusCancelled: "USTB_CANCELLED", ustb.Status(99): "USTB_UNKNOWN",
	} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}

func TestStreamText(t *testing.T) {
	c := loggedIn(t)
	req := ask(introPrompt)
	req.StreamOptions = &ustb.StreamOptions{IncludeUsage: true}
	s, err := c.CreateChatCompletionStream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var reasoning, content strings.Builder
	var id, finish string
	var usage *ustb.Usage
	for i := 0; ; i++ {
		chunk, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if chunk.Object != "chat.completion.chunk" {
			t.Errorf("object = %q", chunk.Object)
		}
		if i == 0 {
			id = chunk.ID
			if len(chunk.Choices) != 1 || chunk.Choices[0].Delta.Role != ustb.RoleAssistant {
				t.Errorf("first chunk has no assistant role: %+v", chunk)
			}
		} else if chunk.ID != id {
			t.Errorf("chunk %d id %q != %q", i, chunk.ID, id)
		}
		if chunk.Usage != nil {
			usage = chunk.Usage
			if len(chunk.Choices) != 0 {
				t.Errorf("usage chunk has choices: %+v", chunk)
			}
		}
		for _, ch := range chunk.Choices {
			reasoning.WriteString(ch.Delta.ReasoningContent)
			content.WriteString(ch.Delta.Content)
			if ch.FinishReason != "" {
				finish = ch.FinishReason
			}
		}
	}
	if got := reasoning.String(); got != introReasoning {
		t.Errorf("reasoning = %q, want %q", got, introReasoning)
	}
	if got := content.String(); got != introContent {
		t.Errorf("content = %q, want %q", got, introContent)
	}
	if finish != ustb.FinishReasonStop {
		t.Errorf("finish_reason = %q", finish)
	}
	if usage == nil || usage.TotalTokens != usage.PromptTokens+usage.CompletionTokens || usage.TotalTokens == 0 {
		t.Errorf("usage = %+v", usage)
	}
	// The end is sticky.
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("Recv after the end = %v, want io.EOF", err)
	}
	s.Close()
	if _, err := s.Recv(); !errors.Is(err, ustb.ErrClosed) {
		t.Errorf("Recv after Close = %v, want ErrClosed", err)
	}
}

func TestCreateChatCompletion(t *testing.T) {
	c := loggedIn(t)
	cc, err := c.CreateChatCompletion(context.Background(), ask(introPrompt))
	if err != nil {
		t.Fatal(err)
	}
	if cc.Object != "chat.completion" || len(cc.Choices) != 1 {
		t.Fatalf("completion = %+v", cc)
	}
	m := cc.Choices[0]
	if m.Message.Role != ustb.RoleAssistant || m.Message.Content != introContent ||
		m.Message.ReasoningContent != introReasoning || m.FinishReason != ustb.FinishReasonStop {
		t.Errorf("choice = %+v", m)
	}
	if cc.Usage == nil || cc.Usage.CompletionTokens == 0 {
		t.Errorf("usage = %+v", cc.Usage)
	}

	cc, err = c.CreateChatCompletion(context.Background(), ask("北科大在哪里？"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cc.Choices[0].Message.Content; got != replyTo("北科大在哪里？") {
		t.Errorf("content = %q", got)
	}

	cc, err = c.CreateChatCompletion(context.Background(), ask("hi @emu:moderation"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cc.Choices[0].FinishReason; got != ustb.FinishReasonContentFilter {
		t.Errorf("moderation finish_reason = %q", got)
	}
}

func TestAuthError(t *testing.T) {
	c := newClient(t, ustb.Options{}) // no login cookie
	check := func(what string, err error) {
		t.Helper()
		var e *ustb.Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: err = %v (%T), want *ustb.Error", what, err, err)
		}
		if !errors.Is(err, ustb.ErrAuth) || !ustb.IsStatus(err, ustb.StatusAuthError) || errors.Is(err, ustb.ErrTruncated) {
			t.Errorf("%s: status = %v", what, e.Status)
		}
		if e.APICode != 10042 || e.Type != "auth_error" || e.APIMessage == "" || e.Message == "" {
			t.Errorf("%s: error = %+v", what, e)
		}
		if !strings.Contains(err.Error(), "USTB_AUTH_ERROR") || !strings.Contains(err.Error(), "10042") {
			t.Errorf("%s: Error() = %q", what, err.Error())
		}
	}
	s, err := c.CreateChatCompletionStream(context.Background(), ask("你好"))
	if err != nil {
		t.Fatal(err) // the request is only sent by the first Recv
	}
	defer s.Close()
	_, err = s.Recv()
	check("Recv", err)
	_, err = c.CreateChatCompletion(context.Background(), ask("你好"))
	check("CreateChatCompletion", err)
	err = c.StreamCallback(context.Background(), ask("你好"), func(*ustb.ChatCompletionChunk) bool { return true })
	check("StreamCallback", err)
}

func TestTruncated(t *testing.T) {
	c := loggedIn(t)
	s, err := c.CreateChatCompletionStream(context.Background(), ask("x @emu:truncate"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reasoning, _, chunks, err := collect(s)
	if !errors.Is(err, ustb.ErrTruncated) {
		t.Fatalf("err = %v, want ErrTruncated", err)
	}
	if chunks == 0 || !strings.HasPrefix(reasoning, "好的，用户问：") {
		t.Errorf("before the cut: %d chunks, reasoning %q", chunks, reasoning)
	}
	if _, err := s.Recv(); !errors.Is(err, ustb.ErrTruncated) {
		t.Errorf("Recv after the error = %v, want ErrTruncated again", err)
	}
	_, err = c.CreateChatCompletion(context.Background(), ask("x @emu:truncate"))
	if !ustb.IsStatus(err, ustb.StatusTruncated) {
		t.Errorf("CreateChatCompletion err = %v", err)
	}
}

func TestInvalidArguments(t *testing.T) {
	_, err := ustb.NewClient(ustb.Options{BaseURL: "ftp://example.com"})
	if !errors.Is(err, ustb.ErrInvalidArgument) {
		t.Errorf("bad base_url: %v", err)
	}
	_, err = ustb.NewClient(ustb.Options{Timeout: -time.Second})
	if !errors.Is(err, ustb.ErrInvalidArgument) {
		t.Errorf("negative timeout: %v", err)
	}
	c := loggedIn(t)
	req := ustb.ChatCompletionRequest{Messages: []ustb.ChatCompletionMessage{
		{Role: ustb.RoleUser, Content: "hi"}, {Role: ustb.RoleAssistant, Content: "hello"},
	}}
	if _, err := c.CreateChatCompletionStream(context.Background(), req); !errors.Is(err, ustb.ErrInvalidRequest) {
		t.Errorf("last message from the assistant: %v", err)
	}
	if _, err := c.CreateChatCompletion(context.Background(), ustb.ChatCompletionRequest{}); err == nil {
		t.Error("no messages: no error")
	}
}

func TestConnectErrorAndIdleTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close() // nothing listens there any more
	c := newClient(t, ustb.Options{BaseURL: dead, VJUIDLogin: "x", MaxRetries: ustb.Ptr(0)})
	if _, err := c.CreateChatCompletion(context.Background(), ask("hi")); !errors.Is(err, ustb.ErrConnect) {
		t.Errorf("closed port: %v", err)
	}

	c = newClient(t, ustb.Options{VJUIDLogin: "x", IdleTimeout: 300 * time.Millisecond})
	start := time.Now()
	_, err = c.CreateChatCompletion(context.Background(), ask("hi @emu:silent"))
	if !errors.Is(err, ustb.ErrTimeout) || time.Since(start) > 5*time.Second {
		t.Errorf("silent server with a 300 ms idle timeout: %v after %v", err, time.Since(start))
	}
}

func TestCookiesAndUserInfo(t *testing.T) {
	c := newClient(t, ustb.Options{})
	if _, err := c.UserInfo(context.Background()); err != nil {
		t.Fatal(err)
	}
	ck, err := c.Cookies()
	if err != nil {
		t.Fatal(err)
	}
	if len(ck.EasySession) != 32 || ck.VJUIDLogin != "" {
		t.Errorf("cookies after user_info: easy_session of %d chars, vjuid_login set: %v", len(ck.EasySession), ck.VJUIDLogin != "")
	}
}

func TestCallback(t *testing.T) {
	c := loggedIn(t)
	for _, ctx := range []context.Context{context.Background(), t.Context()} {
		// Background goes through ustb_chat_stream_callback; a cancellable context through
		// open + ustb_chat_stream_for_each.
		var content strings.Builder
		var n int
		err := c.StreamCallback(ctx, ask("回调"), func(ch *ustb.ChatCompletionChunk) bool {
			n++
			for _, choice := range ch.Choices {
				content.WriteString(choice.Delta.Content)
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if content.String() != replyTo("回调") || n < 3 {
			t.Errorf("callback content = %q in %d chunks", content.String(), n)
		}

		// Early stop: returning false ends the call with nil after exactly that chunk.
		n = 0
		err = c.StreamCallback(ctx, ask(introPrompt), func(*ustb.ChatCompletionChunk) bool {
			n++
			return n < 2
		})
		if err != nil || n != 2 {
			t.Errorf("early stop: err %v after %d chunks, want nil after 2", err, n)
		}
	}

	// An error from the server reaches the caller of a callback stream too.
	err := c.StreamCallback(context.Background(), ask("x @emu:truncate"), func(*ustb.ChatCompletionChunk) bool { return true })
	if !errors.Is(err, ustb.ErrTruncated) {
		t.Errorf("truncated callback: %v", err)
	}

	// A panic in the callback does not unwind through C: it is re-raised after the call.
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		_ = c.StreamCallback(context.Background(), ask("hi"), func(*ustb.ChatCompletionChunk) bool { panic("boom") })
		t.Error("StreamCallback returned after a panic")
	}()
	if _, err := c.CreateChatCompletion(context.Background(), ask("still fine")); err != nil {
		t.Errorf("client after a callback panic: %v", err)
	}
}

func TestStreamForEachAfterRecv(t *testing.T) {
	c := loggedIn(t)
	s, err := c.CreateChatCompletionStream(context.Background(), ask("混合"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var content strings.Builder
	first, err := s.Recv() // pull one, push the rest
	if err != nil {
		t.Fatal(err)
	}
	content.WriteString(first.Choices[0].Delta.Content)
	err = s.ForEach(func(ch *ustb.ChatCompletionChunk) bool {
		for _, choice := range ch.Choices {
			content.WriteString(choice.Delta.Content)
		}
		return true
	})
	if err != nil || content.String() != replyTo("混合") {
		t.Errorf("ForEach: %v, content %q", err, content.String())
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Errorf("Recv after ForEach = %v, want io.EOF", err)
	}
}

// silentStream opens a stream on @emu:silent and reads the one event the emulator sends
// before it goes quiet for 60 s.
func silentStream(t *testing.T, ctx context.Context, c *ustb.Client) *ustb.Stream {
	t.Helper()
	s, err := c.CreateChatCompletionStream(ctx, ask("等待 @emu:silent"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Recv(); err != nil {
		t.Fatalf("first chunk of the silent stream: %v", err)
	}
	return s
}

func TestContextCancel(t *testing.T) {
	c := loggedIn(t) // idle timeout 20 s, the emulator's silence 60 s: only a cancel ends this fast

	ctx, cancel := context.WithCancel(context.Background())
	s := silentStream(t, ctx, c)
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := s.Recv()
	took := time.Since(start)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ustb.ErrCancelled) {
		t.Errorf("Recv after cancel = %v, want context.Canceled and ErrCancelled", err)
	}
	if took < 150*time.Millisecond || took > 5*time.Second {
		t.Errorf("Recv returned after %v; want about 200 ms", took)
	}
	if _, err := s.Recv(); !errors.Is(err, context.Canceled) {
		t.Errorf("second Recv = %v", err)
	}

	// A deadline works the same way, also for the callback form.
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	n := 0
	err = c.StreamCallback(ctx, ask("等待 @emu:silent"), func(*ustb.ChatCompletionChunk) bool { n++; return true })
	if !errors.Is(err, context.DeadlineExceeded) || n != 1 || time.Since(start) > 5*time.Second {
		t.Errorf("StreamCallback with a deadline: %v after %d chunks and %v", err, n, time.Since(start))
	}

	// The non-stream call is cancellable too, also while the server is silent.
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = c.CreateChatCompletion(ctx, ask("等待 @emu:silent"))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ustb.ErrCancelled) || time.Since(start) > 5*time.Second {
		t.Errorf("CreateChatCompletion with a deadline: %v after %v", err, time.Since(start))
	}

	// An already-cancelled context fails before anything is sent.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := c.CreateChatCompletionStream(ctx, ask("hi")); !errors.Is(err, context.Canceled) {
		t.Errorf("open with a cancelled context = %v", err)
	}
}

func TestCloseUnblocksRecv(t *testing.T) {
	c := loggedIn(t)
	s := silentStream(t, context.Background(), c)
	time.AfterFunc(200*time.Millisecond, func() { s.Close() })
	start := time.Now()
	_, err := s.Recv()
	if !errors.Is(err, ustb.ErrClosed) || !errors.Is(err, ustb.ErrCancelled) || time.Since(start) > 5*time.Second {
		t.Errorf("Recv during Close = %v after %v", err, time.Since(start))
	}
	if _, err := s.Recv(); !errors.Is(err, ustb.ErrClosed) {
		t.Errorf("Recv after Close = %v", err)
	}

	// Closing from inside a ForEach callback stops it without deadlocking.
	s2, err := c.CreateChatCompletionStream(context.Background(), ask(introPrompt))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = s2.ForEach(func(*ustb.ChatCompletionChunk) bool { n++; s2.Close(); return true })
	if !errors.Is(err, ustb.ErrClosed) || n != 1 {
		t.Errorf("ForEach closed from its callback: %v after %d chunks", err, n)
	}
}

// A context watcher fires on its own goroutine and may race Close, which frees the stream:
// the watcher cancels through a ustb_canceller, which stays valid after the free.
func TestContextCancelRacesClose(t *testing.T) {
	c := loggedIn(t)
	for i := range 100 {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := c.CreateChatCompletionStream(ctx, ask(introPrompt))
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 { // half of them mid-reply, half before the request was sent
			if _, err := s.Recv(); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan struct{})
		go func() { cancel(); close(done) }()
		s.Close()
		<-done
		if _, err := s.Recv(); !errors.Is(err, ustb.ErrClosed) {
			t.Fatalf("round %d: Recv after Close = %v", i, err)
		}
	}
}

func TestClientCloseKeepsStreams(t *testing.T) {
	c, err := ustb.NewClient(ustb.Options{BaseURL: emulatorURL, VJUIDLogin: "x"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.CreateChatCompletionStream(context.Background(), ask("关闭"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c.Close()
	c.Close() // idempotent
	if _, err := c.CreateChatCompletion(context.Background(), ask("hi")); !errors.Is(err, ustb.ErrClosed) {
		t.Errorf("call on a closed client = %v", err)
	}
	if _, content, _, err := collect(s); err != nil || content != replyTo("关闭") {
		t.Errorf("stream outliving its client: %v, %q", err, content)
	}
}

func TestManyGoroutinesShareOneClient(t *testing.T) {
	c := loggedIn(t)
	const workers, rounds = 24, 6
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				p := fmt.Sprintf("并发 %d-%d", w, r)
				var content string
				var err error
				switch r % 3 {
				case 0:
					var s *ustb.Stream
					if s, err = c.CreateChatCompletionStream(context.Background(), ask(p)); err == nil {
						_, content, _, err = collect(s)
						s.Close()
					}
				case 1:
					var cc *ustb.ChatCompletion
					if cc, err = c.CreateChatCompletion(context.Background(), ask(p)); err == nil {
						content = cc.Choices[0].Message.Content
					}
				case 2:
					var b strings.Builder
					err = c.StreamCallback(context.Background(), ask(p), func(ch *ustb.ChatCompletionChunk) bool {
						for _, choice := range ch.Choices {
							b.WriteString(choice.Delta.Content)
						}
						return true
					})
					content = b.String()
				}
				if err == nil && content != replyTo(p) {
					err = fmt.Errorf("%s: content %q", p, content)
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
