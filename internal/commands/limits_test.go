package commands_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The limits of submit (README "Limits"), at their edges: the largest
// accepted value is stored, one byte more is refused with exit 2, one line
// on stderr, nothing on stdout and nothing written.

const (
	mib = 1 << 20
	kib = 1 << 10
)

// sql runs statements on the test's database with opsctl-testsql.
func (p *procEnv) sql(stmts ...string) string {
	p.t.Helper()
	cmd := exec.Command("opsctl-testsql", append([]string{filepath.Join(p.dir, "opsctl.db")}, stmts...)...)
	cmd.Env = p.env
	out, err := cmd.CombinedOutput()
	require.NoError(p.t, err, string(out))
	return string(out)
}

// taskCount is the number of tasks and the highest id, from the file itself.
func (p *procEnv) taskCount() string {
	p.t.Helper()
	return strings.TrimSpace(p.sql("SELECT count(*), coalesce(max(id), 0) FROM tasks"))
}

// refused requires exit 2 with exactly the line want on stderr and nothing
// on stdout.
func refused(t *testing.T, want, out, errOut string, code int) {
	t.Helper()
	require.Equal(t, 2, code, "stdout: %s\nstderr: %s", out, errOut)
	require.Empty(t, out)
	require.Equal(t, "opsctl: "+want+"\n", errOut)
}

func (p *procEnv) writeFile(name string, b []byte) string {
	p.t.Helper()
	path := filepath.Join(p.dir, name)
	require.NoError(p.t, os.WriteFile(path, b, 0o644))
	return path
}

// inputOfSize is an exec input JSON object of exactly n bytes.
func inputOfSize(t *testing.T, n int) []byte {
	t.Helper()
	head, tail := `{"shell":"true","env":{"PAD":"`, `"}}`
	pad := n - len(head) - len(tail)
	require.Positive(t, pad)
	return []byte(head + strings.Repeat("x", pad) + tail)
}

func TestInputSizeLimit(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	p.ok("migrate") // creates the database
	// The largest input is accepted. It is padded with spaces, which count
	// as given (the input is stored compacted), inside the object so that a
	// batch line's "input" holds them too.
	big := []byte(`{"shell":"true"` + strings.Repeat(" ", mib-len(`{"shell":"true"}`)) + `}`)
	require.Len(t, big, mib)
	p.ok("submit", "-q", "--type", "exec", "--input", "@"+p.writeFile("max.json", big))
	_, _, code := p.runStdin(big, "submit", "-q", "--type", "exec", "--input", "-")
	require.Equal(t, 0, code)
	require.Equal(t, "2\t2", p.taskCount())

	over := append([]byte(`{"shell":"true" `), big[len(`{"shell":"true"`):]...)
	require.Len(t, over, mib+1)
	path := p.writeFile("over.json", over)
	out, errOut, code := p.run("submit", "--type", "exec", "--input", "@"+path)
	refused(t, "--input is 1048577 bytes; the limit is 1 MiB (1048576 bytes)", out, errOut, code)
	out, errOut, code = p.runStdin(over, "submit", "--type", "exec", "--input", "-")
	refused(t, "--input is 1048577 bytes; the limit is 1 MiB (1048576 bytes)", out, errOut, code)

	huge := inputOfSize(t, 1300*kib)
	out, errOut, code = p.runStdin(huge, "submit", "--type", "exec", "--input", "-")
	refused(t, "--input is 1.3 MiB; the limit is 1 MiB", out, errOut, code)
	out, errOut, code = p.run("submit", "--type", "exec", "--input", "@"+p.writeFile("huge.json", huge))
	refused(t, "--input is 1.3 MiB; the limit is 1 MiB", out, errOut, code)

	// A batch line's "input" has the same limit.
	line := func(input []byte) []byte {
		return append(append([]byte(`{"type":"exec","input":`), input...), '}', '\n')
	}
	batch := append(line([]byte(`{"shell":"true"}`)), line(over)...)
	out, errOut, code = p.run("submit", "--batch", p.writeFile("over.jsonl", batch))
	refused(t, `batch line 2: "input" is 1048577 bytes; the limit is 1 MiB (1048576 bytes)`, out, errOut, code)
	out, errOut, code = p.runStdin(batch, "submit", "--batch", "-")
	refused(t, `batch line 2: "input" is 1048577 bytes; the limit is 1 MiB (1048576 bytes)`, out, errOut, code)
	require.Equal(t, "2\t2", p.taskCount())

	batch = append(line([]byte(`{"shell":"true"}`)), line(big)...)
	require.Equal(t, "3\n4\n", p.ok("submit", "-q", "--batch", p.writeFile("max.jsonl", batch)))
	require.Equal(t, "4\t4", p.taskCount())

	// Bad input never creates a database.
	never := filepath.Join(p.dir, "never.db")
	out, errOut, code = p.runStdin(over, "--db", never, "submit", "--type", "exec", "--input", "-")
	refused(t, "--input is 1048577 bytes; the limit is 1 MiB (1048576 bytes)", out, errOut, code)
	require.NoFileExists(t, never)
}

