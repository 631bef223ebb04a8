package ustb

// #include <stdlib.h>
import "C"

import (
	"encoding/json"
)

// Roles of a chat message.
const (
	RoleSystem    = "system"
	RoleDeveloper = "developer"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool" // a tool's result, answering the assistant's call ToolCallID
)

// Finish reasons of a choice.
const (
	FinishReasonStop          = "stop"
	FinishReasonContentFilter = "content_filter" // the server's moderation answered instead of the model
	FinishReasonToolCalls     = "tool_calls"     // the reply asks for tool calls
)

// ChatCompletionMessage is one message of a conversation. The last one must be the user's;
// system and developer text is put before it.
// An assistant message that made tool calls carries them in ToolCalls (Content may be "");
// each call's result is a RoleTool message with its ToolCallID.
type ChatCompletionMessage struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	Name       string     `json:"name,omitempty"` // a tool result's function name (optional)
}

// Tool is a function the model may call (OpenAI's tools[i]; Type is "function").
type Tool struct {
	Type     string             `json:"type"`
	Function FunctionDefinition `json:"function"`
}

// FunctionDefinition describes a function: Name is 1 to 64 letters, digits, _ or -;
// Parameters is a JSON Schema object (any value that marshals to one, e.g. a map or
// json.RawMessage).
type FunctionDefinition struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Parameters  any    `json:"parameters,omitempty"`
	Strict      bool   `json:"strict,omitempty"` // accepted, not enforced
}

// Values of ChatCompletionRequest.ToolChoice besides ToolChoiceFunction.
const (
	ToolChoiceAuto     = "auto"     // the default: the model decides
	ToolChoiceNone     = "none"     // no calls (the tools are not offered)
	ToolChoiceRequired = "required" // at least one call
)

// ToolChoiceFunction makes the model call the named function:
// {"type":"function","function":{"name":…}}.
func ToolChoiceFunction(name string) any {
	type fn struct {
		Name string `json:"name"`
	}
	return struct {
		Type     string `json:"type"`
		Function fn     `json:"function"`
	}{"function", fn{name}}
}

// ToolCall is one call the model made. In a stream delta Index says which call a piece
// belongs to, and ID, Type and Function.Name come with the call's first piece only; in a
// whole reply (and in messages sent back) Index is nil.
type ToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"` // "function"
	Function FunctionCall `json:"function"`
}

// FunctionCall is a call's function name and its arguments as JSON text: always a JSON
// object (check its fields against the tool's schema before use).
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// StreamOptions are OpenAI's stream_options.
type StreamOptions struct {
	// IncludeUsage adds a last chunk with empty Choices and the Usage (when the server
	// reports it); for CreateChatCompletion usage is always filled in when known.
	IncludeUsage bool `json:"include_usage"`
}

// ChatCompletionRequest is an OpenAI chat-completions request plus USTB's extras. Pointer
// fields left nil take the library's defaults.
type ChatCompletionRequest struct {
	Model         string                  `json:"model,omitempty"` // "DeepSeek"; deepseek-r1, deepseek-chat, deepseek-reasoner are aliases
	Messages      []ChatCompletionMessage `json:"messages"`
	StreamOptions *StreamOptions          `json:"stream_options,omitempty"`

	Tools             []Tool `json:"tools,omitempty"`
	ToolChoice        any    `json:"tool_choice,omitempty"`         // ToolChoiceAuto, …, or ToolChoiceFunction(name)
	ParallelToolCalls *bool  `json:"parallel_tool_calls,omitempty"` // false asks for at most one call per reply

	DeepThinking   *bool `json:"deep_thinking,omitempty"`   // default true
	WebSearch      *bool `json:"web_search,omitempty"`      // default false
	ThinkingBudget *int  `json:"thinking_budget,omitempty"` // default 1000
	ComposeID      int   `json:"compose_id,omitempty"`      // default: the client's (3)
}

// Ptr returns a pointer to v, for the optional request fields.
func Ptr[T any](v T) *T { return &v }

// cString marshals the request into a C string the caller frees with C.free.
func (r ChatCompletionRequest) cString() (*C.char, error) {
	if r.Messages == nil {
		r.Messages = []ChatCompletionMessage{} // "messages": null would be a less clear error
	}
	js, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return C.CString(string(js)), nil
}

// Usage is the token accounting of a reply.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// ChatCompletion is a whole reply (OpenAI "chat.completion").
type ChatCompletion struct {
	ID                string   `json:"id"`
	Object            string   `json:"object"`
	Created           int64    `json:"created"`
	Model             string   `json:"model"`
	SystemFingerprint string   `json:"system_fingerprint"`
	Choices           []Choice `json:"choices"`
	Usage             *Usage   `json:"usage"` // nil when the server sent none
}

// Choice is one choice of a ChatCompletion.
type Choice struct {
	Index        int             `json:"index"`
	Message      ResponseMessage `json:"message"`
	FinishReason string          `json:"finish_reason"`
}

// ResponseMessage is the assistant's message.
type ResponseMessage struct {
	Role             string     `json:"role"`
	Content          string     `json:"content"`
	ReasoningContent string     `json:"reasoning_content"` // the model's thinking; "" when it did not think
	Refusal          string     `json:"refusal"`
	ToolCalls        []ToolCall `json:"tool_calls"` // with FinishReasonToolCalls; Content is then often ""
}

// ChatCompletionChunk is one streamed piece of a reply (OpenAI "chat.completion.chunk").
type ChatCompletionChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	SystemFingerprint string        `json:"system_fingerprint"`
	Choices           []ChunkChoice `json:"choices"` // empty in the usage-only last chunk
	Usage             *Usage        `json:"usage"`
}

// ChunkChoice is one choice of a chunk.
type ChunkChoice struct {
	Index        int        `json:"index"`
	Delta        ChunkDelta `json:"delta"`
	FinishReason string     `json:"finish_reason"` // "" until the last content chunk
}

// ChunkDelta is the text a chunk adds.
type ChunkDelta struct {
	Role             string     `json:"role"` // "assistant" in the first chunk only
	Content          string     `json:"content"`
	ReasoningContent string     `json:"reasoning_content"`
	ToolCalls        []ToolCall `json:"tool_calls"` // pieces of calls, by Index
}
