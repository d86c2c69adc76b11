package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/opsctl/opsctl/internal/llm"
)

// toolset holds the tools offered in one run, with their compiled schemas.
type toolset struct {
	order  []string // offering order: built-ins first, then sources in order
	byName map[string]*runTool
}

// runTool is a tool with its spec and compiled schema, both taken once.
type runTool struct {
	tool   Tool
	spec   llm.ToolSpec
	schema *jsonschema.Resolved
}

// newToolset returns an empty toolset.
func newToolset() *toolset {
	return &toolset{byName: map[string]*runTool{}}
}

// add offers a tool, compiling its schema. A second tool with the same name
// is refused, because the model could not tell the two apart.
func (ts *toolset) add(t Tool) error {
	spec := t.Spec()
	if spec.Name == "" {
		return errors.New("a tool has no name")
	}
	if _, dup := ts.byName[spec.Name]; dup {
		return fmt.Errorf("tool %q is offered twice; keeping the first", spec.Name)
	}
	sch, err := compileSchema(spec.Name, spec.Schema)
	if err != nil {
		return err
	}
	if len(spec.Schema) == 0 {
		spec.Schema = json.RawMessage(emptyObjectSchema)
	}
	ts.byName[spec.Name] = &runTool{tool: t, spec: spec, schema: sch}
	ts.order = append(ts.order, spec.Name)
	return nil
}

// specs returns the specs offered to the model, in offering order.
func (ts *toolset) specs() []llm.ToolSpec {
	out := make([]llm.ToolSpec, 0, len(ts.order))
	for _, name := range ts.order {
		out = append(out, ts.byName[name].spec)
	}
	return out
}

// callOutcome is what one tool call produced.
type callOutcome struct {
	content string
	isError bool
	// unexpected is a tool's own Go error (not a *ToolError), worth a
	// warning event besides the error result.
	unexpected error
	took       time.Duration // how long the call ran; 0 when it did not run
}

// call runs one tool call. Every failure, from an unknown name to a tool's
// own error, becomes an error result the model can read; none ends the run.
func (ts *toolset) call(ctx context.Context, c llm.ToolCall) callOutcome {
	rt, ok := ts.byName[c.Name]
	if !ok {
		avail := "none"
		if len(ts.order) > 0 {
			names := append([]string(nil), ts.order...)
			sort.Strings(names)
			avail = strings.Join(names, ", ")
		}
		return errorOutcome(fmt.Sprintf("unknown tool %q (available tools: %s)", c.Name, avail))
	}
	args := normalizeArguments(c.Arguments)
	if err := validateArguments(rt.schema, args); err != nil {
		return errorOutcome("invalid arguments: " + err.Error())
	}
	out, err := rt.tool.Call(ctx, args)
	if err == nil {
		return callOutcome{content: out}
	}
	var terr *ToolError
	if errors.As(err, &terr) {
		return errorOutcome(terr.Message)
	}
	o := errorOutcome(err.Error())
	o.unexpected = err
	return o
}

// errorOutcome returns an error result with the "error: " prefix the model
// learns to recognise.
func errorOutcome(msg string) callOutcome {
	return callOutcome{content: "error: " + msg, isError: true}
}

// sourceToolAllowed decides whether a tool contributed by a ToolSource is
// offered. The task's tools list narrows a server's tools only if it names
// at least one SERVER__TOOL of that server; otherwise naming the server in
// mcp_servers is enough to offer all of its tools.
func sourceToolAllowed(name string, allowed []string) bool {
	server, _, isMCP := strings.Cut(name, "__")
	narrowed := false
	for _, a := range allowed {
		if a == name {
			return true
		}
		if isMCP && strings.HasPrefix(a, server+"__") {
			narrowed = true
		}
	}
	return isMCP && !narrowed
}
