package commands

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/agent"
)

// Every field of an agent input has its line in `opsctl help agent`, and
// every flag named there is a flag of submit that sets that field.
func TestAgentHelpListsEveryField(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeOf(agent.Input{})
	var fields []string
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		fields = append(fields, name)
		require.Regexp(t, `(?m)^  `+regexp.QuoteMeta(name)+` {2,}\S`, agentHelp, "help agent lacks %q", name)
	}
	byField := map[string]string{}
	for _, a := range agentFlags() {
		byField[a.field] = a.flag
	}
	byField["prompt"] = "prompt"
	submit := newSubmitCmd(&Factory{}, nil)
	for _, line := range strings.Split(agentHelp, "\n") {
		m := regexp.MustCompile(`^  ([a-z_]+) .*\[(?:-\w, )?--([a-z-]+)\]$`).FindStringSubmatch(line)
		if m == nil {
			continue
		}
		require.Contains(t, fields, m[1])
		require.Equal(t, byField[m[1]], m[2], line)
		require.NotNil(t, submit.Flags().Lookup(m[2]), line)
		delete(byField, m[1])
	}
	require.Empty(t, byField, "flags that fill a field the help does not name")
}
