package serve

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

func TestMetrics(t *testing.T) {
	ts := newTestServer(t)
	ts.submit(t, db.NewTask{Type: "exec", Queue: "mail", Input: json.RawMessage(`{"command":["true"]}`)})
	ts.submit(t, db.NewTask{Type: "exec", Queue: "mail", Input: json.RawMessage(`{"command":["true"]}`)})
	must200(t, ts, "/api/v1/tasks/1") // one timed API request
	task := ts.claim(t, 1)[0]
	ts.finish(t, task, db.StatusCompleted, "")

	// The task duration comes from the event hub, which reads every tick.
	var text string
	require.Eventually(t, func() bool {
		_, b := ts.do(t, "GET", "/metrics", "", "")
		text = string(b)
		return strings.Contains(text, `opsctl_tasks_finished_total{status="completed"} 1`)
	}, 10*time.Second, 20*time.Millisecond)
	for _, want := range []string{
		`opsctl_tasks{queue="mail",status="completed"} 1`,
		`opsctl_tasks{queue="mail",status="pending"} 1`,
		`opsctl_queue_depth{queue="mail"} 1`,
		`opsctl_task_duration_seconds_count{status="completed"} 1`,
		`opsctl_http_request_duration_seconds_count{code="200",method="GET",route="GET /api/v1/tasks/{id}"} 1`,
		`opsctl_store_up 1`,
		`opsctl_event_streams 0`,
		`go_goroutines`,
	} {
		require.Contains(t, text, want)
	}
	// Every series of ours is prefixed opsctl_.
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "# HELP ") {
			name := strings.Fields(line)[2]
			require.Regexp(t, `^(opsctl_|go_|process_|promhttp_)`, name)
		}
	}
}

// TestOpenAPICoversRoutes checks that the API description names every
// route under /api/v1 and /health... that the server has, and no other.
func TestOpenAPICoversRoutes(t *testing.T) {
	ts := newTestServer(t)
	resp, b := ts.do(t, "GET", "/api/v1/openapi.json", "", "")
	require.Equal(t, 200, resp.StatusCode)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	sort.Strings(documented)

	var served []string
	for _, p := range restPatterns(t) {
		if strings.HasSuffix(p, "/{$}") || !strings.Contains(p, " ") {
			continue // the trailing-slash aliases and the 404 catch-all
		}
		served = append(served, p)
	}
	served = append(served, "GET /health", "GET /healthz", "GET /readyz", "GET /metrics")
	sort.Strings(served)
	require.Equal(t, served, documented)

	resp, b = ts.do(t, "GET", "/api/v1/openapi.yaml", "", "")
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(b), "openapi: 3.1.0")
}

// restPatterns reads the patterns restRoutes registers from its source,
// the one list of them.
func restPatterns(t *testing.T) []string {
	t.Helper()
	src := readFile(t, "rest.go")
	var out []string
	for _, m := range regexp.MustCompile(`mux\.HandleFunc\("([^"]+)"`).FindAllStringSubmatch(src, -1) {
		out = append(out, m[1])
	}
	require.NotEmpty(t, out, "no routes found in rest.go")
	return out
}

// TestMetricsMethodLabelBounded: any word a client sends as its method
// lands in one series, so requests cannot grow /metrics without end.
func TestMetricsMethodLabelBounded(t *testing.T) {
	ts := newTestServer(t)
	for _, m := range []string{"FROB", "XYZZY", "QWERTY"} {
		ts.do(t, m, "/health", "", "")
	}
	_, b := ts.do(t, "GET", "/metrics", "", "")
	require.NotContains(t, string(b), "FROB")
	require.Contains(t, string(b), `method="other"`)
}
