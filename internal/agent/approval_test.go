package agent

import (
	"strings"
	"testing"
)

func mustPolicy(t *testing.T, m map[string]string) policy {
	t.Helper()
	p, err := parsePolicy(m, "test")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyMostSpecificWins(t *testing.T) {
	p := approvalPolicy{config: mustPolicy(t, map[string]string{
		"*":                allow,
		"files__*":         PolicyAsk,
		"files__write_*":   PolicyDeny,
		"files__write_log": PolicyAllow,
		"run_command":      PolicyAsk,
		"http_?et":         PolicyDeny,
	})}
	for tool, want := range map[string]string{
		"current_time":      PolicyAllow, // only "*"
		"files__read":       PolicyAsk,   // files__* over *
		"files__write_conf": PolicyDeny,  // more literal characters win
		"files__write_log":  PolicyAllow, // an exact name beats every glob
		"run_command":       PolicyAsk,
		"RUN_COMMAND":       PolicyAsk, // names match ignoring case
		"http_get":          PolicyDeny,
		"other__tool":       PolicyAllow,
	} {
		if got := p.decide(tool); got != want {
			t.Errorf("decide(%q) = %s, want %s", tool, got, want)
		}
	}
	// No rule at all: allow.
	if got := (approvalPolicy{}).decide("run_command"); got != PolicyAllow {
		t.Errorf("empty policy: %s", got)
	}
	// Equally specific globs: the stricter wins, whatever the map order.
	tie := approvalPolicy{config: mustPolicy(t, map[string]string{"a*": PolicyAllow, "*b": PolicyDeny})}
	if got := tie.decide("ab"); got != PolicyDeny {
		t.Errorf("tie: %s", got)
	}
}

const allow = PolicyAllow

func TestTaskPolicyOnlyTightens(t *testing.T) {
	cfg := Config{Approval: map[string]string{"run_command": PolicyAsk, "files__write_*": PolicyAsk, "http_get": PolicyDeny}}
	for _, tc := range []struct {
		task map[string]string
		err  string // "" when allowed
		tool string
		want string
	}{
		{task: map[string]string{"current_time": PolicyAsk}, tool: "current_time", want: PolicyAsk},
		{task: map[string]string{"*": PolicyDeny}, tool: "read_file", want: PolicyDeny},
		{task: map[string]string{"run_command": PolicyDeny}, tool: "run_command", want: PolicyDeny},
		{task: map[string]string{"run_command": PolicyAsk}, tool: "run_command", want: PolicyAsk},
		{task: map[string]string{"run_command": PolicyAllow}, err: `"run_command": allow would loosen the config's ask`},
		{task: map[string]string{"*": PolicyAllow}, err: `"*": allow would loosen the config's`},
		{task: map[string]string{"files__*": PolicyAllow}, err: `"files__*": allow would loosen the config's "files__write_*": ask`},
		{task: map[string]string{"http_get": PolicyAsk}, err: `"http_get": ask would loosen the config's deny`},
	} {
		p, err := resolvePolicy(cfg, Input{Approval: tc.task})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("task %v: err = %v, want %q", tc.task, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("task %v: %v", tc.task, err)
			continue
		}
		if got := p.decide(tc.tool); got != tc.want {
			t.Errorf("task %v: decide(%s) = %s, want %s", tc.task, tc.tool, got, tc.want)
		}
	}
}

func TestPolicyBadInput(t *testing.T) {
	for m, want := range map[string]map[string]string{
		`"run_command" must be allow, ask or deny, got "maybe"`: {"run_command": "maybe"},
		`bad tool pattern "files__[": syntax error in pattern`:  {"files__[": PolicyAsk},
		`a tool pattern must not be empty`:                      {" ": PolicyAsk},
	} {
		if _, err := parsePolicy(want, "x"); err == nil || !strings.Contains(err.Error(), m) {
			t.Errorf("%v: err = %v, want %q", want, err, m)
		}
	}
	// The input's own check names the field.
	if err := ValidateInput([]byte(`{"prompt":"p","approval":{"run_command":"later"}}`)); err == nil ||
		!strings.Contains(err.Error(), `"approval": "run_command" must be allow, ask or deny, got "later"`) {
		t.Errorf("input: %v", err)
	}
	if err := (Config{Approval: map[string]string{"*": "yes"}}).CheckApproval(); err == nil ||
		!strings.Contains(err.Error(), "agent.approval") {
		t.Errorf("config: %v", err)
	}
}
