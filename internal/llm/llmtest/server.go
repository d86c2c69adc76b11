// Package llmtest fakes LLM providers for tests: an httptest server that
// speaks the OpenAI Chat Completions or the Anthropic Messages wire format,
// answers from a script of turns the test queues, and records every request
// so the test can check what the official SDK actually sent.
//
//	srv := llmtest.NewOpenAI(t)
//	srv.Reply(llmtest.ToolCalls(llmtest.Call("call_1", "get_time", `{}`)))
//	srv.Reply(llmtest.Text("It is noon."))
//	p, _ := llm.New(llm.Config{Provider: "openai", BaseURL: srv.URL(), APIKey: "k", Model: "m"})
//	... run the agent loop against p ...
//	require.Len(t, srv.Requests(), 2)
//
// When the script runs out, the server answers 500 with a message saying so
// (and x-should-retry: false, so the SDK does not retry it), which makes an
// under-scripted test fail loudly instead of hanging or passing by accident.
package llmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Wire is a provider wire format the fake server speaks.
type Wire string

// The wire formats.
const (
	// OpenAI is Chat Completions: POST /v1/chat/completions (or
	// /chat/completions, for clients whose base URL lacks /v1).
	OpenAI Wire = "openai"
	// Anthropic is the Messages API: POST /v1/messages.
	Anthropic Wire = "anthropic"
)

// step answers one request from the script.
type step func(w http.ResponseWriter, r *http.Request, rec Request)

// Server is a scripted fake provider. Its methods are safe for concurrent use.
type Server struct {
	wire Wire
	srv  *httptest.Server
	// done is closed by Close so that hanging handlers return and
	// httptest.Server.Close does not wait for them.
	done      chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	steps    []step
	requests []Request
	usage    Usage
	served   int // responses written, for unique ids
}

// NewOpenAI starts a fake OpenAI server that is closed when the test ends.
func NewOpenAI(t testing.TB) *Server {
	t.Helper()
	s := Start(OpenAI)
	t.Cleanup(s.Close)
	return s
}

// NewAnthropic starts a fake Anthropic server that is closed when the test ends.
func NewAnthropic(t testing.TB) *Server {
	t.Helper()
	s := Start(Anthropic)
	t.Cleanup(s.Close)
	return s
}

// Start starts a fake server without a *testing.T, e.g. from a testscript
// command (pair it with ts.Defer(srv.Close)). The caller must call Close.
func Start(wire Wire) *Server {
	if wire != OpenAI && wire != Anthropic {
		panic(fmt.Sprintf("llmtest: unknown wire format %q", wire))
	}
	s := &Server{
		wire:  wire,
		done:  make(chan struct{}),
		usage: Usage{InputTokens: DefaultInputTokens, OutputTokens: DefaultOutputTokens},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close stops the server. Requests blocked in Hang are released first.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.srv.Close()
	})
}

// Wire returns the wire format the server speaks.
func (s *Server) Wire() Wire { return s.wire }

// URL returns the base URL to give the SDK: srv/v1/ for OpenAI, whose SDK
// appends chat/completions, and srv/ for Anthropic, whose SDK appends
// v1/messages.
func (s *Server) URL() string {
	if s.wire == OpenAI {
		return s.srv.URL + "/v1/"
	}
	return s.srv.URL + "/"
}

// Reply queues successful responses, one per turn.
func (s *Server) Reply(turns ...Turn) {
	for _, t := range turns {
		s.push(func(w http.ResponseWriter, r *http.Request, rec Request) {
			s.writeTurn(w, rec, t)
		})
	}
}

// Fail queues an error response with the provider's error body carrying
// message. headers are "Name: value" strings, e.g. "Retry-After-Ms: 10"
// (both SDKs honour it, so a retry test stays fast).
func (s *Server) Fail(status int, message string, headers ...string) {
	h := parseHeaders(headers)
	s.push(func(w http.ResponseWriter, r *http.Request, rec Request) {
		copyHeaders(w.Header(), h)
		s.writeError(w, status, message)
	})
}

// Raw queues a response with exactly this status and body. Content-Type is
// application/json unless headers set another, so a malformed body looks
// like what a broken server that claims JSON would send.
func (s *Server) Raw(status int, body string, headers ...string) {
	h := parseHeaders(headers)
	s.push(func(w http.ResponseWriter, r *http.Request, rec Request) {
		w.Header().Set("Content-Type", "application/json")
		copyHeaders(w.Header(), h)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

// Handle queues a custom handler, for slow, blocking or odd responses. The
// request body has already been recorded but can still be read from r.Body.
func (s *Server) Handle(h http.HandlerFunc) {
	s.push(func(w http.ResponseWriter, r *http.Request, rec Request) { h(w, r) })
}

// Hang queues a response that never comes: the handler blocks until the
// client goes away (a cancelled context or a request timeout) or the server
// is closed.
func (s *Server) Hang() {
	s.push(func(w http.ResponseWriter, r *http.Request, rec Request) {
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
	})
}

// SetUsage sets the token counts reported by replies without their own.
func (s *Server) SetUsage(input, output int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.usage = Usage{InputTokens: input, OutputTokens: output}
}

// Requests returns every request received so far, in order, including ones
// the SDK retried.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Last returns the most recent request; ok is false when there is none.
func (s *Server) Last() (req Request, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return Request{}, false
	}
	return s.requests[len(s.requests)-1], true
}

// Pending returns how many scripted responses are still unused, so a test
// can check that its script was consumed.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.steps)
}

func (s *Server) push(st step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps, st)
}

// serve records the request and answers it with the next scripted step.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(raw))
	rec := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Raw: raw}
	_ = json.Unmarshal(raw, &rec.Body)

	s.mu.Lock()
	s.requests = append(s.requests, rec)
	n := len(s.requests)
	var next step
	if s.endpoint(r.URL.Path) && r.Method == http.MethodPost && len(s.steps) > 0 {
		next, s.steps = s.steps[0], s.steps[1:]
	}
	s.mu.Unlock()

	switch {
	case !s.endpoint(r.URL.Path):
		s.writeError(w, http.StatusNotFound, fmt.Sprintf("llmtest: no %s endpoint at %s", s.wire, r.URL.Path))
	case r.Method != http.MethodPost:
		s.writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("llmtest: %s %s: only POST is served", r.Method, r.URL.Path))
	case next == nil:
		// Tell the SDK not to retry, so the test fails at once with this message.
		w.Header().Set("x-should-retry", "false")
		s.writeError(w, http.StatusInternalServerError,
			fmt.Sprintf("llmtest: script exhausted: no response scripted for request #%d (%s %s)", n, r.Method, r.URL.Path))
	default:
		next(w, r, rec)
	}
}

// endpoint reports whether path is the wire format's completion endpoint.
func (s *Server) endpoint(path string) bool {
	if s.wire == OpenAI {
		return path == "/v1/chat/completions" || path == "/chat/completions"
	}
	return path == "/v1/messages"
}

// nextID returns a fresh number for response ids.
func (s *Server) nextID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.served++
	return s.served
}

func (s *Server) defaultUsage() Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage
}

// parseHeaders turns "Name: value" strings into a header set. A malformed one
// is a bug in the test, so it panics with the offending string.
func parseHeaders(lines []string) http.Header {
	h := http.Header{}
	for _, line := range lines {
		name, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "" {
			panic(fmt.Sprintf("llmtest: header %q is not \"Name: value\"", line))
		}
		h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return h
}

func copyHeaders(dst, src http.Header) {
	for k, vs := range src {
		dst.Del(k)
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "llmtest: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
