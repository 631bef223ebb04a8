package ustb_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	ustb "github.com/ustb-openai/ustb-openai/examples/go"
)

var weatherTool = ustb.Tool{Type: "function", Function: ustb.FunctionDefinition{
	Name:        "get_weather",
	Description: "Current weather of a city",
	Parameters: map[string]any{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required":   []string{"city"},
	},
}}

// The emulator answers a prompt holding this with one call of get_weather.
const weatherPrompt = `北京天气？@emu:tool=get_weather:{"city":"北京"}`

func withTools(prompt string) ustb.ChatCompletionRequest {
	req := ask(prompt)
	req.Tools = []ustb.Tool{weatherTool}
	return req
}

func TestToolCallStream(t *testing.T) {
	c := loggedIn(t)
	s, err := c.CreateChatCompletionStream(context.Background(), withTools(weatherPrompt))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var calls []ustb.ToolCall // assembled from the deltas, as OpenAI clients do
	var content strings.Builder
	var finish string
	for {
		chunk, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range chunk.Choices {
			content.WriteString(ch.Delta.Content)
			if ch.FinishReason != "" {
				finish = ch.FinishReason
			}
			for _, d := range ch.Delta.ToolCalls {
				if d.Index == nil {
					t.Fatalf("a tool call delta without index: %+v", d)
				}
				if d.ID != "" {
					if *d.Index != len(calls) || d.Type != "function" || d.Function.Arguments != "" {
						t.Errorf("first delta of a call: %+v", d)
					}
					calls = append(calls, ustb.ToolCall{ID: d.ID, Type: d.Type, Function: ustb.FunctionCall{Name: d.Function.Name}})
					continue
				}
				if *d.Index >= len(calls) || d.Function.Name != "" {
					t.Fatalf("argument delta: %+v", d)
				}
				calls[*d.Index].Function.Arguments += d.Function.Arguments
			}
		}
	}
	if len(calls) != 1 || calls[0].Function.Name != "get_weather" || calls[0].Function.Arguments != `{"city":"北京"}` ||
		!strings.HasPrefix(calls[0].ID, "call_") {
		t.Errorf("calls = %+v", calls)
	}
	if finish != ustb.FinishReasonToolCalls || content.String() != "好的，我来调用工具。\n" {
		t.Errorf("finish_reason %q, content %q", finish, content.String())
	}
}

// runToolLoop runs the two-step loop for prompt: the model asks for get_weather, the program
// sends the result back, the model answers from it.
func runToolLoop(t *testing.T, c *ustb.Client, prompt string) {
	t.Helper()
	ctx := context.Background()
	req := withTools(prompt)
	req.Messages = append([]ustb.ChatCompletionMessage{{Role: ustb.RoleSystem, Content: "你是助手。"}}, req.Messages...)
	req.ToolChoice = ustb.ToolChoiceFunction("get_weather")
	req.ParallelToolCalls = ustb.Ptr(false)

	// Step 1: the model asks for the tool.
	cc, err := c.CreateChatCompletion(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	msg := cc.Choices[0].Message
	if cc.Choices[0].FinishReason != ustb.FinishReasonToolCalls || len(msg.ToolCalls) != 1 {
		t.Fatalf("step 1: %+v", cc.Choices[0])
	}
	if strings.ContainsAny(msg.Content, "<｜`{") { // whatever the form, none of its markup is text
		t.Errorf("step 1 content: %q", msg.Content)
	}
	call := msg.ToolCalls[0]
	var args struct{ City string }
	if err := json.Unmarshal([]byte(call.Function.Arguments), &args); err != nil || args.City != "北京" ||
		call.Type != "function" || call.Index != nil || !strings.HasPrefix(call.ID, "call_") {
		t.Fatalf("step 1 call: %+v (%v)", call, err)
	}

	// Step 2: the program runs it and sends the result back; the model answers.
	req.Messages = append(req.Messages,
		ustb.ChatCompletionMessage{Role: ustb.RoleAssistant, Content: msg.Content, ToolCalls: msg.ToolCalls},
		ustb.ChatCompletionMessage{Role: ustb.RoleTool, ToolCallID: call.ID, Content: "晴，25°C"})
	req.ToolChoice = ustb.ToolChoiceAuto
	cc, err = c.CreateChatCompletion(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := cc.Choices[0]; got.Message.Content != "根据工具 get_weather 的结果：晴，25°C" ||
		got.FinishReason != ustb.FinishReasonStop || got.Message.ToolCalls != nil {
		t.Errorf("step 2: %+v", got)
	}
}

func TestToolLoop(t *testing.T) {
	c := loggedIn(t)
	ctx := context.Background()
	runToolLoop(t, c, weatherPrompt)

	// Only the call, no text around it: content is null, which reads as "".
	cc, err := c.CreateChatCompletion(ctx, withTools(weatherPrompt+" @emu:tool-bare"))
	if err != nil || cc.Choices[0].Message.Content != "" || len(cc.Choices[0].Message.ToolCalls) != 1 {
		t.Errorf("bare call: %+v, %v", cc, err)
	}

	// tool_choice "none": no calls, the markup is text.
	req := withTools(weatherPrompt)
	req.ToolChoice = ustb.ToolChoiceNone
	cc, err = c.CreateChatCompletion(ctx, req)
	if err != nil || cc.Choices[0].Message.ToolCalls != nil || !strings.Contains(cc.Choices[0].Message.Content, "<tool_call>") {
		t.Errorf("tool_choice none: %+v, %v", cc, err)
	}
}

// Issue 17: the loop runs the same whatever markup the model writes its call in (the
// emulator's @emu:tool-form=FORM): XML invocations, DeepSeek's special tokens, a call in the
// reasoning.
func TestToolLoopForms(t *testing.T) {
	c := loggedIn(t)
	for _, form := range []string{"invoke", "special", "reasoning"} {
		t.Run(form, func(t *testing.T) { runToolLoop(t, c, weatherPrompt+" @emu:tool-form="+form) })
	}
}

func TestBadToolsAreRefused(t *testing.T) {
	c := loggedIn(t)
	bad := func(edit func(*ustb.ChatCompletionRequest)) error {
		req := withTools("hi")
		edit(&req)
		_, err := c.CreateChatCompletionStream(context.Background(), req)
		return err
	}
	for name, err := range map[string]error{
		"bad name": bad(func(r *ustb.ChatCompletionRequest) { r.Tools[0].Function.Name = "no spaces" }),
		"not a function": bad(func(r *ustb.ChatCompletionRequest) {
			r.Tools = []ustb.Tool{{Type: "web", Function: weatherTool.Function}}
		}),
		"unknown choice":    bad(func(r *ustb.ChatCompletionRequest) { r.ToolChoice = ustb.ToolChoiceFunction("nope") }),
		"required, no tool": bad(func(r *ustb.ChatCompletionRequest) { r.Tools = nil; r.ToolChoice = ustb.ToolChoiceRequired }),
	} {
		if !errors.Is(err, ustb.ErrInvalidRequest) {
			t.Errorf("%s: %v, want ErrInvalidRequest", name, err)
		}
	}
}
