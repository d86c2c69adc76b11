package llm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// OpenAI is a Provider over the OpenAI Chat Completions API (non-streaming).
// It also serves OpenAI-compatible endpoints: OpenRouter, Ollama, Gemini.
//
// Tool results travel as one "tool" message per result. That message has no
// error flag, so a result with IsError has "ERROR: " put before its content.
type OpenAI struct {
	cfg         Config
	completions openai.ChatCompletionService
	// maxCompletionTokens selects the max_completion_tokens field, which
	// OpenAI's reasoning models require, over the older max_tokens, which is
	// what OpenAI-compatible servers understand.
	maxCompletionTokens bool
}

// NewOpenAI returns an OpenAI adapter. cfg.Provider names it ("openai" when
// empty); cfg.BaseURL defaults to the provider's preset endpoint.
//
// It deliberately builds only the chat-completions service instead of
// openai.NewClient: NewClient reads OPENAI_API_KEY, OPENAI_BASE_URL,
// OPENAI_ORG_ID, OPENAI_PROJECT_ID and OPENAI_CUSTOM_HEADERS from the
// environment, which would send an OpenAI key to an Ollama server configured
// without one, or add headers nobody configured. The service reads nothing
// from the environment.
func NewOpenAI(cfg Config) (*OpenAI, error) {
	if cfg.Provider == "" {
		cfg.Provider = "openai"
	}
	if cfg.BaseURL == "" {
		_, cfg.BaseURL, _, _ = Preset(cfg.Provider)
	}
	if err := checkBaseURL(cfg); err != nil {
		return nil, err
	}
	opts := []option.RequestOption{option.WithBaseURL(cfg.BaseURL)}
	if cfg.APIKey != "" {
		opts = append(opts, option.WithAPIKey(cfg.APIKey))
	}
	if n := sdkRetries(cfg.MaxRetries); n >= 0 {
		opts = append(opts, option.WithMaxRetries(n))
	}
	if cfg.RequestTimeout > 0 {
		opts = append(opts, option.WithRequestTimeout(cfg.RequestTimeout))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	return &OpenAI{
		cfg:                 cfg,
		completions:         openai.NewChatCompletionService(opts...),
		maxCompletionTokens: cfg.Provider == "openai",
	}, nil
}

// Name returns the configured provider name.
func (p *OpenAI) Name() string { return p.cfg.Provider }

// Complete makes one chat-completions call.
func (p *OpenAI) Complete(ctx context.Context, req Request) (Response, error) {
	params, err := p.params(req)
	if err != nil {
		return Response{}, err
	}
	// The last HTTP response is captured so that failures the SDK does not
	// turn into an API error (a body it cannot parse) still carry a status.
	var httpRes *http.Response
	completion, err := p.completions.New(ctx, params, option.WithResponseInto(&httpRes))
	if err != nil {
		return Response{}, toError(ctx, sdkFailure{
			provider: p.cfg.Provider,
			apiKey:   p.cfg.APIKey,
			err:      err,
			res:      httpRes,
			api:      openaiAPIFailure,
			timeout:  p.cfg.RequestTimeout,
		})
	}
	return p.response(completion, httpRes)
}

// openaiAPIFailure recognises the SDK's API error, which it returns for an
// error status whose body has an "error" object.
func openaiAPIFailure(err error) (apiFailure, bool) {
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		return apiFailure{}, false
	}
	return apiFailure{status: apiErr.StatusCode, message: oneLine(apiErr.Message)}, true
}

// params translates a Request into the SDK's parameters.
func (p *OpenAI) params(req Request) (openai.ChatCompletionNewParams, error) {
	var params openai.ChatCompletionNewParams
	model, err := modelFor(req, p.cfg)
	if err != nil {
		return params, err
	}
	params.Model = model
	if params.Messages, err = openaiMessages(req.System, req.Messages); err != nil {
		return params, &Error{Provider: p.cfg.Provider, Message: err.Error()}
	}
	for _, spec := range req.Tools {
		schema, err := schemaObject(spec)
		if err != nil {
			return params, &Error{Provider: p.cfg.Provider, Message: err.Error()}
		}
		def := shared.FunctionDefinitionParam{Name: spec.Name, Parameters: shared.FunctionParameters(schema)}
		if spec.Description != "" {
			def.Description = openai.String(spec.Description)
		}
		params.Tools = append(params.Tools, openai.ChatCompletionFunctionTool(def))
	}
	if req.MaxTokens > 0 {
		if p.maxCompletionTokens {
			params.MaxCompletionTokens = openai.Int(req.MaxTokens)
		} else {
			params.MaxTokens = openai.Int(req.MaxTokens)
		}
	}
	if req.Temperature != nil {
		params.Temperature = openai.Float(*req.Temperature)
	}
	return params, nil
}

