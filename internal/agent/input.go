package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// Input is the JSON object an agent task carries. Every field but Prompt is
// optional; an absent field falls back to the handler's Config, and a present
// one wins over it.
type Input struct {
	// Prompt is the task given to the model as the first user message.
	Prompt string `json:"prompt"`
	// System is the system prompt.
	System string `json:"system,omitempty"`
	// Provider names the model provider ("openai", "anthropic", "ollama", ...).
	Provider string `json:"provider,omitempty"`
	// Model is the provider's model name.
	Model string `json:"model,omitempty"`
	// BaseURL points the provider's SDK at another endpoint.
	BaseURL string `json:"base_url,omitempty"`
	// Tools names the tools this task may use. Absent means Config.Tools; an
	// explicit empty list means no tools at all.
	Tools []string `json:"tools,omitempty"`
	// MCPServers names the MCP servers whose tools this task may use.
	MCPServers []string `json:"mcp_servers,omitempty"`
	// MaxSteps limits the number of model calls; 0 means the default.
	MaxSteps int `json:"max_steps,omitempty"`
	// MaxTokens is a token budget for the whole run; 0 means none.
	MaxTokens int `json:"max_tokens,omitempty"`
	// Temperature is passed to the model; nil means the provider's default.
	Temperature *float64 `json:"temperature,omitempty"`
	// Timeout is a Go duration ("90s", "5m") limiting the whole run.
	Timeout string `json:"timeout,omitempty"`
	// MaxCostUSD is a cost budget for the whole run in US dollars; 0 means
	// the config's, and none when that is 0 too.
	MaxCostUSD float64 `json:"max_cost_usd,omitempty"`
	// Approval tightens the config's approval policy for this task: tool
	// name patterns mapped to allow, ask or deny. It may never loosen it.
	Approval map[string]string `json:"approval,omitempty"`
}

// DefaultMaxSteps is the number of model calls a run may make when neither
// the task nor the config says otherwise.
const DefaultMaxSteps = 10

// mcpToolName matches the SERVER__TOOL names MCP tools are offered under.
// Such names cannot be checked at submit, because the servers are only
// started when the task runs, so they are accepted on their shape alone:
// letters, digits, '_' and '-', the only characters OpenAI and Anthropic
// accept in a tool name.
var mcpToolName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*__[A-Za-z0-9][A-Za-z0-9_-]*$`)

// ValidateInput checks an agent task's input at submit, so that a task that
// can never run is refused before it is stored. It returns one error naming
// the first problem found.
func ValidateInput(raw json.RawMessage) error {
	_, err := decodeInput(raw)
	return err
}

// decodeInput parses and checks an input object. It is shared by submit-time
// validation and by the run itself, which must not trust that the stored
// input was validated by this version of opsctl.
func decodeInput(raw json.RawMessage) (Input, error) {
	var in Input
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return in, errors.New("input must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, describeDecodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return in, errors.New("input has data after the JSON object")
	}
	// Zero and absent look the same after decoding, but "max_steps": 0 is a
	// mistake worth reporting, so presence is checked on the raw object.
	var present map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &present); err != nil {
		return in, describeDecodeError(err)
	}
	if strings.TrimSpace(in.Prompt) == "" {
		return in, errors.New(`"prompt" is required and must not be empty`)
	}
	if _, ok := present["max_steps"]; ok && in.MaxSteps <= 0 {
		return in, fmt.Errorf(`"max_steps" must be greater than 0, got %d`, in.MaxSteps)
	}
	if in.MaxTokens < 0 {
		return in, fmt.Errorf(`"max_tokens" must not be negative, got %d`, in.MaxTokens)
	}
	if in.MaxCostUSD < 0 {
		return in, fmt.Errorf(`"max_cost_usd" must not be negative, got %g`, in.MaxCostUSD)
	}
	if in.Temperature != nil && (*in.Temperature < 0 || *in.Temperature > 2) {
		return in, fmt.Errorf(`"temperature" must be between 0 and 2, got %g`, *in.Temperature)
	}
	if in.Timeout != "" {
		d, err := time.ParseDuration(in.Timeout)
		if err != nil {
			return in, fmt.Errorf(`"timeout" must be a duration such as "90s" or "5m", got %q`, in.Timeout)
		}
		if d <= 0 {
			return in, fmt.Errorf(`"timeout" must be positive, got %q`, in.Timeout)
		}
	}
	for _, name := range in.Tools {
		if !isBuiltinTool(name) && !mcpToolName.MatchString(name) {
			return in, fmt.Errorf(`unknown tool %q in "tools" (built-in tools: %s; MCP tools are named SERVER__TOOL)`,
				name, strings.Join(builtinToolNames(), ", "))
		}
	}
	if _, err := parsePolicy(in.Approval, `"approval"`); err != nil {
		return in, err
	}
	for _, name := range in.MCPServers {
		if strings.TrimSpace(name) == "" {
			return in, errors.New(`"mcp_servers" must not contain an empty name`)
		}
	}
	return in, nil
}

// timeout returns the parsed Timeout; decodeInput has already checked it.
func (in Input) timeout() time.Duration {
	d, _ := time.ParseDuration(in.Timeout)
	return d
}

// describeDecodeError turns encoding/json's errors into one line that names
// the field and drops the "json: " prefix, which means nothing to a user.
func describeDecodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			return fmt.Errorf("input must be a JSON object, got %s", typeErr.Value)
		}
		return fmt.Errorf("%q must be %s, got %s", field, describeType(typeErr.Type.String()), typeErr.Value)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fmt.Errorf("input is not valid JSON: %s (at byte %d)", syntaxErr.Error(), syntaxErr.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("input is not valid JSON: unexpected end of input")
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// describeType names a Go type the way a JSON author thinks of it.
func describeType(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "int", "int64":
		return "an integer"
	case "float64", "*float64":
		return "a number"
	case "[]string":
		return "a list of strings"
	default:
		return "a " + goType
	}
}
