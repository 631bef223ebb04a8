package ustb_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"regexp"
	"testing"
	"time"

	ustb "github.com/ustb-openai/ustb-openai/examples/go"
)

// decode unmarshals raw JSON from an endpoint into v, failing the test on an error.
func decode(t *testing.T, what string, raw json.RawMessage, err error, v any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v in %s", what, err, raw)
	}
}

func TestSiteEndpoints(t *testing.T) {
	c := loggedIn(t)
	ctx := context.Background()

	var site struct {
		Name  string `json:"name"`
		IsCas bool   `json:"isCas"`
	}
	raw, err := c.WebInfo(ctx)
	decode(t, "WebInfo", raw, err, &site)
	if site.Name != "北科大AI助手" || !site.IsCas {
		t.Errorf("web info = %s", raw)
	}

	type app struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	var apps []app
	raw, err = c.Apps(ctx)
	decode(t, "Apps", raw, err, &apps)
	if len(apps) != 2 || apps[0].ID != 3 || apps[1].ID != 5 {
		t.Errorf("apps = %s", raw)
	}
	var detail app
	raw, err = c.AppDetail(ctx, 0) // 0: the client's compose_id, 3
	decode(t, "AppDetail(0)", raw, err, &detail)
	if detail.ID != 3 || detail.Name != "DeepSeek" {
		t.Errorf("app detail 0 = %s", raw)
	}
	raw, err = c.AppDetail(ctx, 5)
	decode(t, "AppDetail(5)", raw, err, &detail)
	if detail.ID != 5 || detail.Name != "通义千问" {
		t.Errorf("app detail 5 = %s", raw)
	}
	_, err = c.AppDetail(ctx, 99)
	var e *ustb.Error
	if !errors.As(err, &e) || e.Status != ustb.StatusAPIError || e.APICode != 1 || e.APIMessage != "应用不存在" {
		t.Errorf("unknown app: %v", err)
	}
	if _, err := c.AppDetail(ctx, -1); !errors.Is(err, ustb.ErrInvalidArgument) {
		t.Errorf("negative compose id: %v", err)
	}

	var settings struct {
		ModelSelect struct {
			ModelContent struct {
				Value []struct{ Label, Value string } `json:"value"`
			} `json:"model_content"`
		} `json:"model_select"`
		DeepThinking json.RawMessage `json:"deepThinking_select"`
	}
	raw, err = c.PageSettings(ctx, 0)
	decode(t, "PageSettings", raw, err, &settings)
	if v := settings.ModelSelect.ModelContent.Value; len(v) != 1 || v[0].Value != "DeepSeek" || settings.DeepThinking == nil {
		t.Errorf("page settings = %s", raw)
	}
}

func TestSessionEndpoints(t *testing.T) {
	c := loggedIn(t)
	ctx := context.Background()

	id, err := c.NewSessionID(ctx, 0)
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("NewSessionID = %q, %v", id, err)
	}

	// Every chat starts a session in the emulator: the newest one is this chat's.
	prompt := "会话测试 " + time.Now().Format(time.RFC3339Nano)
	if _, err := c.CreateChatCompletion(ctx, ask(prompt)); err != nil {
		t.Fatal(err)
	}
	type session struct {
		SessID      string `json:"sess_id"`
		LastContent string `json:"last_content"`
	}
	var sessions []session
	raw, err := c.Sessions(ctx, 1, 5)
	decode(t, "Sessions", raw, err, &sessions)
	if len(sessions) == 0 || sessions[0].LastContent != prompt {
		t.Fatalf("sessions = %s", raw)
	}
	sid := sessions[0].SessID

	var history []struct{ Role, Content string }
	raw, err = c.ChatHistory(ctx, sid)
	decode(t, "ChatHistory", raw, err, &history)
	if len(history) != 2 || history[0].Role != "user" || history[0].Content != prompt ||
		history[1].Role != "assistant" || history[1].Content != replyTo(prompt) {
		t.Errorf("history = %s", raw)
	}

	if err := c.DeleteSession(ctx, sid); err != nil {
		t.Fatal(err)
	}
	raw, err = c.ChatHistory(ctx, sid)
	decode(t, "ChatHistory after delete", raw, err, &history)
	if len(history) != 0 {
		t.Errorf("history of a deleted session = %s", raw)
	}
	raw, err = c.Sessions(ctx, 1, 5)
	decode(t, "Sessions after delete", raw, err, &sessions)
	for _, s := range sessions {
		if s.SessID == sid {
			t.Errorf("deleted session %s still listed", sid)
		}
	}
	// Past the last page: an empty list.
	raw, err = c.Sessions(ctx, 1_000_000, 100)
	decode(t, "Sessions past the end", raw, err, &sessions)
	if len(sessions) != 0 {
		t.Errorf("page past the end = %s", raw)
	}

	// Bad arguments fail before anything is sent.
	for name, err := range map[string]error{
		"page 0":        func() error { _, err := c.Sessions(ctx, 0, 10); return err }(),
		"page size 0":   func() error { _, err := c.Sessions(ctx, 1, 0); return err }(),
		"page size 101": func() error { _, err := c.Sessions(ctx, 1, 101); return err }(),
		"negative page": func() error { _, err := c.Sessions(ctx, -1, 10); return err }(),
		"huge page":     func() error { _, err := c.Sessions(ctx, 1<<32+1, 10); return err }(),
		"bad id":        c.DeleteSession(ctx, "no spaces"),
		"empty id":      c.DeleteSession(ctx, ""),
		"NUL in id":     func() error { _, err := c.ChatHistory(ctx, sid+"\x00x"); return err }(),
	} {
		if !errors.Is(err, ustb.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		}
	}
}

