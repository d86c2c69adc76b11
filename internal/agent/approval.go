package agent

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
)

// DefaultApprovalTimeout is how long a tool call waits for a decision when
// the config sets no agent.approval_timeout.
const DefaultApprovalTimeout = 24 * time.Hour

// The words of an approval policy, loosest first.
const (
	PolicyAllow = "allow" // the call runs
	PolicyAsk   = "ask"   // the run waits until a person approves or denies the call
	PolicyDeny  = "deny"  // the model is told the tool is not allowed
)

// strictness orders the policy words; an unknown word is 0.
func strictness(word string) int {
	switch word {
	case PolicyAllow:
		return 1
	case PolicyAsk:
		return 2
	case PolicyDeny:
		return 3
	}
	return 0
}

// rule is one entry of a policy: a glob over tool names and its word.
type rule struct {
	pattern string
	word    string
}

// policy decides, per tool, whether a call may run. The rule whose pattern
// is the most specific match wins: a name without wildcards beats every
// glob, and among globs the one with more literal characters wins; on a
// tie the stricter word wins. Tool names match case-insensitively, because
// config keys reach opsctl lower-cased.
type policy []rule

// parsePolicy checks a policy as written (in the config or a task's input)
// and returns it. where names it in errors.
func parsePolicy(m map[string]string, where string) (policy, error) {
	p := make(policy, 0, len(m))
	for pattern, word := range m {
		if strings.TrimSpace(pattern) == "" {
			return nil, fmt.Errorf("%s: a tool pattern must not be empty", where)
		}
		if _, err := path.Match(pattern, ""); err != nil {
			return nil, fmt.Errorf("%s: bad tool pattern %q: %v", where, pattern, err)
		}
		if strictness(word) == 0 {
			return nil, fmt.Errorf("%s: %q must be allow, ask or deny, got %q", where, pattern, word)
		}
		p = append(p, rule{pattern: strings.ToLower(pattern), word: word})
	}
	// Map order is random; sorting keeps decisions and messages stable.
	sort.Slice(p, func(i, j int) bool { return p[i].pattern < p[j].pattern })
	return p, nil
}

// specificity ranks a pattern: exact names above every glob, then by the
// number of literal characters.
func specificity(pattern string) int {
	if !strings.ContainsAny(pattern, `*?[\`) {
		return 1 << 20
	}
	n := 0
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '*', '?':
		case '[':
			if j := strings.IndexByte(pattern[i:], ']'); j > 0 {
				i += j
			}
		case '\\':
			i++
			n++
		default:
			n++
		}
	}
	return n
}

// decide returns the word of the most specific rule matching tool, and
// whether one matched.
func (p policy) decide(tool string) (string, bool) {
	tool = strings.ToLower(tool)
	best, bestSpec := "", -1
	for _, r := range p {
		if ok, _ := path.Match(r.pattern, tool); !ok {
			continue
		}
		spec := specificity(r.pattern)
		if spec > bestSpec || (spec == bestSpec && strictness(r.word) > strictness(best)) {
			best, bestSpec = r.word, spec
		}
	}
	return best, bestSpec >= 0
}

// approvalPolicy is a run's effective policy: the config's, tightened by
// the task's.
type approvalPolicy struct {
	config, task policy
}

// decide returns what happens to a call of tool: the stricter of the
// config's and the task's words, allow when neither has a rule for it.
func (a approvalPolicy) decide(tool string) string {
	word := PolicyAllow
	for _, p := range []policy{a.config, a.task} {
		if w, ok := p.decide(tool); ok && strictness(w) > strictness(word) {
			word = w
		}
	}
	return word
}

// CheckApproval checks the config's approval policy and timeout.
func (c Config) CheckApproval() error {
	_, err := parsePolicy(c.Approval, "agent.approval")
	return err
}

// checkTightens refuses a task policy that would loosen the config's. A
// task rule loosens it when its word is looser than what the config says
// for the rule's own pattern taken as a tool name, or than a config rule
// whose pattern the task's pattern covers (task "*": allow against config
// run_command: ask). At run time the stricter word wins anyway; the check
// makes the attempt an error at submit instead of a silent no-op.
func checkTightens(cfg, task policy) error {
	for _, t := range task {
		if w, ok := cfg.decide(t.pattern); ok && strictness(w) > strictness(t.word) {
			return fmt.Errorf(`"approval": %q: %s would loosen the config's %s`, t.pattern, t.word, w)
		}
		for _, c := range cfg {
			if ok, _ := path.Match(t.pattern, c.pattern); ok && strictness(c.word) > strictness(t.word) {
				return fmt.Errorf(`"approval": %q: %s would loosen the config's %q: %s`, t.pattern, t.word, c.pattern, c.word)
			}
		}
	}
	return nil
}

// resolvePolicy builds a run's policy from the config and the task input;
// both were checked already, but a stored input is not trusted.
func resolvePolicy(c Config, in Input) (approvalPolicy, error) {
	cfg, err := parsePolicy(c.Approval, "agent.approval")
	if err != nil {
		return approvalPolicy{}, err
	}
	task, err := parsePolicy(in.Approval, `"approval"`)
	if err != nil {
		return approvalPolicy{}, err
	}
	if err := checkTightens(cfg, task); err != nil {
		return approvalPolicy{}, err
	}
	return approvalPolicy{config: cfg, task: task}, nil
}

// approvalTimeout is the config's timeout or the default.
func (c Config) approvalTimeout() time.Duration {
	if c.ApprovalTimeout > 0 {
		return c.ApprovalTimeout
	}
	return DefaultApprovalTimeout
}

// errNoDecision is returned when a run resumes a call whose decision the
// store does not have.
var errNoDecision = errors.New("the run waits for an approval that was never decided")
