package ustb_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ustb "github.com/ustb-openai/ustb-openai/examples/go"
)

// The login tests share one emulator with short SSO long polls, started by the first of them
// (the others' emulator keeps its defaults). They set its QR script, so none runs in parallel.
var (
	ssoOnce sync.Once
	ssoURL  string
	ssoErr  error
)

const defaultQRScript = "scan@800,confirm@1600"

func ssoEmulator(t *testing.T) string {
	t.Helper()
	ssoOnce.Do(func() {
		var cmd *exec.Cmd
		cmd, ssoURL, ssoErr = startEmulator(emulatorBin(), "--sso-long-poll-ms", "300")
		if ssoErr == nil {
			atExit = append(atExit, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		}
	})
	if ssoErr != nil {
		t.Fatalf("cannot start the emulator with SSO options: %v", ssoErr)
	}
	return ssoURL
}

// setQRScript sets the emulator's QR script for codes made from now on, and the default back
// at the end of the test.
func setQRScript(t *testing.T, url, script string) {
	t.Helper()
	post := func(s string) error {
		resp, err := http.Post(url+"/emulator/sso/qr-script", "text/plain", strings.NewReader(s))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	}
	if err := post(script); err != nil {
		t.Fatalf("setting the QR script %q: %v", script, err)
	}
	t.Cleanup(func() {
		if err := post(defaultQRScript); err != nil {
			t.Errorf("resetting the QR script: %v", err)
		}
	})
}

// newLogin makes a login whose three hosts are url, without retries.
func newLogin(t *testing.T, url string) *ustb.Login {
	t.Helper()
	l, err := ustb.NewLogin(ustb.LoginOptions{
		Options:    ustb.Options{BaseURL: url, MaxRetries: ustb.Ptr(0), IdleTimeout: 20 * time.Second},
		SSOBaseURL: url,
		SISBaseURL: url,
	})
	if err != nil {
		t.Fatalf("NewLogin: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// waitStates calls Wait until the state is final (confirmed or expired) and returns the
// states seen, in order, without repeats.
func waitStates(t *testing.T, l *ustb.Login) []ustb.QRState {
	t.Helper()
	var seen []ustb.QRState
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		st, err := l.Wait(context.Background(), 2*time.Second)
		if err != nil {
			t.Fatalf("Wait after %v: %v", seen, err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
		}
		if st == ustb.QRConfirmed || st == ustb.QRExpired {
			return seen
		}
	}
	t.Fatalf("no final state within 15 s: %v", seen)
	return nil
}

// chatWorks asks the client the intro prompt and checks the emulator's answer.
func chatWorks(t *testing.T, c *ustb.Client) {
	t.Helper()
	cc, err := c.CreateChatCompletion(context.Background(), ask(introPrompt))
	if err != nil {
		t.Fatalf("chat with the login's client: %v", err)
	}
	if got := cc.Choices[0].Message.Content; got != introContent {
		t.Fatalf("chat answer %q", got)
	}
}

func wantStatus(t *testing.T, what string, err error, want ustb.Status) {
	t.Helper()
	if !ustb.IsStatus(err, want) {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}

func TestLoginQRHappyPath(t *testing.T) {
	url := ssoEmulator(t)
	setQRScript(t, url, "scan@100,confirm@400")
	l := newLogin(t, url)
	ctx := context.Background()
	if err := l.QRStart(ctx); err != nil {
		t.Fatalf("QRStart: %v", err)
	}
	png, err := l.QRPNG()
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("QRPNG: %d bytes, %v", len(png), err)
	}
	text, err := l.QRText()
	if err != nil || !strings.ContainsAny(text, "▀▄█") || strings.Count(text, "\n") < 10 {
		t.Fatalf("QRText: %q, %v", text, err)
	}
	page, err := l.QRPageURL()
	if err != nil || !strings.HasPrefix(page, url+"/") {
		t.Fatalf("QRPageURL: %q, %v", page, err)
	}
	if _, err := l.Cookie(); !ustb.IsStatus(err, ustb.StatusInvalidArgument) {
		t.Errorf("Cookie before the login: %v", err)
	}

	seen := waitStates(t, l)
	if i := slices.Index(seen, ustb.QRScanned); i < 0 || !slices.Equal(seen[i:], []ustb.QRState{ustb.QRScanned, ustb.QRConfirmed}) {
		t.Fatalf("states %v, want scanned then confirmed", seen)
	}
	// Confirmed is final: asking again answers at once.
	start := time.Now()
	if st, err := l.Wait(ctx, 10*time.Second); st != ustb.QRConfirmed || err != nil || time.Since(start) > time.Second {
		t.Errorf("Wait after confirmed: %v, %v after %v", st, err, time.Since(start))
	}
	cookie, err := l.Cookie()
	if err != nil || cookie == "" {
		t.Fatalf("Cookie: %q, %v", cookie, err)
	}

	c, err := l.Client()
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	defer c.Close()
	chatWorks(t, c)
	if ck, err := c.Cookies(); err != nil || ck.VJUIDLogin != cookie {
		t.Errorf("the client's cookie is not the login's: %v", err)
	}

	// Install: a client without a login gets one.
	guest := newClient(t, ustb.Options{BaseURL: url, MaxRetries: ustb.Ptr(0)})
	if _, err := guest.CreateChatCompletion(ctx, ask("hi")); !errors.Is(err, ustb.ErrAuth) {
		t.Fatalf("guest chat: %v, want ErrAuth", err)
	}
	if err := l.Install(guest); err != nil {
		t.Fatalf("Install: %v", err)
	}
	chatWorks(t, guest)
}

func TestLoginQRExpiryAndRenewal(t *testing.T) {
	url := ssoEmulator(t)
	setQRScript(t, url, "expire@200;scan@100,confirm@300")
	l := newLogin(t, url)
	ctx := context.Background()
	if err := l.QRStart(ctx); err != nil {
		t.Fatalf("QRStart: %v", err)
	}
	first, _ := l.QRPNG()
	if seen := waitStates(t, l); seen[len(seen)-1] != ustb.QRExpired || slices.Contains(seen, ustb.QRScanned) {
		t.Fatalf("first code: states %v, want expired", seen)
	}
	if st, err := l.Wait(ctx, time.Second); st != ustb.QRExpired || err != nil {
		t.Errorf("Wait after expired: %v, %v", st, err)
	}
	if _, err := l.Cookie(); !ustb.IsStatus(err, ustb.StatusInvalidArgument) {
		t.Errorf("Cookie after expiry: %v", err)
	}

	if err := l.QRStart(ctx); err != nil { // renewal
		t.Fatalf("QRStart again: %v", err)
	}
	second, _ := l.QRPNG()
	if len(first) == 0 || bytes.Equal(first, second) {
		t.Errorf("the renewed QR code is the same image (%d bytes)", len(first))
	}
	if seen := waitStates(t, l); !slices.Equal(seen, []ustb.QRState{ustb.QRScanned, ustb.QRConfirmed}) &&
		!slices.Equal(seen, []ustb.QRState{ustb.QRWaiting, ustb.QRScanned, ustb.QRConfirmed}) {
		t.Fatalf("renewed code: states %v", seen)
	}
	c, err := l.Client()
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	defer c.Close()
	chatWorks(t, c)
}

func TestLoginQRInvalidIsAuthError(t *testing.T) {
	url := ssoEmulator(t)
	setQRScript(t, url, "invalid@100")
	l := newLogin(t, url)
	if err := l.QRStart(context.Background()); err != nil {
		t.Fatalf("QRStart: %v", err)
	}
	var st ustb.QRState
	var err error
	for i := 0; i < 20 && err == nil; i++ {
		st, err = l.Wait(context.Background(), 2*time.Second)
	}
	if st != ustb.QRFailed || !errors.Is(err, ustb.ErrAuth) {
		t.Fatalf("Wait: %v, %v; want QRFailed and ErrAuth", st, err)
	}
	if _, err := l.Client(); !ustb.IsStatus(err, ustb.StatusInvalidArgument) {
		t.Errorf("Client after a failed login: %v", err)
	}
}

func TestLoginQRWaitCancel(t *testing.T) {
	url := ssoEmulator(t)
	setQRScript(t, url, "scan@60000")
	l := newLogin(t, url)
	if err := l.QRStart(context.Background()); err != nil {
		t.Fatalf("QRStart: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var cancelledAt atomic.Int64
	go func() {
		time.Sleep(300 * time.Millisecond)
		cancelledAt.Store(time.Now().UnixNano())
		cancel()
	}()
	start := time.Now()
	st, err := l.Wait(ctx, time.Minute)
	took := time.Since(time.Unix(0, cancelledAt.Load()))
	if st != ustb.QRFailed || !errors.Is(err, ustb.ErrCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait: %v, %v; want QRFailed, ErrCancelled and context.Canceled", st, err)
	}
	if cancelledAt.Load() == 0 || took > 500*time.Millisecond {
		t.Fatalf("Wait returned %v after the cancel (%v after it began)", took, time.Since(start))
	}
	// An already cancelled context fails before any call; a fresh one can wait again.
	if _, err := l.Wait(ctx, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a cancelled context: %v", err)
	}
	if st, err := l.Wait(context.Background(), 100*time.Millisecond); st != ustb.QRWaiting || err != nil {
		t.Errorf("Wait after the cancel: %v, %v", st, err)
	}
}

func TestLoginSMS(t *testing.T) {
	url := ssoEmulator(t)
	ctx := context.Background()
	const phone = "13800000001"

	l := newLogin(t, url)
	if err := l.SendSMS(ctx, phone, ustb.PuzzleAuto); err != nil {
		t.Fatalf("SendSMS(auto): %v", err)
	}
	if err := l.SubmitSMS(ctx, phone[5:]); err != nil {
		t.Fatalf("SubmitSMS: %v", err)
	}
	cookie, err := l.Cookie()
	if err != nil || cookie == "" {
		t.Fatalf("Cookie: %q, %v", cookie, err)
	}
	c, err := l.Client()
	if err != nil {
		t.Fatalf("Client: %v", err)
	}
	defer c.Close()
	chatWorks(t, c)

	// A puzzle solved by hand (here: by the library's solver), and the same phone again at once.
	const phone2 = "13800000002"
	m := newLogin(t, url)
	if err := m.SMSPuzzle(ctx); err != nil {
		t.Fatalf("SMSPuzzle: %v", err)
	}
	bg, piece, err := m.PuzzleImages()
	if err != nil || !bytes.HasPrefix(bg, []byte("\x89PNG")) || !bytes.HasPrefix(piece, []byte("\x89PNG")) {
		t.Fatalf("PuzzleImages: %d and %d bytes, %v", len(bg), len(piece), err)
	}
	x, err := m.SolvePuzzle()
	if err != nil || x <= 0 {
		t.Fatalf("SolvePuzzle: %d, %v", x, err)
	}
	if err := m.SendSMS(ctx, phone2, x); err != nil {
		t.Fatalf("SendSMS(x=%d): %v", x, err)
	}
	if err := m.SubmitSMS(ctx, phone2[5:]); err != nil {
		t.Fatalf("SubmitSMS: %v", err)
	}
	if _, err := m.Cookie(); err != nil {
		t.Errorf("Cookie: %v", err)
	}
	err = newLogin(t, url).SendSMS(ctx, phone2, ustb.PuzzleAuto)
	var e *ustb.Error
	if !errors.As(err, &e) || e.Status != ustb.StatusAPIError || e.APICode != 201 {
		t.Fatalf("a second code within 60 s: %v, want ErrAPI 201", err)
	}
}

func TestLoginSMSWrongCode(t *testing.T) {
	url := ssoEmulator(t)
	ctx := context.Background()
	const phone = "13800000003"
	l := newLogin(t, url)
	if err := l.SendSMS(ctx, phone, ustb.PuzzleAuto); err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	if err := l.SubmitSMS(ctx, "999999"); !errors.Is(err, ustb.ErrAPI) {
		t.Fatalf("wrong code: %v, want ErrAPI", err)
	}
	if _, err := l.Cookie(); !errors.Is(err, ustb.ErrInvalidArgument) {
		t.Errorf("Cookie after a wrong code: %v", err)
	}
	if err := l.SubmitSMS(ctx, phone[5:]); err != nil {
		t.Fatalf("the right code after a wrong one: %v", err)
	}
}

// countingServer accepts connections (and closes them), counting them.
func countingServer(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			conn.Close()
		}
	}()
	return "http://" + ln.Addr().String(), &n
}

// Bad arguments and calls out of order fail with ErrInvalidArgument, sending nothing.
func TestLoginInvalidArgumentsWithoutTraffic(t *testing.T) {
	url, conns := countingServer(t)
	l := newLogin(t, url)
	ctx := context.Background()
	for _, phone := range []string{"", "12345", "23800000000", "1380000000", "138000000001", "1380000000a", "13800000000\x00"} {
		wantStatus(t, fmt.Sprintf("SendSMS(%q)", phone), l.SendSMS(ctx, phone, ustb.PuzzleAuto), ustb.StatusInvalidArgument)
	}
	wantStatus(t, "SendSMS(x=-2)", l.SendSMS(ctx, "13800000000", -2), ustb.StatusInvalidArgument)
	wantStatus(t, "SendSMS(x) without a puzzle", l.SendSMS(ctx, "13800000000", 10), ustb.StatusInvalidArgument)
	wantStatus(t, "SubmitSMS before SendSMS", l.SubmitSMS(ctx, "123456"), ustb.StatusInvalidArgument)
	_, err := l.QRPNG()
	wantStatus(t, "QRPNG", err, ustb.StatusInvalidArgument)
	_, err = l.QRText()
	wantStatus(t, "QRText", err, ustb.StatusInvalidArgument)
	_, err = l.QRPageURL()
	wantStatus(t, "QRPageURL", err, ustb.StatusInvalidArgument)
	st, err := l.Wait(ctx, time.Second)
	wantStatus(t, "Wait", err, ustb.StatusInvalidArgument)
	if st != ustb.QRFailed {
		t.Errorf("Wait before QRStart: state %v", st)
	}
	_, err = l.Wait(ctx, -time.Second)
	wantStatus(t, "Wait(negative)", err, ustb.StatusInvalidArgument)
	_, _, err = l.PuzzleImages()
	wantStatus(t, "PuzzleImages", err, ustb.StatusInvalidArgument)
	_, err = l.SolvePuzzle()
	wantStatus(t, "SolvePuzzle", err, ustb.StatusInvalidArgument)
	_, err = l.Cookie()
	wantStatus(t, "Cookie", err, ustb.StatusInvalidArgument)
	_, err = l.Client()
	wantStatus(t, "Client", err, ustb.StatusInvalidArgument)
	wantStatus(t, "Install", l.Install(newClient(t, ustb.Options{BaseURL: url})), ustb.StatusInvalidArgument)
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections were made", n)
	}

	_, err = ustb.NewLogin(ustb.LoginOptions{CAFile: filepath.Join(t.TempDir(), "missing.pem")})
	wantStatus(t, "NewLogin with a missing CA file", err, ustb.StatusInvalidArgument)
	_, err = ustb.NewLogin(ustb.LoginOptions{SSOBaseURL: "ftp://x"})
	wantStatus(t, "NewLogin with an ftp SSO URL", err, ustb.StatusInvalidArgument)
}

func TestLoginClosed(t *testing.T) {
	url, conns := countingServer(t)
	l := newLogin(t, url)
	ctx := context.Background()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, e1 := l.QRPNG()
	_, e2 := l.QRText()
	_, e3 := l.QRPageURL()
	_, e4 := l.Wait(ctx, time.Second)
	_, _, e5 := l.PuzzleImages()
	_, e6 := l.SolvePuzzle()
	_, e7 := l.Cookie()
	_, e8 := l.Client()
	for i, err := range []error{
		l.QRStart(ctx), e1, e2, e3, e4, l.SMSPuzzle(ctx), e5, e6,
		l.SendSMS(ctx, "13800000000", ustb.PuzzleAuto), l.SubmitSMS(ctx, "123456"), e7, e8,
		l.Install(newClient(t, ustb.Options{BaseURL: url})),
	} {
		if !errors.Is(err, ustb.ErrClosed) {
			t.Errorf("call %d after Close: %v, want ErrClosed", i, err)
		}
	}
	// A closed client cannot be given a cookie either.
	m := newLogin(t, url)
	c := newClient(t, ustb.Options{BaseURL: url})
	c.Close()
	if err := m.Install(c); !errors.Is(err, ustb.ErrClosed) {
		t.Errorf("Install into a closed client: %v", err)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("%d connections were made", n)
	}
}

// Phone numbers and cookies appear neither in errors nor in the library's log lines.
func TestLoginSecretsStayOut(t *testing.T) {
	url := ssoEmulator(t)
	ctx := context.Background()
	h := &captured{level: slog.LevelDebug}
	setLogger(t, h)
	const phone = "13800000004"
	var errs []error

	l := newLogin(t, url)
	errs = append(errs, l.SendSMS(ctx, "1380000000", ustb.PuzzleAuto)) // 10 digits
	if err := l.SendSMS(ctx, phone, ustb.PuzzleAuto); err != nil {
		t.Fatalf("SendSMS: %v", err)
	}
	errs = append(errs, l.SubmitSMS(ctx, "999999"))
	errs = append(errs, newLogin(t, url).SendSMS(ctx, phone, ustb.PuzzleAuto)) // 201: too soon
	if err := l.SubmitSMS(ctx, phone[5:]); err != nil {
		t.Fatalf("SubmitSMS: %v", err)
	}
	cookie, err := l.Cookie()
	if err != nil || len(cookie) < 8 {
		t.Fatalf("Cookie: %q, %v", cookie, err)
	}
	c, err := l.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.CreateChatCompletion(ctx, ask("@emu:truncate"))
	errs = append(errs, err)

	if len(slices.DeleteFunc(slices.Clone(errs), func(e error) bool { return e == nil })) != len(errs) {
		t.Fatalf("some calls did not fail: %v", errs)
	}
	for _, err := range errs {
		if msg := fmt.Sprintf("%v %+v", err, err); strings.Contains(msg, phone) || strings.Contains(msg, cookie) {
			t.Errorf("an error shows a secret: %s", msg)
		}
	}
	lines := h.take()
	if len(lines) == 0 {
		t.Fatal("no log lines at debug level")
	}
	for _, line := range lines {
		if strings.Contains(line.msg, phone) || strings.Contains(line.msg, cookie) {
			t.Errorf("a log line shows a secret: %s", line.msg)
		}
	}
}

// The example cmd/login logs in with a QR code that expires once, streams a reply and saves
// the cookie with mode 0600.
func TestLoginExample(t *testing.T) {
	url := ssoEmulator(t)
	setQRScript(t, url, "expire@200;scan@100,confirm@300")
	dir := t.TempDir()
	exe := filepath.Join(dir, "login")
	if out, err := exec.Command("go", "build", "-o", exe, "./cmd/login").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/login: %v\n%s", err, out)
	}
	file := filepath.Join(dir, "cookie")
	cmd := exec.Command(exe, "-base-url", url, "-sso-base-url", url, "-sis-base-url", url, "-cookie-file", file, "你好")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	stdout := string(out)
	if err != nil {
		t.Fatalf("login: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr.String())
	}
	// The progress, in order: a code, waiting, expired, a new code, scanned, confirmed, the answer.
	at := 0
	for _, part := range []string{"█", "waiting\n", "expired\n", "renewing the QR code\n", "█", "scanned\n", "confirmed\n",
		"cookie saved to " + file + " (mode 0600)\n", "【回答】\n" + replyTo("你好")} {
		i := strings.Index(stdout[at:], part)
		if i < 0 {
			t.Fatalf("output lacks %q after byte %d:\n%s", part, at, stdout)
		}
		at += i + len(part)
	}
	info, err := os.Stat(file)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("cookie file: %v, %v", info, err)
	}
	saved, _ := os.ReadFile(file)
	cookie := strings.TrimSpace(string(saved))
	if cookie == "" || strings.Contains(stdout+stderr.String(), cookie) {
		t.Errorf("the cookie %q is missing from the file or shown in the output", cookie)
	}
	// The saved cookie logs in.
	chatWorks(t, newClient(t, ustb.Options{BaseURL: url, VJUIDLogin: cookie}))
}
