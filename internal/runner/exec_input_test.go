package runner_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/runner"
)

func TestParseExecInputRefusesWhatCannotStart(t *testing.T) {
	long := strings.Repeat("a", runner.MaxArgBytes)
	third := strings.Repeat("b", 87381)
	for _, tc := range []struct {
		name, input, err string
	}{
		{"nul in command", `{"command":["echo","a\u0000b"]}`, `"command" item 2 contains a NUL byte`},
		{"nul in program", `{"command":["\u0000"]}`, `"command" item 1 contains a NUL byte`},
		{"nul in shell", `{"shell":"echo \u0000"}`, `"shell" contains a NUL byte`},
		{"nul in dir", `{"shell":"true","dir":"/\u0000"}`, `"dir" contains a NUL byte`},
		{"nul in env value", `{"shell":"true","env":{"A":"\u0000"}}`, `"env" value of "A" contains a NUL byte`},
		{"nul in env name", `{"shell":"true","env":{"A\u0000":"x"}}`, `"env" name "A\x00" is not a valid variable name (want letters, digits and _, not starting with a digit)`},
		{"env name with =", `{"shell":"true","env":{"A=B":"x"}}`, `"env" name "A=B" is not a valid variable name (want letters, digits and _, not starting with a digit)`},
		{"empty env name", `{"shell":"true","env":{"":"x"}}`, `"env" name "" is not a valid variable name (want letters, digits and _, not starting with a digit)`},
		{"env name with digit first", `{"shell":"true","env":{"1X":"x"}}`, `"env" name "1X" is not a valid variable name (want letters, digits and _, not starting with a digit)`},
		{"env name not ASCII", `{"shell":"true","env":{"É":"x"}}`, `"env" name "É" is not a valid variable name (want letters, digits and _, not starting with a digit)`},
		{"supervise env", `{"shell":"true","env":{"OPSCTL_SUPERVISE":"1"}}`, `"env" name "OPSCTL_SUPERVISE" is reserved: names starting with OPSCTL_ are for opsctl's own use`},
		{"other opsctl env", `{"shell":"true","env":{"OPSCTL_":"1"}}`, `"env" name "OPSCTL_" is reserved: names starting with OPSCTL_ are for opsctl's own use`},
		{"first bad name sorted", `{"shell":"true","env":{"b-":"1","OPSCTL_X":"1","A=":"1"}}`, `"env" name "A=" is not a valid variable name (want letters, digits and _, not starting with a digit)`},
		{"long argument", fmt.Sprintf(`{"command":["echo",%q]}`, long+"a"), `"command" item 2 is 131072 bytes; one argument can be at most 131071 bytes (the kernel's MAX_ARG_STRLEN)`},
		{"long shell", fmt.Sprintf(`{"shell":%q}`, long+"a"), `"shell" is 131072 bytes; one argument can be at most 131071 bytes (the kernel's MAX_ARG_STRLEN)`},
		{"long env", fmt.Sprintf(`{"shell":"true","env":{"AB":%q}}`, long[2:]), `"env" variable "AB" is 131072 bytes as AB=value; one variable can be at most 131071 bytes (the kernel's MAX_ARG_STRLEN)`},
		{"long dir", fmt.Sprintf(`{"shell":"true","dir":%q}`, "/"+strings.Repeat("d", 4095)), `"dir" is 4096 bytes; a directory can be at most 4095 bytes (the kernel's PATH_MAX)`},
		{"argv total", fmt.Sprintf(`{"command":["printf",%q,%q,%q]}`, third, third, third), `"command" and "env" come to 262153 bytes; together they can be at most 256 KiB (262144 bytes)`},
		{"shell and env total", fmt.Sprintf(`{"shell":%q,"env":{"A":%q,"B":%q}}`, third, third, third), `"shell" and "env" come to 262161 bytes; together they can be at most 256 KiB (262144 bytes)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runner.ParseExecInput(json.RawMessage(tc.input))
			require.EqualError(t, err, tc.err)
		})
	}
}

func TestParseExecInputAcceptsTheLimits(t *testing.T) {
	long := strings.Repeat("a", runner.MaxArgBytes)
	third := strings.Repeat("b", 87378)
	for _, input := range []string{
		`{"command":["echo","x"],"env":{"_":"1","a1":"","LC_ALL":"C","opsctl_x":"lower case is not reserved"},"dir":"/tmp"}`,
		fmt.Sprintf(`{"command":["echo",%q]}`, long),
		fmt.Sprintf(`{"shell":%q}`, long),
		fmt.Sprintf(`{"shell":"true","env":{"AB":%q}}`, long[3:]),
		fmt.Sprintf(`{"shell":"true","dir":%q}`, "/"+strings.Repeat("d", 4094)),
		// 7 + 3*87379 = 262144 bytes with the NULs.
		fmt.Sprintf(`{"command":["printf",%q,%q,%q]}`, third, third, third),
	} {
		_, err := runner.ParseExecInput(json.RawMessage(input))
		require.NoError(t, err, input[:min(len(input), 80)])
	}
}
