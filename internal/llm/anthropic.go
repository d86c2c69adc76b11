package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// DefaultAnthropicMaxTokens is the max_tokens sent when Request.MaxTokens is
// 0: the Messages API requires the field.
const DefaultAnthropicMaxTokens = 4096

// Anthropic is a Provider over the Anthropic Messages API with tool use.
type Anthropic struct {
	cfg      Config
	messages anthropic.MessageService
}

// NewAnthropic returns an Anthropic adapter. cfg.Provider names it
// ("anthropic" when empty); cfg.BaseURL defaults to https://api.anthropic.com/
// (the SDK appends v1/messages to it).
//
// The client is built with option.WithoutEnvironmentDefaults: otherwise
// anthropic.NewClient falls back to ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN,
// ANTHROPIC_BASE_URL, ANTHROPIC_CUSTOM_HEADERS and profile files under
// ~/.config, so what the user configured would not be what gets sent.
func NewAnthropic(cfg Config) (*Anthropic, error) {
	if cfg.Provider == "" {
		cfg.Provider = "anthropic"
	}
	if cfg.BaseURL == "" {
		_, cfg.BaseURL, _, _ = Preset("anthropic")
	}
	if err := checkBaseURL(cfg); err != nil {
		return nil, err
	}
	opts := []option.RequestOption{
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(cfg.BaseURL),
	}
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
	client := anthropic.NewClient(opts...)
	return &Anthropic{cfg: cfg, messages: client.Messages}, nil
}

// Name returns the configured provider name.
func (p *Anthropic) Name() string { return p.cfg.Provider }

// Complete makes one Messages API call.
func (p *Anthropic) Complete(ctx context.Context, req Request) (Response, error) {
	params, err := p.params(req)
	if err != nil {
		return Response{}, err
	}
	var httpRes *http.Response
	msg, err := p.messages.New(ctx, params, option.WithResponseInto(&httpRes))
	if err != nil {
		return Response{}, toError(ctx, sdkFailure{
			provider: p.cfg.Provider,
			apiKey:   p.cfg.APIKey,
			err:      err,
			res:      httpRes,
			api:      anthropicAPIFailure,
			timeout:  p.cfg.RequestTimeout,
		})
	}
	return p.response(msg, httpRes)
}

// anthropicAPIFailure recognises the SDK's API error. Its Error() string
// quotes the whole response body, so only the parsed message is used.
func anthropicAPIFailure(err error) (apiFailure, bool) {
	var apiErr *anthropic.Error
	if !errors.As(err, &apiErr) {
		return apiFailure{}, false
	}
	return apiFailure{status: apiErr.StatusCode, message: oneLine(apiErr.Message)}, true
}

// params translates a Request into the SDK's parameters.
func (p *Anthropic) params(req Request) (anthropic.MessageNewParams, error) {
	var params anthropic.MessageNewParams
	model, err := modelFor(req, p.cfg)
	if err != nil {
		return params, err
	}
	params.Model = model
	params.MaxTokens = req.MaxTokens
	if params.MaxTokens <= 0 {
		params.MaxTokens = DefaultAnthropicMaxTokens
	}
	if req.System != "" {
		params.System = []anthropic.TextBlockParam{{Text: req.System}}
	}
	if params.Messages, err = anthropicMessages(req.Messages); err != nil {
		return params, &Error{Provider: p.cfg.Provider, Message: err.Error()}
	}
	for _, spec := range req.Tools {
		schema, err := schemaObject(spec)
		if err != nil {
			return params, &Error{Provider: p.cfg.Provider, Message: err.Error()}
		}
		tool := anthropic.ToolUnionParamOfTool(anthropicSchema(schema), spec.Name)
		if spec.Description != "" {
			tool.OfTool.Description = anthropic.String(spec.Description)
		}
		params.Tools = append(params.Tools, tool)
	}
	if req.Temperature != nil {
		// SDK v2 dropped the temperature field from MessageNewParams (the API
		// deprecated it), but the API still reads it where a model supports
		// it, so an explicitly requested temperature is sent as an extra field.
		params.SetExtraFields(map[string]any{"temperature": *req.Temperature})
	}
	return params, nil
}

// anthropicSchema splits a JSON Schema object into the SDK's input schema:
// properties and required have fields of their own, the rest (such as
// additionalProperties or $defs) travels as extra fields. "type" is always
// "object" in the SDK.
func anthropicSchema(schema map[string]any) anthropic.ToolInputSchemaParam {
	var in anthropic.ToolInputSchemaParam
	extra := map[string]any{}
	for k, v := range schema {
		switch k {
		case "type":
		case "properties":
			in.Properties = v
		case "required":
			if list, ok := v.([]any); ok {
				for _, name := range list {
					if s, ok := name.(string); ok {
						in.Required = append(in.Required, s)
					}
				}
			}
		default:
			extra[k] = v
		}
	}
	if in.Properties == nil {
		in.Properties = map[string]any{}
	}
	if len(extra) > 0 {
		in.ExtraFields = extra
	}
	return in
}

