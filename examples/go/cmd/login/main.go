// Command login logs in with the university SSO's WeChat QR code, then streams one reply of
// 北科大 AI 助手 with the new login.
//
//	login [-base-url URL] [-sso-base-url URL] [-sis-base-url URL] [-cookie-file FILE] [prompt]
//
// It prints the QR code as text (scan it with WeChat), the progress (waiting, scanned,
// confirmed; an expired code is renewed), the reply, and saves the login cookie to FILE with
// mode 0600 (without -cookie-file it only says so). Pass the saved cookie to cmd/chat as
// -cookie "cookie_vjuid_login=…". Defaults come from USTB_BASE_URL, USTB_SSO_BASE_URL and
// USTB_SIS_BASE_URL, else the real hosts. Ctrl-C cancels. Exit status: 0 on success, 1 on an
// error, 2 on bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	ustb "github.com/ustb-openai/ustb-openai/examples/go"
)

// maxRenewals bounds how often an expired code is replaced before giving up.
const maxRenewals = 5

func main() {
	env := func(k, d string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return d
	}
	var opts ustb.LoginOptions
	flag.StringVar(&opts.BaseURL, "base-url", env("USTB_BASE_URL", "http://chat.ustb.edu.cn"), "chat server base URL (default $USTB_BASE_URL)")
	flag.StringVar(&opts.SSOBaseURL, "sso-base-url", os.Getenv("USTB_SSO_BASE_URL"), "SSO base URL (default $USTB_SSO_BASE_URL, else https://sso.ustb.edu.cn)")
	flag.StringVar(&opts.SISBaseURL, "sis-base-url", os.Getenv("USTB_SIS_BASE_URL"), "QR page base URL (default $USTB_SIS_BASE_URL, else https://sis.ustb.edu.cn)")
	cookieFile := flag.String("cookie-file", "", "save the login cookie to this file (mode 0600)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: login [flags] [prompt]")
		flag.PrintDefaults()
	}
	flag.Parse()
	prompt := strings.Join(flag.Args(), " ")
	if prompt == "" {
		prompt = "你好"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, opts, *cookieFile, prompt); err != nil {
		fmt.Fprintln(os.Stderr, "login:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opts ustb.LoginOptions, cookieFile, prompt string) error {
	login, err := ustb.NewLogin(opts)
	if err != nil {
		return err
	}
	defer login.Close()
	if err := loginByQR(ctx, login); err != nil {
		return err
	}

	cookie, err := login.Cookie()
	if err != nil {
		return err
	}
	if cookieFile == "" {
		fmt.Println("no -cookie-file given: the cookie would be saved to a file you name, with mode 0600")
	} else {
		if err := saveSecret(cookieFile, cookie); err != nil {
			return err
		}
		fmt.Printf("cookie saved to %s (mode 0600)\n", cookieFile)
	}

	client, err := login.Client()
	if err != nil {
		return err
	}
	defer client.Close()
	return streamReply(ctx, client, prompt)
}

// loginByQR shows QR codes and reports their progress until one is confirmed.
func loginByQR(ctx context.Context, login *ustb.Login) error {
	for renewals := 0; ; renewals++ {
		if err := login.QRStart(ctx); err != nil {
			return err
		}
		text, err := login.QRText()
		if err != nil {
			return err
		}
		fmt.Print(text)
		fmt.Println("scan the QR code with WeChat and confirm on the phone")
		fmt.Println("waiting")
		last := ustb.QRWaiting
		for last != ustb.QRConfirmed && last != ustb.QRExpired {
			state, err := login.Wait(ctx, 30*time.Second)
			if err != nil {
				return err
			}
			if state != last {
				fmt.Println(state)
				last = state
			}
		}
		if last == ustb.QRConfirmed {
			return nil
		}
		if renewals == maxRenewals {
			return errors.New("the QR code expired too often")
		}
		fmt.Println("renewing the QR code")
	}
}

// saveSecret writes s to a file only its owner can read, also when the file existed.
func saveSecret(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// streamReply prints the answer to prompt as it arrives.
func streamReply(ctx context.Context, client *ustb.Client, prompt string) error {
	stream, err := client.CreateChatCompletionStream(ctx, ustb.ChatCompletionRequest{
		Model:        "deepseek-r1",
		Messages:     []ustb.ChatCompletionMessage{{Role: ustb.RoleUser, Content: prompt}},
		DeepThinking: ustb.Ptr(false),
	})
	if err != nil {
		return err
	}
	defer stream.Close()
	fmt.Println("【回答】")
	defer fmt.Println()
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, ch := range chunk.Choices {
			fmt.Print(ch.Delta.Content)
		}
	}
}
