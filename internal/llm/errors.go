package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxMessageLen bounds how much of a provider's error text goes into an
// Error: enough for any real message, short enough for one log line even when
// a proxy answers with a whole HTML page.
const maxMessageLen = 300

// msgTimedOut is the message of an attempt that ran out of time.
const msgTimedOut = "request timed out"

// apiFailure is what an adapter extracts from its SDK's API error type.
type apiFailure struct {
	status  int
	message string
}

// sdkFailure describes one failed SDK call for toError.
type sdkFailure struct {
	provider string
	apiKey   string
	err      error
	// res is the last HTTP response, captured with the SDK's
	// WithResponseInto option; nil when no response arrived.
	res *http.Response
	// api recognises the SDK's own API error type.
	api func(error) (apiFailure, bool)
	// timeout is the configured per-attempt timeout, for the message.
	timeout time.Duration
}

// toError turns what an SDK call returned into the error Complete returns:
// an error wrapping ctx.Err() when the caller's context ended, else an
// *Error. Both SDKs return ctx.Err() as it is when the context ends, but
// checking ctx here first makes that independent of SDK internals.
func toError(ctx context.Context, f sdkFailure) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", f.provider, ctxErr)
	}
	e := &Error{Provider: f.provider}
	if af, ok := f.api(f.err); ok {
		e.Status = af.status
		e.Message = af.message
		if e.Message == "" {
			e.Message = messageFromBody(readBody(f.res), e.Status)
		}
		e.Retryable = retryableStatus(e.Status)
	} else {
		classifyOther(e, f.err, f.res)
		if e.Retryable && e.Status == 0 && e.Message == msgTimedOut && f.timeout > 0 {
			e.Message += " after " + f.timeout.String()
		}
	}
	// Redact before truncating, so that a cut cannot leave part of the key.
	e.Message = truncate(redact(e.Message, f.apiKey))
	return e
}

// classifyOther fills e for an error that is not the SDK's API error:
// timeouts, connection failures, an error status whose body the SDK could not
// parse, or a success status whose body was not a valid response.
func classifyOther(e *Error, err error, res *http.Response) {
	var netErr net.Error
	var urlErr *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		// The caller's context is alive (toError checked), so this is the
		// per-attempt RequestTimeout or a transport timeout: worth retrying.
		e.Message = msgTimedOut
		e.Retryable = true
	case errors.As(err, &urlErr) || errors.As(err, &netErr):
		e.Message = "request failed: " + oneLine(err.Error())
		e.Retryable = true
	case res != nil && res.StatusCode >= 400:
		e.Status = res.StatusCode
		e.Message = messageFromBody(readBody(res), res.StatusCode)
		e.Retryable = retryableStatus(res.StatusCode)
	case res != nil && !bodyReadFailed(err):
		// The whole body arrived but did not decode. A truncated JSON body
		// also ends in io.ErrUnexpectedEOF, which is why this comes before
		// the connection-drop case below.
		e.Status = res.StatusCode
		e.Message = "malformed response body: " + oneLine(err.Error())
	case bodyReadFailed(err) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		e.Message = "request failed: " + oneLine(err.Error())
		e.Retryable = true
	default:
		e.Message = oneLine(err.Error())
	}
}

// bodyReadFailed reports whether the connection dropped while the SDK read a
// response body. Both SDKs wrap that failure, and only that one, in an error
// starting "error reading response body" (decode failures start "error
// parsing response json"); the text is all they expose.
func bodyReadFailed(err error) bool {
	return strings.HasPrefix(err.Error(), "error reading response body")
}

// retryableStatus says which HTTP statuses are worth a later attempt: the
// ones the SDKs themselves retry.
func retryableStatus(status int) bool {
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusConflict, status == http.StatusTooManyRequests:
		return true
	default:
		return status >= 500
	}
}

// readBody returns the body of an error response. Both SDKs read the body of
// an error response themselves and put a re-readable copy back, so reading it
// here does not race with them.
func readBody(res *http.Response) []byte {
	if res == nil || res.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	return b
}

// messageFromBody finds the human-readable message in an error body. Besides
// the usual {"error":{"message":...}}, OpenAI-compatible servers use
// {"error":"..."} (Ollama), [{"error":{...}}] (Gemini) or {"message":...}.
// Without any of those, the body's text itself is the message.
func messageFromBody(body []byte, status int) string {
	var v any
	if json.Unmarshal(body, &v) == nil {
		if arr, ok := v.([]any); ok && len(arr) > 0 {
			v = arr[0]
		}
		if obj, ok := v.(map[string]any); ok {
			if inner, ok := obj["error"].(map[string]any); ok {
				if m, ok := inner["message"].(string); ok && m != "" {
					return oneLine(m)
				}
			}
			if m, ok := obj["error"].(string); ok && m != "" {
				return oneLine(m)
			}
			if m, ok := obj["message"].(string); ok && m != "" {
				return oneLine(m)
			}
		}
	}
	if text := oneLine(string(body)); text != "" {
		return text
	}
	if text := http.StatusText(status); text != "" {
		return text
	}
	return "error without a message"
}

// oneLine collapses whitespace so a message fits one log line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// truncate bounds a message's length; see maxMessageLen.
func truncate(s string) string {
	if len(s) > maxMessageLen {
		s = strings.ToValidUTF8(s[:maxMessageLen], "") + "..."
	}
	return s
}

// redact removes the API key from a message. Providers sometimes echo the
// key they rejected, and transport errors may quote a URL; the key must
// never reach events, logs or the terminal.
func redact(s, key string) string {
	if key == "" {
		return s
	}
	return strings.ReplaceAll(s, key, "[redacted]")
}
