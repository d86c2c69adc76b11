package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// emptyObjectSchema stands in for a tool that gives no schema: it takes an
// object of any shape.
const emptyObjectSchema = `{"type":"object"}`

// refusingLoader stops a tool schema from making the validator fetch a file
// or URL through "$ref". Tool schemas come from MCP servers too, and loading
// whatever they point at would read local files on their behalf.
type refusingLoader struct{}

// Load refuses every URL.
func (refusingLoader) Load(u string) (any, error) {
	return nil, fmt.Errorf("loading %s is not allowed: tool schemas must be self-contained", u)
}

// compileSchema compiles a tool's argument schema. Each run compiles each
// schema once, when its tools are gathered, and reuses it for every call.
func compileSchema(toolName string, raw json.RawMessage) (*jsonschema.Schema, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage(emptyObjectSchema)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("schema of tool %q is not valid JSON: %w", toolName, err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(refusingLoader{})
	loc := "mem:///tools/" + url.PathEscape(toolName) + ".json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("schema of tool %q: %w", toolName, err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("schema of tool %q: %w", toolName, err)
	}
	return sch, nil
}

// normalizeArguments returns the arguments to validate and pass on. Models
// send an empty string for tools without parameters; that means "{}".
func normalizeArguments(args json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(args)) == 0 {
		return json.RawMessage(`{}`)
	}
	return args
}

// validateArguments checks arguments against a compiled schema and returns
// a message the model can act on, naming each failing location.
func validateArguments(sch *jsonschema.Schema, args json.RawMessage) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(args))
	if err != nil {
		return fmt.Errorf("arguments are not valid JSON: %v", err)
	}
	err = sch.Validate(v)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	var leaves []string
	collectLeaves(verr, &leaves)
	return errors.New(strings.Join(leaves, "; "))
}

// collectLeaves gathers the innermost validation errors, which say what is
// actually wrong ("at '/url': missing property 'url'"), and skips the
// wrappers above them, which only say that validation failed.
func collectLeaves(e *jsonschema.ValidationError, out *[]string) {
	if len(e.Causes) == 0 {
		*out = append(*out, e.Error())
		return
	}
	for _, c := range e.Causes {
		collectLeaves(c, out)
	}
}

// canonicalArguments returns a form of the arguments in which equal values
// are equal strings, whatever the key order or spacing, so that repeated
// calls can be recognised. encoding/json sorts map keys when encoding, and
// UseNumber keeps numbers exactly as written.
func canonicalArguments(args json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(normalizeArguments(args)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return string(bytes.TrimSpace(args))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return string(bytes.TrimSpace(args))
	}
	return string(b)
}
