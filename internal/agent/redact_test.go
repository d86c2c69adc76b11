package agent

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRedactor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"nothing to redact", nil, "plain", "plain"},
		{"empty secrets are ignored", []string{"", ""}, "plain", "plain"},
		{"every occurrence", []string{"sk-1"}, "sk-1 and sk-1", "[redacted] and [redacted]"},
		{"the longer secret wins", []string{"abc", "abcdef"}, "x abcdef y abc", "x [redacted] y [redacted]"},
		{"JSON-escaped form", []string{`a"b`}, `{"v":"a\"b"}`, `{"v":"[redacted]"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, newRedactor(tt.secrets...).String(tt.in))
		})
	}

	t.Run("JSON stays valid when a secret spans syntax", func(t *testing.T) {
		t.Parallel()
		out := newRedactor(`":"`).JSON(json.RawMessage(`{"a":"b"}`))
		require.True(t, json.Valid(out))
		require.NotContains(t, string(out), `":"`)
	})
}

func TestCanonicalArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b  string
		equal bool
	}{
		{`{"a":1,"b":2}`, `{ "b": 2, "a": 1 }`, true},
		{`{"n":1.0}`, `{"n":1}`, false}, // numbers are kept as written
		{``, `{}`, true},
		{`{"a":1}`, `{"a":2}`, false},
		{`not json`, `not json`, true},
	}
	for _, tt := range tests {
		require.Equal(t, tt.equal, canonicalArguments(json.RawMessage(tt.a)) == canonicalArguments(json.RawMessage(tt.b)), "%s vs %s", tt.a, tt.b)
	}
}

func TestTruncateUTF8(t *testing.T) {
	t.Parallel()
	s, cut := truncateUTF8("héllo", 2) // "é" is two bytes starting at 1
	require.True(t, cut)
	require.Equal(t, "h", s)
	s, cut = truncateUTF8("hello", 10)
	require.False(t, cut)
	require.Equal(t, "hello", s)
}
