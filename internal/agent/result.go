package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opsctl/opsctl/internal/llm"
)

// Result is the JSON a run returns, both on success and, with Answer empty,
// beside the error of a run that did not complete.
type Result struct {
	Answer     string    `json:"answer"`      // the model's final text; empty unless StopReason is StopAnswer
	StopReason string    `json:"stop_reason"` // one of the Stop* constants
	Steps      int       `json:"steps"`       // model calls made
	Usage      llm.Usage `json:"usage"`       // summed over the model calls made
	Provider   string    `json:"provider"`
	Model      string    `json:"model"` // as the provider reported it, else as configured
	// CostUSD is what the model calls cost, when agent.prices knows the
	// model's price; absent otherwise.
	CostUSD *float64 `json:"cost_usd,omitempty"`
}

// The values of Result.StopReason. Only StopAnswer comes with a nil error.
const (
	StopAnswer           = "answer"             // the model answered without tool calls
	StopMaxSteps         = "max_steps"          // the step limit was reached first
	StopTokenBudget      = "token_budget"       // max_tokens was used up
	StopCostBudget       = "cost_budget"        // max_cost_usd was used up
	StopRepeatedToolCall = "repeated_tool_call" // the model looped on one call
	StopProviderError    = "provider_error"     // the provider failed after its retries
	StopCancelled        = "cancelled"          // the context was cancelled
	StopTimeout          = "timeout"            // a deadline passed (the task's or the runner's)
	StopInvalidInput     = "invalid_input"      // the input does not validate
	StopSetupError       = "setup_error"        // no API key, no model, a tool source failed, ...
)

// RunError is the error of a run that did not complete. Its message is
// redacted. Unwrap gives the context error for cancellation and timeouts
// (errors.Is(err, context.Canceled) or context.DeadlineExceeded) and the
// *llm.Error, with its message redacted, for provider failures.
type RunError struct {
	// Reason is the same word as the result's StopReason.
	Reason    string
	msg       string
	wrapped   []error
	retryable bool
}

// Error returns the reason in one line.
func (e *RunError) Error() string { return e.msg }

// Unwrap returns the errors this one wraps.
func (e *RunError) Unwrap() []error { return e.wrapped }

// Retryable reports whether another attempt may succeed: true only for a
// provider error the SDK itself called retryable (429, 5xx, network) after
// its own retries ran out. Cancellation and timeouts say false; the runner
// tells them apart with errors.Is and applies its own policy.
func (e *RunError) Retryable() bool { return e.retryable }

// newRunError returns a permanent RunError with a redacted message.
func newRunError(red redactor, reason, format string, args ...any) *RunError {
	return &RunError{Reason: reason, msg: red.String(fmt.Sprintf(format, args...))}
}

// providerRunError turns a provider failure into a RunError. The wrapped
// *llm.Error is a copy whose message is redacted, so a caller that unwraps it
// cannot find the key there either.
func providerRunError(red redactor, err error) *RunError {
	var perr *llm.Error
	if errors.As(err, &perr) {
		clean := *perr
		clean.Message = red.String(perr.Message)
		return &RunError{
			Reason:    StopProviderError,
			msg:       clean.Error(),
			wrapped:   []error{&clean},
			retryable: perr.Retryable,
		}
	}
	// An adapter that returns another error type breaks its contract; the
	// failure is kept, but as permanent, since nothing says a retry helps.
	return newRunError(red, StopProviderError, "provider: %v", err)
}

// contextRunError turns a done context into a RunError wrapping ctx.Err() and
// the cause, if the canceller gave one.
func contextRunError(red redactor, ctx context.Context) *RunError {
	err := ctx.Err()
	cause := context.Cause(ctx)
	reason, what := StopCancelled, "cancelled"
	if errors.Is(err, context.DeadlineExceeded) {
		reason, what = StopTimeout, "timed out"
	}
	wrapped := []error{err}
	msg := fmt.Sprintf("%s: %v", what, err)
	if cause != nil && cause != err {
		wrapped = append(wrapped, cause)
		msg = fmt.Sprintf("%s: %v", what, cause)
	}
	return &RunError{Reason: reason, msg: red.String(msg), wrapped: wrapped}
}

// encode returns the result as redacted JSON.
func (r Result) encode(red redactor) json.RawMessage {
	// A struct of strings and integers always encodes, so the error is
	// impossible and ignored.
	b, _ := json.Marshal(r)
	return red.JSON(b)
}
