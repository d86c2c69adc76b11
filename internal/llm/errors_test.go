package llm_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm"
	"github.com/opsctl/opsctl/internal/llm/llmtest"
)

// completeErr makes one call that is expected to fail and returns its
// *llm.Error, after checking that the key is nowhere in the error text.
func completeErr(t *testing.T, p llm.Provider) *llm.Error {
	t.Helper()
	_, err := p.Complete(context.Background(), llm.Request{Messages: []llm.Message{userText("hi")}})
	require.Error(t, err)
	require.NotContains(t, err.Error(), testKey)
	var e *llm.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, e.Provider, p.Name())
	return e
}

func TestRetryAfterThenSuccess(t *testing.T) {
	t.Parallel()
	headers := []string{"Retry-After-Ms: 10", "Retry-After: 0"}
	for _, wc := range wireCases() {
		for _, h := range headers {
			t.Run(wc.provider+"/"+h, func(t *testing.T) {
				t.Parallel()
				srv, p := setup(t, wc, nil)
				srv.Fail(http.StatusTooManyRequests, "rate limited", h)
				srv.Reply(llmtest.Text("after the wait"))

				resp, err := p.Complete(context.Background(), llm.Request{Messages: []llm.Message{userText("hi")}})
				require.NoError(t, err)
				require.Equal(t, "after the wait", resp.Message.Text())
				require.Len(t, srv.Requests(), 2, "the SDK retries a 429 itself")
				require.Zero(t, srv.Pending())
			})
		}
	}
}

func TestServerErrorUntilRetriesRunOut(t *testing.T) {
	t.Parallel()
	for _, wc := range wireCases() {
		t.Run(wc.provider, func(t *testing.T) {
			t.Parallel()
			srv, p := setup(t, wc, func(c *llm.Config) { c.MaxRetries = 1 })
			srv.Fail(http.StatusInternalServerError, "upstream exploded", "Retry-After-Ms: 1")
			srv.Fail(http.StatusInternalServerError, "upstream exploded", "Retry-After-Ms: 1")

			e := completeErr(t, p)
			require.Equal(t, http.StatusInternalServerError, e.Status)
			require.Equal(t, "upstream exploded", e.Message)
			require.True(t, e.Retryable)
			require.True(t, llm.IsRetryable(e))
			require.Len(t, srv.Requests(), 2, "one attempt plus MaxRetries=1")
		})
	}
}

func TestErrorStatusClassification(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status    int
		retryable bool
	}{
		{http.StatusBadRequest, false},
		{http.StatusUnauthorized, false},
		{http.StatusForbidden, false},
		{http.StatusNotFound, false},
		{http.StatusUnprocessableEntity, false},
		{http.StatusRequestTimeout, true},
		{http.StatusConflict, true},
		{http.StatusTooManyRequests, true},
		{http.StatusServiceUnavailable, true},
		{529, true},
	}
	for _, wc := range wireCases() {
		for _, tc := range cases {
			t.Run(wc.provider+"/"+http.StatusText(tc.status), func(t *testing.T) {
				t.Parallel()
				// A negative MaxRetries means one attempt, so retryable
				// statuses are classified without waiting for retries.
				srv, p := setup(t, wc, func(c *llm.Config) { c.MaxRetries = -1 })
				srv.Fail(tc.status, "status says so")

				e := completeErr(t, p)
				require.Equal(t, tc.status, e.Status)
				require.Equal(t, "status says so", e.Message)
				require.Equal(t, tc.retryable, e.Retryable)
				require.Len(t, srv.Requests(), 1)
			})
		}
	}
}

func TestUnauthorizedCarriesProviderMessage(t *testing.T) {
	t.Parallel()
	for _, wc := range wireCases() {
		t.Run(wc.provider, func(t *testing.T) {
			t.Parallel()
			srv, p := setup(t, wc, nil)
			srv.Fail(http.StatusUnauthorized, "Incorrect API key provided")

			e := completeErr(t, p)
			require.Equal(t, http.StatusUnauthorized, e.Status)
			require.Equal(t, "Incorrect API key provided", e.Message)
			require.False(t, e.Retryable)
			require.Len(t, srv.Requests(), 1, "a 401 is not retried")
			require.Equal(t, wc.provider+": 401 Incorrect API key provided", e.Error())
		})
	}
}

