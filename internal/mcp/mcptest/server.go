// Package mcptest provides a small MCP server built with the official SDK,
// for tests of opsctl's MCP client and of the CLI end to end. It serves the
// same tools over stdio (by re-running the test binary, see MaybeServe) and
// over streamable HTTP (see NewHTTPServer).
//
// Tools: echo {text}, add {a, b}, fail {message} (a tool error), crash {}
// (the server dies mid-call), env {name} (a variable of the server's own
// environment, or "<unset>"), image {} (a small PNG), sleep {ms}.
package mcptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// Environment variables read by MaybeServe in the re-run test binary.
const (
	// EnvServe set to "stdio" makes MaybeServe serve MCP on stdin/stdout
	// and exit instead of running the tests.
	EnvServe = "OPSCTL_MCPTEST_SERVE"
	// EnvStubborn set to "1" makes the stdio server ignore the end of its
	// input, SIGTERM, SIGINT and SIGHUP, so that only SIGKILL stops it:
	// a test of bounded shutdown.
	EnvStubborn = "OPSCTL_MCPTEST_STUBBORN"
)

// PageSize is the number of tools per tools/list page. It is smaller than
// the number of tools, so that clients must follow pagination.
const PageSize = 3

// Unset is what the env tool returns for a variable that is not set.
const Unset = "<unset>"

// StartedLine is written to stderr by the stdio server when it starts, so
// that tests can check that a server's stderr reaches the caller.
const StartedLine = "mcptest: serving on stdio"

// Input types of the tools; their fields become the tools' input schemas.
type (
	echoIn struct {
		Text string `json:"text" jsonschema:"the text to return"`
	}
	addIn struct {
		A float64 `json:"a" jsonschema:"the first number"`
		B float64 `json:"b" jsonschema:"the second number"`
	}
	failIn struct {
		Message string `json:"message" jsonschema:"the error message to return"`
	}
	envIn struct {
		Name string `json:"name" jsonschema:"the name of an environment variable"`
	}
	sleepIn struct {
		Ms int `json:"ms" jsonschema:"how long to sleep, in milliseconds"`
	}
	noIn struct{}
)

// textResult returns a result holding one text item.
func textResult(text string) *sdk.CallToolResult {
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: text}}}
}

// NewServer returns the test server. crash is called by the crash tool and
// should end the server abruptly (os.Exit for stdio, dropping every
// connection for HTTP).
func NewServer(crash func()) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "mcptest", Version: "1.0.0"}, &sdk.ServerOptions{PageSize: PageSize})
	sdk.AddTool(s, &sdk.Tool{Name: "echo", Description: "Returns its text."},
		func(_ context.Context, _ *sdk.CallToolRequest, in echoIn) (*sdk.CallToolResult, any, error) {
			return textResult(in.Text), nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "add", Description: "Adds two numbers."},
		func(_ context.Context, _ *sdk.CallToolRequest, in addIn) (*sdk.CallToolResult, any, error) {
			return textResult(strconv.FormatFloat(in.A+in.B, 'g', -1, 64)), nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "fail", Description: "Reports a tool error with the given message."},
		func(_ context.Context, _ *sdk.CallToolRequest, in failIn) (*sdk.CallToolResult, any, error) {
			res := textResult(in.Message)
			res.IsError = true
			return res, nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "crash", Description: "Kills the server in the middle of the call."},
		func(_ context.Context, _ *sdk.CallToolRequest, _ noIn) (*sdk.CallToolResult, any, error) {
			crash()
			return nil, nil, errors.New("crashed")
		})
	sdk.AddTool(s, &sdk.Tool{Name: "env", Description: "Returns a variable of the server's environment, or " + Unset + "."},
		func(_ context.Context, _ *sdk.CallToolRequest, in envIn) (*sdk.CallToolResult, any, error) {
			v, ok := os.LookupEnv(in.Name)
			if !ok {
				v = Unset
			}
			return textResult(v), nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "image", Description: "Returns a small PNG image."},
		func(_ context.Context, _ *sdk.CallToolRequest, _ noIn) (*sdk.CallToolResult, any, error) {
			data, err := smallPNG()
			if err != nil {
				return nil, nil, err
			}
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.ImageContent{Data: data, MIMEType: "image/png"}}}, nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "sleep", Description: "Sleeps for ms milliseconds, then returns."},
		func(ctx context.Context, _ *sdk.CallToolRequest, in sleepIn) (*sdk.CallToolResult, any, error) {
			select {
			case <-time.After(time.Duration(in.Ms) * time.Millisecond):
				return textResult(fmt.Sprintf("slept %dms", in.Ms)), nil, nil
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		})
	return s
}

// smallPNG encodes a 2x2 image, so the image tool returns real PNG bytes.
func smallPNG() ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{R: 255, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Serve runs the test server on transport until the client goes away or
// ctx ends. The crash tool exits the process with status 3, so Serve is
// meant for a process of its own (stdio).
func Serve(ctx context.Context, transport sdk.Transport) error {
	return NewServer(func() { os.Exit(3) }).Run(ctx, transport)
}

// MaybeServe turns the test binary into the stdio test server when EnvServe
// is "stdio", and returns otherwise. Call it first in TestMain; tests then
// start the server with Command os.Args[0] and Env {EnvServe: "stdio"}.
func MaybeServe() {
	if os.Getenv(EnvServe) == "stdio" {
		Main()
	}
}

// Main serves on stdin and stdout, then exits the process. It suits
// testscript's map of commands as well as MaybeServe.
func Main() {
	stubborn := os.Getenv(EnvStubborn) == "1"
	if stubborn {
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	}
	fmt.Fprintln(os.Stderr, StartedLine)
	err := Serve(context.Background(), &sdk.StdioTransport{})
	if stubborn {
		// Outlive the end of the input, as a badly written server would;
		// only SIGKILL ends this.
		for {
			time.Sleep(time.Hour)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mcptest:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