// anthropicMessages translates the conversation. Tool results go back as
// tool_result blocks in a user message; consecutive messages of the same
// Anthropic role are merged, so tool results followed by a user note make one
// user turn with the results first, as the API requires.
func anthropicMessages(msgs []Message) ([]anthropic.MessageParam, error) {
	var out []anthropic.MessageParam
	lastRole := Role("")
	for i, m := range msgs {
		var blocks []anthropic.ContentBlockParamUnion
		role := m.Role
		switch m.Role {
		case RoleUser, RoleTool:
			role = RoleUser
			for _, part := range m.Parts {
				if r := part.ToolResult; r != nil {
					blocks = append(blocks, anthropicToolResult(*r))
				}
			}
			for _, part := range m.Parts {
				if part.Text != "" {
					blocks = append(blocks, anthropic.NewTextBlock(part.Text))
				}
			}
		case RoleAssistant:
			for _, part := range m.Parts {
				switch {
				case part.ToolResult != nil:
					return nil, fmt.Errorf("message %d: assistant message holds a tool result", i)
				case part.ToolCall != nil:
					c := part.ToolCall
					blocks = append(blocks, anthropic.NewToolUseBlock(c.ID, json.RawMessage(argumentsOrEmpty(c.Arguments)), c.Name))
				case part.Text != "":
					blocks = append(blocks, anthropic.NewTextBlock(part.Text))
				}
			}
		default:
			return nil, fmt.Errorf("message %d: unknown role %q", i, m.Role)
		}
		if len(blocks) == 0 {
			// The API rejects empty content, and an empty turn says nothing.
			continue
		}
		if role == lastRole {
			last := &out[len(out)-1]
			if role == RoleUser {
				last.OfUser.Content = append(last.OfUser.Content, blocks...)
			} else {
				last.OfAssistant.Content = append(last.OfAssistant.Content, blocks...)
			}
			continue
		}
		if role == RoleUser {
			out = append(out, anthropic.NewUserMessage(blocks...))
		} else {
			out = append(out, anthropic.NewAssistantMessage(blocks...))
		}
		lastRole = role
	}
	return out, nil
}

// anthropicToolResult builds a tool_result block. Empty output is sent
// without content, since the API rejects an empty text block.
func anthropicToolResult(r ToolResult) anthropic.ContentBlockParamUnion {
	if r.Content != "" {
		return anthropic.NewToolResultBlock(r.CallID, r.Content, r.IsError)
	}
	block := anthropic.ToolResultBlockParam{ToolUseID: r.CallID, IsError: anthropic.Bool(r.IsError)}
	return anthropic.ContentBlockParamUnion{OfToolResult: &block}
}

// response translates the SDK's message into a Response. Thinking and
// server-tool blocks are not part of the provider-neutral conversation and are
// left out.
func (p *Anthropic) response(m *anthropic.Message, httpRes *http.Response) (Response, error) {
	if m == nil || (len(m.Content) == 0 && m.StopReason == "") {
		e := &Error{Provider: p.cfg.Provider, Message: "malformed response body: no content"}
		if httpRes != nil {
			e.Status = httpRes.StatusCode
		}
		return Response{}, e
	}
	msg := Message{Role: RoleAssistant}
	for _, block := range m.Content {
		switch block.Type {
		case "text":
			if block.Text != "" {
				msg.Parts = append(msg.Parts, Part{Text: block.Text})
			}
		case "tool_use":
			msg.Parts = append(msg.Parts, Part{ToolCall: &ToolCall{
				ID:        block.ID,
				Name:      block.Name,
				Arguments: callArguments(string(block.Input)),
			}})
		}
	}
	// Anthropic's input_tokens counts only the input after the last cache
	// breakpoint: tokens read from the cache and tokens written to it are
	// counted apart. All three are input the model read, so InputTokens is
	// their sum (the token budget and the cost see the whole prompt), and
	// the cache reads are CachedInputTokens. Cache writes are priced as
	// plain input.
	usage := Usage{
		InputTokens:       m.Usage.InputTokens + m.Usage.CacheReadInputTokens + m.Usage.CacheCreationInputTokens,
		OutputTokens:      m.Usage.OutputTokens,
		CachedInputTokens: m.Usage.CacheReadInputTokens,
	}
	usage.TotalTokens = usage.InputTokens + usage.OutputTokens
	return Response{Message: msg, StopReason: string(m.StopReason), Usage: usage, Model: m.Model}, nil
}
