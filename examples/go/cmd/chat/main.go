// Command chat streams one reply of 北科大 AI 助手 to stdout: the model's thinking under
// 【思考】, then the answer under 【回答】.
//
//	chat [-base-url URL] [-cookie "easy_session=…; cookie_vjuid_login=…"] [-no-think] [-usage] prompt
//
// The cookie can also come from USTB_COOKIE. Ctrl-C cancels the reply. Exit status: 0 on
// success, 1 on an error, 2 on bad usage.
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

	ustb "github.com/ustb-openai/ustb-openai/examples/go"
)

func main() {
	baseURL := flag.String("base-url", "http://chat.ustb.edu.cn", "server base URL (http only)")
	cookie := flag.String("cookie", os.Getenv("USTB_COOKIE"), `login cookies, "easy_session=…; cookie_vjuid_login=…" (default $USTB_COOKIE)`)
	noThink := flag.Bool("no-think", false, "turn deep thinking off")
	usage := flag.Bool("usage", false, "print the token usage at the end")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: chat [flags] prompt")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*baseURL, *cookie, strings.Join(flag.Args(), " "), !*noThink, *usage); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

func run(baseURL, cookie, prompt string, think, usage bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	client, err := ustb.NewClient(ustb.Options{BaseURL: baseURL, Cookie: cookie})
	if err != nil {
		return err
	}
	defer client.Close()
	stream, err := client.CreateChatCompletionStream(ctx, ustb.ChatCompletionRequest{
		Model:         "deepseek-r1",
		Messages:      []ustb.ChatCompletionMessage{{Role: ustb.RoleUser, Content: prompt}},
		DeepThinking:  ustb.Ptr(think),
		StreamOptions: &ustb.StreamOptions{IncludeUsage: usage},
	})
	if err != nil {
		return err
	}
	defer stream.Close()

	const (
		none = iota
		thinking
		answering
	)
	phase := none
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
			if r := ch.Delta.ReasoningContent; r != "" {
				if phase == none {
					fmt.Println("【思考】")
				}
				phase = thinking
				fmt.Print(r)
			}
			if c := ch.Delta.Content; c != "" {
				if phase == thinking {
					fmt.Print("\n\n")
				}
				if phase != answering {
					fmt.Println("【回答】")
				}
				phase = answering
				fmt.Print(c)
			}
		}
		if u := chunk.Usage; u != nil {
			fmt.Printf("\n(usage: %d prompt + %d completion = %d tokens)", u.PromptTokens, u.CompletionTokens, u.TotalTokens)
		}
	}
}