func TestBatchLineLimits(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	p.ok("migrate") // creates the database
	// The longest line: a 1 MiB input and 64 KiB of the other fields.
	input := []byte(`{"shell":"true"` + strings.Repeat(" ", mib-len(`{"shell":"true"}`)) + `}`)
	// The other fields are short (a name is at most 256 bytes): JSON
	// whitespace fills the rest of the line.
	pad := strings.Repeat(" ", 64*kib-len(`{"type":"exec","input":,"name":"n"}`))
	longest := `{"type":"exec","input":` + string(input) + `,"name":"n"` + pad + `}`
	require.Len(t, longest, mib+64*kib)
	require.Equal(t, "1\n", p.ok("submit", "-q", "--batch", p.writeFile("max.jsonl", []byte("\n"+longest+"\n"))))
	require.Equal(t, "1\t1", p.taskCount())

	// One byte more, even a space, is refused; the line is counted as
	// read, without its newline (and the file may end without one).
	for _, tail := range []string{" \n{}\n", " "} {
		batch := []byte(`{"type":"exec","input":{"shell":"true"}}` + "\n" + longest + tail)
		out, errOut, code := p.run("submit", "--batch", p.writeFile("over.jsonl", batch))
		refused(t, "batch line 2 is 1114113 bytes; the limit is 1 MiB + 64 KiB (1114112 bytes)", out, errOut, code)
	}
	huge := `{"type":"exec","input":{"shell":"true"},"name":"` + strings.Repeat("n", 3*mib) + `"}`
	out, errOut, code := p.runStdin([]byte(huge), "submit", "--batch", "-")
	refused(t, "batch line 1 is 3.0 MiB; the limit is 1 MiB + 64 KiB", out, errOut, code)

	// A prompt longer than the input limit, in a batch line's agent input.
	prompt := `{"type":"agent","input":{"prompt":"` + strings.Repeat("p", mib) + `"}}`
	out, errOut, code = p.run("submit", "--batch", p.writeFile("prompt.jsonl", []byte(prompt)))
	refused(t, `batch line 1: "input" is 1048589 bytes; the limit is 1 MiB (1048576 bytes)`, out, errOut, code)
	require.Equal(t, "1\t1", p.taskCount())
}

