package commands_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// writeConfig writes the user's config file of p.
func (p *procEnv) writeConfig(body string) {
	p.t.Helper()
	dir := filepath.Join(p.dir, "config", "opsctl")
	require.NoError(p.t, os.MkdirAll(dir, 0o700))
	require.NoError(p.t, os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(body), 0o600))
}

// lines reads a file's lines (none when it does not exist).
func (p *procEnv) lines(name string) []string {
	b, err := os.ReadFile(filepath.Join(p.dir, name))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// notifyEvents are a task's notified and notify_failed events' data.
func (p *procEnv) notifyEvents(id int64) []string {
	p.t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(p.ok("logs", "-o", "jsonl", strconv.FormatInt(id, 10))))
	for sc.Scan() {
		var e struct {
			Kind string          `json:"kind"`
			Data json.RawMessage `json:"data"`
		}
		require.NoError(p.t, json.Unmarshal(sc.Bytes(), &e))
		if strings.HasPrefix(e.Kind, "notif") {
			out = append(out, e.Kind+" "+string(e.Data))
		}
	}
	return out
}

func testNotifyOnceAcrossRunners(t *testing.T, p *procEnv) {
	p.writeConfig(`notify:
  - id: log
    on: [failed]
    command: ["sh", "-c", "echo $OPSCTL_TASK_ID >> notified"]
`)
	var ids []int64
	for range 12 {
		ids = append(ids, p.submit("--", "false"))
	}
	p.startRunner("--workers", "4")
	p.startRunner("--workers", "4")
	eventually(t, 60*time.Second, "every failed task notified", func() bool { return len(p.lines("notified")) >= len(ids) })
	time.Sleep(2 * time.Second) // a second delivery would come within a poll
	got := p.lines("notified")
	slices.Sort(got)
	var want []string
	for _, id := range ids {
		want = append(want, strconv.FormatInt(id, 10))
		require.Equal(t, []string{`notified {"rule":"log","status":"failed","attempts":1,"detail":"command sh: exit 0"}`}, p.notifyEvents(id))
	}
	slices.Sort(want)
	require.Equal(t, want, got, "each task notified exactly once")
}

func TestNotifyExactlyOnceAcrossRunnerProcesses(t *testing.T) {
	t.Parallel()
	testNotifyOnceAcrossRunners(t, newProcEnv(t))
}

func TestPostgresNotifyExactlyOnceAcrossRunnerProcesses(t *testing.T) {
	t.Parallel()
	testNotifyOnceAcrossRunners(t, newPGProcEnv(t))
}

// A runner killed while its hook runs leaves the notification to another
// runner, which takes it when the lease (timeout + 5s) ends.
func TestNotifyKilledDeliveryIsRetried(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	p.writeConfig(`notify:
  - id: slow
    on: [failed]
    timeout: 2s
    command: ["sh", "-c", "if [ -e started ]; then echo $OPSCTL_TASK_ID >> notified; else echo $$ > started; exec sleep 30; fi"]
`)
	id := p.submit("--", "false")
	first, _ := p.startRunner("--workers", "1")
	hook := readPID(t, filepath.Join(p.dir, "started"))
	t.Cleanup(func() { syscall.Kill(hook, syscall.SIGKILL) })
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	first.Wait()
	require.Empty(t, p.notifyEvents(id))

	p.startRunner("--workers", "1")
	eventually(t, 30*time.Second, "the notification retried", func() bool { return len(p.lines("notified")) > 0 })
	require.Equal(t, []string{strconv.FormatInt(id, 10)}, p.lines("notified"))
	eventually(t, 10*time.Second, "the event", func() bool { return len(p.notifyEvents(id)) > 0 })
	require.Equal(t, []string{`notified {"rule":"slow","status":"failed","attempts":2,"detail":"command sh: exit 0"}`}, p.notifyEvents(id))
}
