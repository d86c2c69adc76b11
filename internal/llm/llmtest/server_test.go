package llmtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/llm/llmtest"
)

// post sends body to the server at path and returns the status, headers and
// decoded JSON body of the answer.
func post(t *testing.T, base, path, body string) (int, http.Header, map[string]any) {
	t.Helper()
	res, err := http.Post(strings.TrimSuffix(base, "/")+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var decoded map[string]any
	_ = json.Unmarshal(raw, &decoded)
	return res.StatusCode, res.Header, decoded
}

func TestScriptAndRecording(t *testing.T) {
	t.Parallel()
	cases := []struct {
		wire  llmtest.Wire
		start func(testing.TB) *llmtest.Server
		path  string
		// errMessage extracts the error message from an error body.
		errMessage func(map[string]any) any
	}{
		{llmtest.OpenAI, llmtest.NewOpenAI, "/chat/completions", func(b map[string]any) any {
			return b["error"].(map[string]any)["message"]
		}},
		{llmtest.Anthropic, llmtest.NewAnthropic, "/v1/messages", func(b map[string]any) any {
			return b["error"].(map[string]any)["message"]
		}},
	}
	for _, tc := range cases {
		t.Run(string(tc.wire), func(t *testing.T) {
			t.Parallel()
			srv := tc.start(t)
			require.Equal(t, tc.wire, srv.Wire())
			srv.SetUsage(3, 4)
			srv.Reply(llmtest.Text("hello"))
			srv.Fail(http.StatusTooManyRequests, "slow down", "Retry-After-Ms: 10")
			require.Equal(t, 2, srv.Pending())

			base := strings.TrimSuffix(strings.TrimSuffix(srv.URL(), "/"), "/v1")
			status, _, body := post(t, base, tc.path, `{"model":"m1","messages":[{"role":"user","content":"hi"}]}`)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, "m1", body["model"])
			usage := body["usage"].(map[string]any)
			if tc.wire == llmtest.OpenAI {
				require.EqualValues(t, 7, usage["total_tokens"])
			} else {
				require.EqualValues(t, 4, usage["output_tokens"])
			}

			status, header, body := post(t, base, tc.path, `{}`)
			require.Equal(t, http.StatusTooManyRequests, status)
			require.Equal(t, "10", header.Get("Retry-After-Ms"))
			require.Equal(t, "slow down", tc.errMessage(body))

			status, header, body = post(t, base, tc.path, `{}`)
			require.Equal(t, http.StatusInternalServerError, status)
			require.Equal(t, "false", header.Get("x-should-retry"))
			require.Contains(t, tc.errMessage(body), "script exhausted")

			status, _, _ = post(t, base, "/v1/elsewhere", `{}`)
			require.Equal(t, http.StatusNotFound, status)

			reqs := srv.Requests()
			require.Len(t, reqs, 4)
			require.Equal(t, "m1", reqs[0].Model())
			require.Equal(t, "user", reqs[0].Messages()[0]["role"])
			require.JSONEq(t, `{}`, string(reqs[1].Raw))
			require.Equal(t, "application/json", reqs[0].Header.Get("Content-Type"))
			require.Zero(t, srv.Pending())
		})
	}
}

func TestStartWithoutT(t *testing.T) {
	t.Parallel()
	srv := llmtest.Start(llmtest.OpenAI)
	srv.Hang()
	done := make(chan int)
	go func() {
		res, err := http.Post(srv.URL()+"chat/completions", "application/json", strings.NewReader(`{}`))
		if err == nil {
			res.Body.Close()
			done <- res.StatusCode
			return
		}
		done <- 0
	}()
	require.Eventually(t, func() bool { return len(srv.Requests()) == 1 }, 5*time.Second, time.Millisecond)
	// Close must release the hanging handler instead of waiting for it.
	srv.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release a hanging request")
	}
	srv.Close() // a second Close is harmless
}

func TestBadHeaderPanics(t *testing.T) {
	t.Parallel()
	srv := llmtest.NewAnthropic(t)
	require.PanicsWithValue(t, `llmtest: header "Retry-After-Ms 10" is not "Name: value"`, func() {
		srv.Fail(http.StatusTooManyRequests, "x", "Retry-After-Ms 10")
	})
}