func TestKeyLimits(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	key := strings.Repeat("k", 256)
	require.Equal(t, "1\n", p.ok("submit", "-q", "--key", key, "--", "true"))
	require.Equal(t, "1\n", p.ok("submit", "-q", "--key", key, "--", "true"))

	out, errOut, code := p.run("submit", "--key", key+"k", "--", "true")
	refused(t, "--key is 257 bytes; the limit is 256 bytes", out, errOut, code)
	out, errOut, code = p.run("submit", "--key", strings.Repeat("é", 129), "--", "true")
	refused(t, "--key is 258 bytes; the limit is 256 bytes", out, errOut, code)
	out, errOut, code = p.run("submit", "--key", "a\tb", "--", "true")
	refused(t, "--key contains a control character (U+0009)", out, errOut, code)
	out, errOut, code = p.run("submit", "--key", "nightly\n", "--", "true")
	refused(t, "--key contains a control character (U+000A)", out, errOut, code)
	out, errOut, code = p.run("submit", "--key", "a\x7fb", "--", "true")
	refused(t, "--key contains a control character (U+007F)", out, errOut, code)
	out, errOut, code = p.run("submit", "--key", "a\u0085b", "--", "true")
	refused(t, "--key contains a control character (U+0085)", out, errOut, code)
	out, errOut, code = p.run("submit", "--key", "a\xffb", "--", "true")
	refused(t, "--key is not valid UTF-8", out, errOut, code)

	batch := `{"type":"exec","input":{"shell":"true"},"key":"ok"}` + "\n" +
		`{"type":"exec","input":{"shell":"true"},"key":"` + key + `k"}` + "\n"
	out, errOut, code = p.run("submit", "--batch", p.writeFile("long.jsonl", []byte(batch)))
	refused(t, `batch line 2: "key" is 257 bytes; the limit is 256 bytes`, out, errOut, code)
	batch = `{"type":"exec","input":{"shell":"true"},"key":"a\u001b[31mb"}` + "\n"
	out, errOut, code = p.run("submit", "--batch", p.writeFile("ctl.jsonl", []byte(batch)))
	refused(t, `batch line 1: "key" contains a control character (U+001B)`, out, errOut, code)
	require.Equal(t, "1\t1", p.taskCount())
}

func TestExecArgumentLimits(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	p.ok("migrate") // creates the database
	// MAX_ARG_STRLEN is 131072 with the terminating NUL.
	arg := strings.Repeat("a", 131071)
	input := fmt.Sprintf(`{"command":["printf","%%s",%q]}`, arg)
	p.ok("submit", "-q", "--type", "exec", "--input", "@"+p.writeFile("max.json", []byte(input)))
	input = fmt.Sprintf(`{"command":["printf","%%s",%q]}`, arg+"a")
	out, errOut, code := p.run("submit", "--type", "exec", "--input", "@"+p.writeFile("over.json", []byte(input)))
	refused(t, `exec input: "command" item 3 is 131072 bytes; one argument can be at most 131071 bytes (the kernel's MAX_ARG_STRLEN)`, out, errOut, code)

	input = fmt.Sprintf(`{"shell":%q}`, arg+"a")
	out, errOut, code = p.run("submit", "--type", "exec", "--input", "@"+p.writeFile("shell.json", []byte(input)))
	refused(t, `exec input: "shell" is 131072 bytes; one argument can be at most 131071 bytes (the kernel's MAX_ARG_STRLEN)`, out, errOut, code)

	input = fmt.Sprintf(`{"shell":"true","env":{"A":%q}}`, arg[2:]+"a")
	out, errOut, code = p.run("submit", "--type", "exec", "--input", "@"+p.writeFile("env.json", []byte(input)))
	refused(t, `exec input: "env" variable "A" is 131072 bytes as A=value; one variable can be at most 131071 bytes (the kernel's MAX_ARG_STRLEN)`, out, errOut, code)

	// Together, argv and env are at most 256 KiB, each string counted
	// with its NUL: three arguments of 87,381 bytes and "printf" are
	// 7 + 3*87382 = 262153 bytes.
	third := strings.Repeat("b", 87381)
	input = fmt.Sprintf(`{"command":["printf",%q,%q,%q]}`, third, third, third)
	out, errOut, code = p.run("submit", "--type", "exec", "--input", "@"+p.writeFile("total.json", []byte(input)))
	refused(t, `exec input: "command" and "env" come to 262153 bytes; together they can be at most 256 KiB (262144 bytes)`, out, errOut, code)
	// Nine bytes fewer fit exactly.
	third = third[:87381-3]
	input = fmt.Sprintf(`{"command":["printf",%q,%q,%q]}`, third, third, third)
	p.ok("submit", "-q", "--type", "exec", "--input", "@"+p.writeFile("total-ok.json", []byte(input)))

	require.Equal(t, "2\t2", p.taskCount())
}

