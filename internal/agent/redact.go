package agent

import (
	"encoding/json"
	"sort"
	"strings"
)

// redactedMark replaces every secret value.
const redactedMark = "[redacted]"

// redactor replaces secret values (the API key, and the values of the
// variables named in Config.RedactEnv) in text that leaves the run: events,
// results, errors, and tool output before the model reads it.
type redactor struct {
	replacer *strings.Replacer // nil when there is nothing to redact
}

// newRedactor builds a redactor for the given secret values. Empty values
// are ignored. Each value is also matched in its JSON-escaped form, so that
// a secret containing quotes or backslashes is caught inside encoded JSON.
func newRedactor(secrets ...string) redactor {
	seen := map[string]bool{}
	var olds []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			olds = append(olds, s)
		}
	}
	for _, s := range secrets {
		add(s)
		enc, _ := json.Marshal(s)
		add(strings.Trim(string(enc), `"`))
	}
	if len(olds) == 0 {
		return redactor{}
	}
	// strings.Replacer prefers earlier pairs at the same position, so longer
	// secrets go first: a secret that contains another is replaced whole.
	sort.SliceStable(olds, func(i, j int) bool { return len(olds[i]) > len(olds[j]) })
	pairs := make([]string, 0, 2*len(olds))
	for _, o := range olds {
		pairs = append(pairs, o, redactedMark)
	}
	return redactor{replacer: strings.NewReplacer(pairs...)}
}

// String redacts s.
func (r redactor) String(s string) string {
	if r.replacer == nil {
		return s
	}
	return r.replacer.Replace(s)
}

// JSON redacts encoded JSON. If replacing a secret broke the encoding (a
// secret that spans JSON syntax), the redacted text is returned as a JSON
// string instead, so the output stays valid JSON and still leaks nothing.
func (r redactor) JSON(b []byte) json.RawMessage {
	if r.replacer == nil {
		return b
	}
	out := r.replacer.Replace(string(b))
	if out == string(b) {
		return b
	}
	if !json.Valid([]byte(out)) {
		enc, _ := json.Marshal(out)
		return enc
	}
	return json.RawMessage(out)
}
