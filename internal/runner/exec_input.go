package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
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
	return in, checkStartable(in)
}

// Limits of what the kernel lets a command start with (see execve(2)), so
// that a task that could never start is refused at submit instead of
// failing on every attempt. README "Limits" lists them.
const (
	// MaxArgBytes is the longest argument or environment string: the
	// kernel's MAX_ARG_STRLEN, 128 KiB, counts the terminating NUL.
	MaxArgBytes = 128<<10 - 1
	// MaxArgvEnvBytes caps the task's argv and env together, each string
	// counted with its NUL. The kernel's own limit (ARG_MAX, a quarter of
	// the stack limit, 2 MiB by default) also covers the runner's
	// environment and the supervisor's arguments, which are not known at
	// submit; 256 KiB leaves them most of it.
	MaxArgvEnvBytes = 256 << 10
	// MaxDirBytes is the longest "dir": PATH_MAX, 4096, counts the NUL.
	MaxDirBytes = 4096 - 1
	// ReservedEnvPrefix starts the environment names opsctl sets for its
	// own processes (OPSCTL_SUPERVISE marks a task's supervisor); a task's
	// "env" may not set them.
	ReservedEnvPrefix = "OPSCTL_"
)

// checkStartable refuses input that execve or chdir would refuse: NUL bytes
// (C strings end there), strings over the kernel's limits, and environment
// names that are not names or that opsctl reserves. The first problem is
// reported, in a fixed order: command, shell, dir, then env by name.
func checkStartable(in ExecInput) error {
	argv := in.Command
	what := `"command"`
	for i, a := range in.Command {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf(`"command" item %d contains a NUL byte`, i+1)
		}
		if len(a) > MaxArgBytes {
			return fmt.Errorf(`"command" item %d is %d bytes; %s`, i+1, len(a), argLimit)
		}
	}
	if in.Shell != "" {
		if strings.IndexByte(in.Shell, 0) >= 0 {
			return errors.New(`"shell" contains a NUL byte`)
		}
		if len(in.Shell) > MaxArgBytes {
			return fmt.Errorf(`"shell" is %d bytes; %s`, len(in.Shell), argLimit)
		}
		argv, what = shellArgv(in.Shell), `"shell"`
	}
	if strings.IndexByte(in.Dir, 0) >= 0 {
		return errors.New(`"dir" contains a NUL byte`)
	}
	if len(in.Dir) > MaxDirBytes {
		return fmt.Errorf(`"dir" is %d bytes; a directory can be at most %d bytes (the kernel's PATH_MAX)`, len(in.Dir), MaxDirBytes)
	}
	total := 0
	for _, a := range argv {
		total += len(a) + 1
	}
	names := make([]string, 0, len(in.Env))
	for k := range in.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := in.Env[k]
		if err := CheckEnvName(k); err != nil {
			return fmt.Errorf(`"env" name %w`, err)
		}
		switch {
		case strings.IndexByte(v, 0) >= 0:
			return fmt.Errorf(`"env" value of %q contains a NUL byte`, k)
		case len(k)+1+len(v) > MaxArgBytes:
			return fmt.Errorf(`"env" variable %q is %d bytes as %s=value; one variable can be at most %d bytes (the kernel's MAX_ARG_STRLEN)`, k, len(k)+1+len(v), k, MaxArgBytes)
		}
		total += len(k) + 1 + len(v) + 1
	}
	if total > MaxArgvEnvBytes {
		return fmt.Errorf(`%s and "env" come to %d bytes; together they can be at most 256 KiB (%d bytes)`, what, total, MaxArgvEnvBytes)
	}
	return nil
}

var argLimit = fmt.Sprintf("one argument can be at most %d bytes (the kernel's MAX_ARG_STRLEN)", MaxArgBytes)

// shellArgv is the argv that runs a "shell" line (as Exec.Run builds it).
func shellArgv(line string) []string { return []string{"/bin/sh", "-c", line} }

// CheckEnvName says why k cannot be a name in an exec task's "env": it is
// not a variable name a shell can set, or it is reserved for opsctl
// (ReservedEnvPrefix). It returns nil for a good name. The error starts
// with the quoted name, so that callers can say where it came from.
func CheckEnvName(k string) error {
	switch {
	case !validEnvName(k):
		return fmt.Errorf(`%q is not a valid variable name (want letters, digits and _, not starting with a digit)`, k)
	case strings.HasPrefix(k, ReservedEnvPrefix):
		return fmt.Errorf(`%q is reserved: names starting with %s are for opsctl's own use`, k, ReservedEnvPrefix)
	}
	return nil
}

// validEnvName reports whether k is [A-Za-z_][A-Za-z0-9_]*, the names a
// shell can set and read.
func validEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
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
