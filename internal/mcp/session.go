package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// ErrClosed is the cause of the failure of a call made on, or still running
// on, a Session that has been closed.
var ErrClosed = errors.New("session closed")

// Options are the caller's settings for Start, shared by every server.
type Options struct {
	// Stderr receives a stdio server's standard error. Nil discards it
	// (Start still keeps the last line for its own error messages). A
	// TailBuffer bounds what is kept and hands lines to a callback.
	Stderr io.Writer
	// BaseEnv returns the variables every stdio server gets before its own
	// Env is added. Nil means PATH, HOME, LANG and TMPDIR from opsctl's
	// environment, and nothing else: the rest of that environment holds
	// provider API keys, which a tool server must never see.
	BaseEnv func() []string
	// CloseGrace is how long Close waits after closing a stdio server's
	// input before sending SIGTERM to its process group, and again before
	// SIGKILL. Zero means DefaultCloseGrace.
	CloseGrace time.Duration
	// ClientVersion is the version opsctl reports in the MCP handshake;
	// empty means "dev".
	ClientVersion string
	// Supervise, when set, rewrites a stdio server's command line and adds
	// to its environment, to run it under a process supervisor that takes
	// the server's own children down with it if opsctl dies (an `npx`
	// launcher's node process, say). Nil runs the command directly.
	Supervise func(argv []string) (wrapped []string, env []string)
}

// Session is a running, initialized connection to one MCP server. Its
// methods are safe for concurrent use.
type Session struct {
	name  string
	cfg   ServerConfig // with defaults filled in
	cs    *sdk.ClientSession
	proc  *process     // nil for an HTTP server
	httpc *http.Client // nil for a stdio server
	// stderr is Options.Stderr, flushed by Close if it has a Flush method
	// (as TailBuffer does), so that a last unterminated line is delivered.
	stderr io.Writer
	// tail keeps the end of a stdio server's stderr, to quote in errors
	// when the server dies; nil for an HTTP server.
	tail  *TailBuffer
	grace time.Duration

	// life is cancelled by Close, with ErrClosed as its cause, so that
	// in-flight calls stop waiting: the SDK's own Close would otherwise
	// wait for them to finish before it closes the connection.
	life     context.Context
	stopLife context.CancelCauseFunc

	closeOnce sync.Once
	closeErr  error
}

// Start starts the server called name (for a stdio server: runs its
// command) and performs the MCP handshake, all within cfg.StartTimeout. ctx
// bounds the start only: cancelling it later does not stop the server; call
// Close for that. Start does not expand ${VAR} references: call
// ServerConfig.Expand first. Errors name the server.
func Start(ctx context.Context, name string, cfg ServerConfig, opts Options) (*Session, error) {
	if err := cfg.Validate(name); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if opts.CloseGrace <= 0 {
		opts.CloseGrace = DefaultCloseGrace
	}
	if opts.ClientVersion == "" {
		opts.ClientVersion = "dev"
	}
	client := sdk.NewClient(&sdk.Implementation{Name: "opsctl", Version: opts.ClientVersion}, nil)
	s := &Session{name: name, cfg: cfg, grace: opts.CloseGrace}
	var err error
	if cfg.Transport() == TransportStdio {
		err = s.startStdio(ctx, client, opts)
	} else {
		err = s.startHTTP(ctx, client)
	}
	if err != nil {
		return nil, fmt.Errorf("mcp server %q: start: %w", name, err)
	}
	s.life, s.stopLife = context.WithCancelCause(context.Background())
	return s, nil
}

// Name returns the server's name, as given to Start.
func (s *Session) Name() string { return s.name }

// PID returns the process id of a stdio server, or 0 for an HTTP server.
func (s *Session) PID() int {
	if s.proc == nil {
		return 0
	}
	return s.proc.pid()
}

// Tool is one tool offered by a server.
type Tool struct {
	// Server is the name of the server offering the tool.
	Server string `json:"server"`
	// Name is the tool's own name on that server.
	Name string `json:"name"`
	// Description tells the model what the tool does.
	Description string `json:"description,omitempty"`
	// InputSchema is the JSON Schema of the tool's arguments.
	InputSchema json.RawMessage `json:"input_schema"`
}