// openaiMessages translates the conversation. Tool results become one "tool"
// message each, in order, because OpenAI wants every tool_call_id of an
// assistant turn answered by its own message right after that turn.
func openaiMessages(system string, msgs []Message) ([]openai.ChatCompletionMessageParamUnion, error) {
	var out []openai.ChatCompletionMessageParamUnion
	if system != "" {
		out = append(out, openai.SystemMessage(system))
	}
	for i, m := range msgs {
		switch m.Role {
		case RoleUser, RoleTool:
			for _, part := range m.Parts {
				if r := part.ToolResult; r != nil {
					out = append(out, openai.ToolMessage(toolResultText(*r), r.CallID))
				}
			}
			if text := m.Text(); text != "" {
				out = append(out, openai.UserMessage(text))
			}
		case RoleAssistant:
			asst, ok, err := openaiAssistant(m)
			if err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
			if ok {
				out = append(out, openai.ChatCompletionMessageParamUnion{OfAssistant: &asst})
			}
		default:
			return nil, fmt.Errorf("message %d: unknown role %q", i, m.Role)
		}
	}
	return out, nil
}

// openaiAssistant rebuilds an assistant turn, text and tool calls together,
// the way ChatCompletionMessage.ToParam does for the SDK's own messages. ok is
// false for an empty turn, which is left out rather than sent as "".
func openaiAssistant(m Message) (asst openai.ChatCompletionAssistantMessageParam, ok bool, err error) {
	if text := m.Text(); text != "" {
		asst.Content.OfString = openai.String(text)
		ok = true
	}
	for _, part := range m.Parts {
		if part.ToolResult != nil {
			return asst, false, errors.New("assistant message holds a tool result")
		}
		c := part.ToolCall
		if c == nil {
			continue
		}
		asst.ToolCalls = append(asst.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
			OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
				ID: c.ID,
				Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{
					Name:      c.Name,
					Arguments: string(argumentsOrEmpty(c.Arguments)),
				},
			},
		})
		ok = true
	}
	return asst, ok, nil
}

// response translates the SDK's completion into a Response.
func (p *OpenAI) response(c *openai.ChatCompletion, httpRes *http.Response) (Response, error) {
	if c == nil || len(c.Choices) == 0 {
		e := &Error{Provider: p.cfg.Provider, Message: "malformed response body: no choices"}
		if httpRes != nil {
			e.Status = httpRes.StatusCode
		}
		return Response{}, e
	}
	choice := c.Choices[0]
	msg := Message{Role: RoleAssistant}
	switch {
	case choice.Message.Content != "":
		msg.Parts = append(msg.Parts, Part{Text: choice.Message.Content})
	case choice.Message.Refusal != "":
		// A refusal is the model's answer; keeping it as text lets the agent
		// loop show it instead of an empty reply.
		msg.Parts = append(msg.Parts, Part{Text: choice.Message.Refusal})
	}
	for _, tc := range choice.Message.ToolCalls {
		// Only function tools are ever offered, so other kinds ("custom")
		// cannot be answered and are skipped. Some compatible servers omit
		// the type, which still means a function call.
		if tc.Type != "" && tc.Type != "function" {
			continue
		}
		msg.Parts = append(msg.Parts, Part{ToolCall: &ToolCall{
			ID:        tc.ID,
			Name:      tc.Function.Name,
			Arguments: callArguments(tc.Function.Arguments),
		}})
	}
	// prompt_tokens includes the cached ones; cached_tokens says how many.
	usage := Usage{
		InputTokens:       c.Usage.PromptTokens,
		OutputTokens:      c.Usage.CompletionTokens,
		TotalTokens:       c.Usage.TotalTokens,
		CachedInputTokens: c.Usage.PromptTokensDetails.CachedTokens,
	}
	if usage.TotalTokens == 0 {
		usage.TotalTokens = usage.InputTokens + usage.OutputTokens
	}
	return Response{Message: msg, StopReason: choice.FinishReason, Usage: usage, Model: c.Model}, nil
}

// checkBaseURL rejects a base URL the SDK would only fail on at the first
// request, so that a typo in the configuration is reported at startup.
func checkBaseURL(cfg Config) error {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("llm: provider %q: base URL %q is not an http(s) URL", cfg.Provider, cfg.BaseURL)
	}
	return nil
}