// batchLines is n exec lines; key[i] (1-based line) sets that line's key.
func batchLines(n int, keys map[int]string) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		if k, ok := keys[i]; ok {
			fmt.Fprintf(&b, `{"type":"exec","input":{"command":["echo","%d"]},"key":%q}`+"\n", i, k)
			continue
		}
		fmt.Fprintf(&b, `{"type":"exec","input":{"command":["echo","%d"]}}`+"\n", i)
	}
	return b.Bytes()
}

// TestLargeBatchInChunks: a batch of more than 10,000 tasks is stored in
// transactions of 10,000, in order, with the same ids and output as one
// transaction; a key repeated in a later chunk finds the earlier task.
func TestLargeBatchInChunks(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	path := p.writeFile("big.jsonl", batchLines(25000, map[int]string{1: "repeat", 20001: "repeat"}))
	out, errOut, code := p.run("submit", "--batch", path)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "submitted 24999 tasks (1 keys matched earlier tasks)\n", errOut)
	var want strings.Builder
	for i := 1; i <= 25000; i++ {
		id := i
		switch {
		case i == 20001:
			id = 1
		case i > 20001:
			id = i - 1
		}
		want.WriteString(strconv.Itoa(id) + "\n")
	}
	require.Equal(t, want.String(), out)
	require.Equal(t, "24999\t24999", p.taskCount())
	// Each task holds its own line's input, in order, with the directory
	// submit was run from added.
	dir, err := filepath.EvalSymlinks(p.dir)
	require.NoError(t, err)
	jdir, err := json.Marshal(dir)
	require.NoError(t, err)
	require.Equal(t, "0\n", p.sql(`SELECT count(*) FROM tasks WHERE input != '{"command":["echo","' || (CASE WHEN id < 20001 THEN id ELSE id + 1 END) || '"],"dir":`+strings.ReplaceAll(string(jdir), "'", "''")+`}'`))
}

// TestLargeBatchStoreErrorSaysWhatWasStored: a store error in a later
// chunk leaves the earlier chunks stored, prints their ids, and says which
// lines were stored so that the user can resume; a batch of at most
// 10,000 tasks stays all or nothing.
func TestLargeBatchStoreErrorSaysWhatWasStored(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	p.ok("migrate") // creates the database
	// A trigger makes the store refuse the task of one line (by its
	// command: the input also holds the directory submit was run from).
	p.sql(`CREATE TRIGGER boom BEFORE INSERT ON tasks WHEN json_extract(NEW.input, '$.command') = '["echo","boom"]' BEGIN SELECT RAISE(ABORT, 'boom'); END`)
	withBoom := func(n, at int) []byte {
		lines := bytes.SplitAfter(batchLines(n, nil), []byte("\n"))
		lines[at-1] = []byte(`{"type":"exec","input":{"command":["echo","boom"]}}` + "\n")
		return bytes.Join(lines, nil)
	}

	// 10,000 tasks: one transaction, nothing stored.
	out, errOut, code := p.run("submit", "--batch", p.writeFile("10k.jsonl", withBoom(10000, 10000)))
	require.Equal(t, 1, code)
	require.Empty(t, out)
	require.Regexp(t, `\Aopsctl: batch line 10000: [^\n]*boom[^\n]*; nothing was submitted\n\z`, errOut)
	require.Equal(t, "0\t0", p.taskCount())

	// 25,000 tasks, line 20,005 refused: the first two chunks are stored.
	out, errOut, code = p.run("submit", "--batch", p.writeFile("25k.jsonl", withBoom(25000, 20005)))
	require.Equal(t, 1, code)
	require.Regexp(t, `\Aopsctl: batch line 20005: [^\n]*boom[^\n]*; lines 1-20000 are stored \(20000 new tasks, ids 1-20000\), nothing from line 20001 on\n\z`, errOut)
	var want strings.Builder
	for i := 1; i <= 20000; i++ {
		want.WriteString(strconv.Itoa(i) + "\n")
	}
	require.Equal(t, want.String(), out)
	require.Equal(t, "20000\t20000", p.taskCount())
}