func TestModels(t *testing.T) {
	c := loggedIn(t)
	list, err := c.Models(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := ustb.Model{ID: "DeepSeek", Object: "model", OwnedBy: "ustb", Label: "DeepSeek", ComposeID: 3}
	if list.Object != "list" || len(list.Data) != 1 || list.Data[0] != want {
		t.Errorf("models of 3 = %+v", list)
	}
	list, err = c.Models(context.Background(), 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Data) != 2 || list.Data[0].ID != "qwen-max" || list.Data[1].Label != "通义千问-Plus" || list.Data[1].ComposeID != 5 {
		t.Errorf("models of 5 = %+v", list)
	}
}

func TestLoginStates(t *testing.T) {
	ctx := context.Background()
	check := func(c *ustb.Client, state string, httpStatus int) {
		t.Helper()
		st, err := c.LoginState(ctx)
		if err != nil {
			t.Fatalf("LoginState: %v", err)
		}
		if st.State != state || st.HTTPStatus != httpStatus || st.Detail == "" {
			t.Errorf("LoginState = %+v, want %s with HTTP %d", st, state, httpStatus)
		}
	}
	check(loggedIn(t), ustb.LoggedIn, 200)
	guest := newClient(t, ustb.Options{})
	check(guest, ustb.LoggedOut, 302)

	// Logged out, the session endpoints answer e=10042; the site's public ones still work.
	if _, err := guest.Sessions(ctx, 1, 10); !errors.Is(err, ustb.ErrAuth) || !hasAPICode(err, 10042) {
		t.Errorf("Sessions logged out: %v", err)
	}
	if _, err := guest.NewSessionID(ctx, 0); !errors.Is(err, ustb.ErrAuth) {
		t.Errorf("NewSessionID logged out: %v", err)
	}
	if _, err := guest.Models(ctx, 0); err != nil {
		t.Errorf("Models logged out: %v", err)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	st, err := newClient(t, ustb.Options{BaseURL: dead, MaxRetries: ustb.Ptr(0)}).LoginState(ctx)
	if err != nil || st.State != ustb.Unreachable || st.Error != "connect_error" || st.HTTPStatus != 0 {
		t.Errorf("LoginState of a closed port = %+v, %v", st, err)
	}

	// An expired cookie (the emulator wants one exact token) is logged out; the right one is in.
	cmd, url, err := startEmulator(emulatorBin(), "--login-token", "fresh")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	check(newClient(t, ustb.Options{BaseURL: url, VJUIDLogin: "stale"}), ustb.LoggedOut, 302)
	check(newClient(t, ustb.Options{BaseURL: url, VJUIDLogin: "fresh"}), ustb.LoggedIn, 200)

	// --no-login lifts the session endpoints' login check.
	cmd2, url2, err := startEmulator(emulatorBin(), "--no-login")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd2.Process.Kill(); _ = cmd2.Wait() }()
	if _, err := newClient(t, ustb.Options{BaseURL: url2}).Sessions(ctx, 1, 10); err != nil {
		t.Errorf("Sessions with --no-login: %v", err)
	}
}

func hasAPICode(err error, code int64) bool {
	var e *ustb.Error
	return errors.As(err, &e) && e.APICode == code
}

// silentServer accepts connections and never answers, until the test ends.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, conn)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

func TestEndpointCancel(t *testing.T) {
	url := silentServer(t)
	c := newClient(t, ustb.Options{BaseURL: url, VJUIDLogin: "x", IdleTimeout: 20 * time.Second})

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Models(ctx, 0)
	took := time.Since(start)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ustb.ErrCancelled) {
		t.Errorf("Models after cancel = %v, want context.Canceled and ErrCancelled", err)
	}
	if took < 150*time.Millisecond || took > 5*time.Second {
		t.Errorf("Models returned after %v; want about 200 ms", took)
	}

	// A deadline stops every kind of call, the typed ones too.
	calls := map[string]func(context.Context) error{
		"WebInfo":    func(ctx context.Context) error { _, err := c.WebInfo(ctx); return err },
		"LoginState": func(ctx context.Context) error { _, err := c.LoginState(ctx); return err },
		"Sessions":   func(ctx context.Context) error { _, err := c.Sessions(ctx, 1, 10); return err },
		"Delete":     func(ctx context.Context) error { return c.DeleteSession(ctx, "abc") },
	}
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		err := call(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ustb.ErrCancelled) || time.Since(start) > 5*time.Second {
			t.Errorf("%s with a deadline: %v after %v", name, err, time.Since(start))
		}
	}

	// An already-cancelled context fails before anything is sent.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := c.Apps(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Apps with a cancelled context = %v", err)
	}

	// Without a deadline the client's idle timeout bounds the call.
	quick := newClient(t, ustb.Options{BaseURL: url, IdleTimeout: 300 * time.Millisecond, MaxRetries: ustb.Ptr(0)})
	start = time.Now()
	if _, err := quick.WebInfo(context.Background()); !errors.Is(err, ustb.ErrTimeout) || time.Since(start) > 5*time.Second {
		t.Errorf("WebInfo on a silent server: %v after %v", err, time.Since(start))
	}

	// The calls work after all this on a live server, with and without a context to watch.
	live := loggedIn(t)
	if _, err := live.WebInfo(t.Context()); err != nil {
		t.Errorf("WebInfo with a live context: %v", err)
	}
}
