package commands_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Dependencies across real runner processes: two long-running runners with
// free workers share a queue of chains (a -> b -> c) and a join (d after
// a1 and a2 of two chains). Each task appends "start NAME" and, after a
// short sleep, "end NAME" to one file (appends of a line are atomic), so
// the file's order is the order things happened in. A dependant must
// start only after every one of its dependencies ended.
func TestAfterAcrossRunnerProcesses(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			p := newProcEnv(t)
			if backend == "postgres" {
				p = newPGProcEnv(t)
			}
			testAfterAcrossRunners(t, p)
		})
	}
}

func testAfterAcrossRunners(t *testing.T, p *procEnv) {
	log := filepath.Join(p.dir, "order.log")
	step := func(name string) string {
		return fmt.Sprintf(`{"type":"exec","input":{"command":["sh","-c","echo start %[1]s >> %[2]s; sleep 0.3; echo end %[1]s >> %[2]s"]}}`, name, log)
	}
	// The batch: three chains of three, then a join over the chains' ends,
	// the join's dependencies named by line.
	var lines []string
	deps := map[string][]string{}
	for c := range 3 {
		for i, n := range []string{"a", "b", "c"} {
			name := fmt.Sprintf("%s%d", n, c)
			l := step(name)
			if i > 0 {
				l = strings.TrimSuffix(l, "}") + fmt.Sprintf(`,"after":"#%d"}`, len(lines))
				deps[name] = []string{fmt.Sprintf("%s%d", []string{"a", "b"}[i-1], c)}
			}
			lines = append(lines, l)
		}
	}
	lines = append(lines, strings.TrimSuffix(step("join"), "}")+`,"after":["#3","#6","#9"]}`)
	deps["join"] = []string{"c0", "c1", "c2"}
	require.NoError(t, os.WriteFile(filepath.Join(p.dir, "batch.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o600))

	p.startRunner("--workers", "4", "--poll", "100ms")
	p.startRunner("--workers", "4", "--poll", "100ms")
	p.ok("submit", "-q", "--batch", "batch.jsonl")
	// A dependant of a task submitted on its own, by id.
	last := p.submit("--after", "10", "--", "sh", "-c", "echo start last >> "+log)
	deps["last"] = []string{"join"}

	eventually(t, 60*time.Second, "every task completed", func() bool {
		return p.show(last).Status == "completed"
	})
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	events := strings.Split(strings.TrimSpace(string(b)), "\n")
	pos := map[string]int{}
	for i, e := range events {
		pos[e] = i
	}
	require.Len(t, pos, 3*3*2+2+1, "each task ran once:\n%s", b)
	for task, ds := range deps {
		for _, d := range ds {
			require.Less(t, pos["end "+d], pos["start "+task], "%s started before its dependency %s ended:\n%s", task, d, b)
		}
	}
}