func TestKeyEchoedByProviderIsRedacted(t *testing.T) {
	t.Parallel()
	for _, wc := range wireCases() {
		t.Run(wc.provider, func(t *testing.T) {
			t.Parallel()
			srv, p := setup(t, wc, nil)
			srv.Fail(http.StatusUnauthorized, "Incorrect API key provided: "+testKey+".")

			e := completeErr(t, p) // checks err.Error() itself
			require.Equal(t, "Incorrect API key provided: [redacted].", e.Message)
		})
	}
}

func TestUnparseableErrorBody(t *testing.T) {
	t.Parallel()
	for _, wc := range wireCases() {
		t.Run(wc.provider, func(t *testing.T) {
			t.Parallel()
			srv, p := setup(t, wc, func(c *llm.Config) { c.MaxRetries = -1 })
			srv.Raw(http.StatusBadGateway, "<html><body>502 Bad Gateway "+testKey+"</body></html>", "Content-Type: text/html")

			e := completeErr(t, p)
			require.Equal(t, http.StatusBadGateway, e.Status)
			require.True(t, e.Retryable)
			require.Contains(t, e.Message, "502 Bad Gateway")
		})
	}
}

func TestMalformedSuccessBody(t *testing.T) {
	t.Parallel()
	bodies := []struct {
		name, body string
		headers    []string
	}{
		{"not json", "not json", nil},
		{"text/plain", "not json", []string{"Content-Type: text/plain"}},
		{"truncated", `{"id":"x","choices":[`, nil},
		{"empty object", `{}`, nil},
	}
	for _, wc := range wireCases() {
		for _, b := range bodies {
			t.Run(wc.provider+"/"+b.name, func(t *testing.T) {
				t.Parallel()
				srv, p := setup(t, wc, nil)
				srv.Raw(http.StatusOK, b.body, b.headers...)

				e := completeErr(t, p)
				require.Equal(t, http.StatusOK, e.Status)
				require.False(t, e.Retryable)
				require.Contains(t, e.Message, "malformed response body")
				require.Len(t, srv.Requests(), 1, "a malformed body is not retried")
			})
		}
	}
}

func TestCancelWhileServerBlocks(t *testing.T) {
	t.Parallel()
	for _, wc := range wireCases() {
		t.Run(wc.provider, func(t *testing.T) {
			t.Parallel()
			srv, p := setup(t, wc, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			arrived := make(chan struct{})
			srv.Handle(func(w http.ResponseWriter, r *http.Request) {
				close(arrived)
				<-r.Context().Done()
			})
			go func() {
				<-arrived
				cancel()
			}()

			_, err := p.Complete(ctx, llm.Request{Messages: []llm.Message{userText("hi")}})
			require.ErrorIs(t, err, context.Canceled)
			require.False(t, llm.IsRetryable(err))
			require.Len(t, srv.Requests(), 1, "a cancelled call is not retried")
		})
	}
}

func TestRequestTimeoutIsRetryable(t *testing.T) {
	t.Parallel()
	for _, wc := range wireCases() {
		t.Run(wc.provider, func(t *testing.T) {
			t.Parallel()
			srv, p := setup(t, wc, func(c *llm.Config) {
				c.RequestTimeout = 50 * time.Millisecond
				c.MaxRetries = -1
			})
			srv.Hang()

			e := completeErr(t, p)
			require.Zero(t, e.Status)
			require.True(t, e.Retryable)
			require.Contains(t, e.Message, "timed out")
			require.False(t, errors.Is(e, context.Canceled))
		})
	}
}

func TestConnectionRefusedIsRetryable(t *testing.T) {
	t.Parallel()
	for _, wc := range wireCases() {
		t.Run(wc.provider, func(t *testing.T) {
			t.Parallel()
			srv, p := setup(t, wc, func(c *llm.Config) { c.MaxRetries = -1 })
			srv.Close()

			e := completeErr(t, p)
			require.Zero(t, e.Status)
			require.True(t, e.Retryable)
			require.Contains(t, e.Message, "request failed")
		})
	}
}

func TestScriptExhaustedFailsLoudly(t *testing.T) {
	t.Parallel()
	for _, wc := range wireCases() {
		t.Run(wc.provider, func(t *testing.T) {
			t.Parallel()
			srv, p := setup(t, wc, nil)

			e := completeErr(t, p)
			require.Equal(t, http.StatusInternalServerError, e.Status)
			require.Contains(t, e.Message, "script exhausted")
			require.Len(t, srv.Requests(), 1, "x-should-retry: false stops the SDK's retries")
		})
	}
}
