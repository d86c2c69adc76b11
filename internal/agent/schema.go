package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// emptyObjectSchema stands in for a tool that gives no schema: it takes an
// object of any shape.
const emptyObjectSchema = `{"type":"object"}`

// compileSchema resolves a tool's argument schema. Each run resolves each
// schema once, when its tools are gathered, and reuses it for every call.
//
// The validator is github.com/google/jsonschema-go, which the MCP SDK uses
// too. Its resolver has no loader unless one is given, so a "$ref" to a file
// or URL fails instead of making opsctl read whatever an MCP server's schema
// points at. (A validator that compiles its meta-schemas at process start
// would add milliseconds to every opsctl command, agent or not.)
func compileSchema(toolName string, raw json.RawMessage) (*jsonschema.Resolved, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage(emptyObjectSchema)
	}
	var sch jsonschema.Schema
	if err := json.Unmarshal(raw, &sch); err != nil {
		return nil, fmt.Errorf("schema of tool %q is not a valid JSON Schema: %w", toolName, err)
	}
	rs, err := sch.Resolve(nil)
	if err != nil {
		return nil, fmt.Errorf("schema of tool %q: %w", toolName, err)
	}
	return rs, nil
}

// normalizeArguments returns the arguments to validate and pass on. Models
// send an empty string for tools without parameters; that means "{}".
func normalizeArguments(args json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(args)) == 0 {
		return json.RawMessage(`{}`)
	}
	return args
}

// validateArguments checks arguments against a resolved schema and returns
// a message the model can act on.
func validateArguments(sch *jsonschema.Resolved, args json.RawMessage) error {
	var v any
	if err := json.Unmarshal(args, &v); err != nil {
		return fmt.Errorf("arguments are not valid JSON: %v", err)
	}
	if err := sch.Validate(v); err != nil {
		// The library prefixes every message with "validating root: ";
		// the rest says what is wrong and where.
		return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "validating root: "))
	}
	return nil
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
