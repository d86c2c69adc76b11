package serve

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/db/dbtest"
	"github.com/opsctl/opsctl/internal/runner"
)

// testServer is a Server on a real SQLite file, served by httptest (HTTP/1
// and unencrypted HTTP/2), with a token of each scope.
type testServer struct {
	*Server
	store db.Backend
	srv   *httptest.Server
	URL   string
	// Read, Write and Admin are token secrets of those scopes.
	Read, Write, Admin string
}

// newTestServer starts a server on a fresh database; it stops with the test.
func newTestServer(t *testing.T) *testServer {
	t.Helper()
	store := dbtest.New(t)
	s := New(Options{Store: store, Validator: testRegistry(), Version: "test", Tick: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	// The hub's starting point is read before the test writes anything,
	// so that the metrics see every event the test makes.
	if err := s.hub.prime(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		cancel()
		<-done
	})
	ts := &testServer{Server: s, store: store, srv: srv, URL: srv.URL}
	ts.Read = ts.token(t, "reader", db.ScopeRead)
	ts.Write = ts.token(t, "writer", db.ScopeWrite)
	ts.Admin = ts.token(t, "admin", db.ScopeAdmin)
	return ts
}

// testRegistry validates task inputs as the real runner does: the exec
// handler is the real one; "agent" accepts any object with a prompt.
func testRegistry() runner.Registry {
	return runner.Registry{"exec": &runner.Exec{}, "agent": promptOnly{}}
}

type promptOnly struct{}

func (promptOnly) Validate(input json.RawMessage) error {
	var in struct {
		Prompt string `json:"prompt"`
	}
	if err := json.Unmarshal(input, &in); err != nil || in.Prompt == "" {
		return errString(`"prompt" is required`)
	}
	return nil
}

func (promptOnly) Run(ctx context.Context, input json.RawMessage, ev runner.Events) (json.RawMessage, error) {
	return nil, errString("not runnable in tests")
}

type errString string

func (e errString) Error() string { return string(e) }

// token stores a token of scope and returns its secret.
func (ts *testServer) token(t *testing.T, name string, scope db.Scope) string {
	t.Helper()
	secret, hash := NewToken()
	if err := ts.store.CreateToken(context.Background(), db.Token{Name: name, Hash: hash, Scope: scope}); err != nil {
		t.Fatal(err)
	}
	return secret
}

// do sends a request with token (none when "") and returns the response
// and its body.
func (ts *testServer) do(t *testing.T, method, path, token, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// submit stores a task through the store and returns its id.
func (ts *testServer) submit(t *testing.T, nt db.NewTask) int64 {
	t.Helper()
	r, err := ts.store.Submit(context.Background(), nt)
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// claim moves pending tasks to running under worker "w1" and returns them.
func (ts *testServer) claim(t *testing.T, n int) []db.Task {
	t.Helper()
	got, err := ts.store.Claim(context.Background(), db.ClaimRequest{Worker: "w1", Limit: n, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// emit appends an output event to a running task, as its runner would.
func (ts *testServer) emit(t *testing.T, task db.Task, kind string, data any) {
	t.Helper()
	b, _ := json.Marshal(data)
	if _, err := ts.store.AppendEvents(context.Background(), []db.NewEvent{{TaskID: task.ID, Kind: kind, Data: b, Worker: "w1", Attempt: task.Attempts}}); err != nil {
		t.Fatal(err)
	}
}

// finish stores a running task's outcome.
func (ts *testServer) finish(t *testing.T, task db.Task, status db.Status, errText string) {
	t.Helper()
	out := db.Outcome{ID: task.ID, Worker: "w1", Attempt: task.Attempts, Status: status, Error: errText}
	if status == db.StatusCompleted {
		out.Result = json.RawMessage(`{"ok":true}`)
	}
	if _, err := ts.store.Finish(context.Background(), nil, []db.Outcome{out}); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
