package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ExecInput is the input of an exec task: an argv list or a shell line.
type ExecInput struct {
	Command []string          `json:"command,omitempty"`
	Shell   string            `json:"shell,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Dir     string            `json:"dir,omitempty"`
}

// ParseExecInput decodes and checks an exec task's input. Unknown fields are
// refused so that a misspelt "comand" is caught at submit.
func ParseExecInput(raw json.RawMessage) (ExecInput, error) {
	var in ExecInput
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return in, errors.New(strings.TrimPrefix(jsonProblem(err).Error(), "json: "))
	}
	switch {
	case len(in.Command) == 0 && in.Shell == "":
		return in, errors.New(`needs "command" (an argv list) or "shell" (a string)`)
	case len(in.Command) > 0 && in.Shell != "":
		return in, errors.New(`give "command" or "shell", not both`)
	case len(in.Command) > 0 && in.Command[0] == "":
		return in, errors.New(`"command" must start with a program name`)
	}
	return in, nil
}

// jsonProblem turns decoder errors into short sentences.
func jsonProblem(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("field %q must be %s, not %s", te.Field, describeType(te.Type.String()), te.Value)
	}
	return err
}

func describeType(t string) string {
	switch t {
	case "[]string":
		return "a list of strings"
	case "map[string]string":
		return "an object of strings"
	case "string":
		return "a string"
	}
	return t
}
