package mcp

import (
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
)

// varName is the shape of a variable name inside ${...}.
var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Expand returns a copy of the config with ${VAR} and ${VAR:-default}
// references replaced, using lookup (os.LookupEnv when nil). References are
// expanded in Command, Args, Dir, URL, and the values of Env and Headers;
// map keys are left alone.
//
// As in a shell, ${VAR:-default} uses the default when VAR is unset or
// empty. A ${VAR} whose variable is unset is an error naming the server and
// the variable, so that a missing token is reported at start instead of
// being sent as an empty string. Text that is not a reference, such as "$$",
// "$VAR" or "${not a name}", is left as it is.
func (c ServerConfig) Expand(name string, lookup func(string) (string, bool)) (ServerConfig, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	out := c.clone()
	var missing []string
	exp := func(s string) string {
		v, m := expandString(s, lookup)
		for _, name := range m {
			if !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
		}
		return v
	}
	out.Command = exp(out.Command)
	for i, a := range out.Args {
		out.Args[i] = exp(a)
	}
	out.Dir = exp(out.Dir)
	out.URL = exp(out.URL)
	// Sorted keys make the order of missing variables in the error stable.
	for _, k := range slices.Sorted(maps.Keys(out.Env)) {
		out.Env[k] = exp(out.Env[k])
	}
	for _, k := range slices.Sorted(maps.Keys(out.Headers)) {
		out.Headers[k] = exp(out.Headers[k])
	}
	switch len(missing) {
	case 0:
		return out, nil
	case 1:
		return ServerConfig{}, fmt.Errorf("mcp server %q: variable %s is not set", name, missing[0])
	default:
		return ServerConfig{}, fmt.Errorf("mcp server %q: variables %s are not set", name, strings.Join(missing, ", "))
	}
}

// expandString expands the references in s and returns the names of the
// variables that were needed but unset. The values of variables are never
// expanded again, so a value containing "${" stays literal.
func expandString(s string, lookup func(string) (string, bool)) (string, []string) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	var missing []string
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		body := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(body, ":-")
		if !varName.MatchString(name) {
			// Not a reference: keep "${" and go on scanning after it, so
			// that a real reference later in the text is still expanded.
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		v, ok := lookup(name)
		switch {
		case hasDef && v == "":
			b.WriteString(def)
		case ok:
			b.WriteString(v)
		default:
			missing = append(missing, name)
		}
		s = s[i+2+end+1:]
	}
	return b.String(), missing
}