// Tools lists every tool of the server, following pagination. The whole
// listing is bounded by the server's Timeout.
func (s *Session) Tools(ctx context.Context) ([]Tool, error) {
	if s.life.Err() != nil {
		return nil, fmt.Errorf("mcp server %q: list tools: %w", s.name, ErrClosed)
	}
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	var tools []Tool
	for t, err := range s.cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("mcp server %q: list tools: %w", s.name, s.callError(ctx, err))
		}
		schema, err := json.Marshal(t.InputSchema)
		if err != nil {
			return nil, fmt.Errorf("mcp server %q: list tools: schema of %q: %w", s.name, t.Name, err)
		}
		tools = append(tools, Tool{Server: s.name, Name: t.Name, Description: t.Description, InputSchema: schema})
	}
	return tools, nil
}

// Result is what a tool call returned. A tool that ran and failed (the
// server set isError) is a Result with IsError, not a Go error: the model
// reads the text and may try again.
type Result struct {
	// Text is the call's content as text: text items joined by newlines,
	// other items summarised one per line (see Call).
	Text string `json:"text"`
	// IsError reports that the tool itself reported a failure.
	IsError bool `json:"is_error,omitempty"`
}

// Call calls a tool with args, a JSON object (empty means no arguments),
// bounded by the server's Timeout and by ctx.
//
// Text content is passed through; every other content item is summarised
// on a line of its own, like "[image image/png, 1234 bytes]", so that the
// model knows it was there. Structured content is appended as JSON when
// the result has no text. A protocol error (such as an unknown tool) or a
// transport failure (such as a server that crashed mid-call) is a Go error
// naming the server and the tool.
func (s *Session) Call(ctx context.Context, tool string, args json.RawMessage) (Result, error) {
	fail := func(err error) (Result, error) {
		return Result{}, fmt.Errorf("mcp server %q: tool %q: %w", s.name, tool, err)
	}
	if s.life.Err() != nil {
		return fail(ErrClosed)
	}
	params := &sdk.CallToolParams{Name: tool}
	if len(args) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(args, &obj); err != nil || obj == nil {
			return fail(errors.New("arguments must be a JSON object"))
		}
		params.Arguments = args
	}
	ctx, cancel := s.callContext(ctx)
	defer cancel()
	res, err := s.cs.CallTool(ctx, params)
	if err != nil {
		return fail(s.callError(ctx, err))
	}
	return toResult(res), nil
}

// callContext bounds one request by the server's Timeout and ends it when
// the session is closed.
func (s *Session) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	timeout := s.cfg.Timeout
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, timeout,
		fmt.Errorf("no answer within %s: %w", timeout, context.DeadlineExceeded))
	ctx, cancelClosed := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.life, func() { cancelClosed(context.Cause(s.life)) })
	return ctx, func() {
		stop()
		cancelClosed(nil)
		cancelTimeout()
	}
}

// callError prefers the reason the request's context ended (a timeout,
// ErrClosed) over the SDK's bare "context canceled".
func (s *Session) callError(ctx context.Context, err error) error {
	if s.life.Err() != nil {
		return ErrClosed
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if s.tail != nil && (errors.Is(err, io.EOF) || errors.Is(err, sdk.ErrConnectionClosed)) {
		// A stdio server that closed its output has almost always died;
		// its last words on stderr usually say why.
		err = fmt.Errorf("server exited or closed its output: %w", err)
		if line := s.tail.lastLine(300); line != "" {
			err = fmt.Errorf("%w (stderr: %s)", err, line)
		}
	}
	return err
}

// Close shuts the server down within a bounded time and releases the
// session. Calls in flight fail with ErrClosed.
//
// For a stdio server it closes the server's input, waits CloseGrace for it
// to exit, then sends SIGTERM to its process group, and SIGKILL after
// another CloseGrace; when Close returns, the process has been reaped and
// its group killed. For an HTTP server it ends the session with the server
// as a courtesy, without waiting long for an answer.
//
// Close is idempotent and safe to call concurrently; every call returns
// once the shutdown is over.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.stopLife(ErrClosed)
		if s.proc != nil {
			s.closeErr = s.closeStdio()
		} else {
			s.closeErr = s.closeHTTP()
		}
	})
	return s.closeErr
}

// ToolName returns the name a server's tool is offered under to a model:
// SERVER__TOOL.
func ToolName(server, tool string) string {
	return server + "__" + tool
}

// SplitToolName splits a SERVER__TOOL name at its first "__". It reports
// false when s has no separator or either side is empty. Server names
// cannot contain "__" or end in "_" (see ServerConfig.Validate), which makes
// the first "__" the separator.
func SplitToolName(s string) (server, tool string, ok bool) {
	server, tool, ok = strings.Cut(s, "__")
	if !ok || server == "" || tool == "" {
		return "", "", false
	}
	return server, tool, true
}
