package taskio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// testValidator knows the types exec and agent, and refuses an input that
// holds "refuse" anywhere.
type testValidator struct{}

func (testValidator) Validate(typ string, input json.RawMessage) error {
	if typ != "exec" && typ != "agent" {
		return fmt.Errorf("unknown task type %q", typ)
	}
	if bytes.Contains(input, []byte("refuse")) {
		return fmt.Errorf("%s input: refused", typ)
	}
	return nil
}

// lineCases are lines the usual way and every oddity the fast paths must
// leave to encoding/json.
var lineCases = []string{
	`{"type":"exec","input":{"command":["echo","1"]},"name":"job-1","queue":"q"}`,
	`{"type":"exec","input":{"command":["sh","-c","echo 7"]},"name":"keyed-7","queue":"q","key":"k-7","priority":5}`,
	`{"type":"agent","input":{"prompt":"Summarise it","model":"m"},"name":"a","queue":"agents","max_attempts":3}`,
	`{"type":"exec","input":{"command":["echo"]},"after":"#1"}`,
	`{"type":"exec","input":{"command":["echo"]},"after":["#1",7]}`,
	`{"type":"exec","input":{"command":["echo"]},"after":null}`,
	`{"type":"exec","input":{"command":["echo"]},"after":"x"}`,
	`{"type":"exec","input":{"command":["echo"]},"after":{}}`,
	`  {"type":"exec","input":{"command":["echo"]}}  `,
	`{ "type" : "exec" , "input" : { "command" : [ "echo" , "a b" ] , "env" : { "A" : "1" } } , "name" : "spaced" }`,
	"{\"type\":\"exec\",\t\"input\":{\"command\":[\"echo\"]}\n}",
	`{"type":"exec","input":{}}`,
	`{"type":"exec","input":{ }}`,
	`{"type":"exec","input":{"command":["echo"],"dir":"sub"}}`,
	`{"type":"exec","input":{"command":["echo"],"dir":"/abs"}}`,
	`{"type":"exec","input":{"command":["echo"],"dir":""}}`,
	`{"type":"exec","input":{"command":["echo"],"dir":5}}`,
	`{"type":"exec","input":{"command":["echo"],"d\u0069r":"sub"}}`,
	`{"type":"exec","input":{"command":["echo"],"k\u00e9y":1}}`,
	`{"type":"exec","input":{"command":["echo"],"ké":1}}`,
	`{"type":"exec","input":{"command":["a<b>&c"],"x":1.50,"y":1e3,"z":-0,"n":null,"t":true}}`,
	`{"type":"exec","input":{"command":["echo"],"command":["twice"]}}`,
	`{"type":"exec","input":{"shell":"refuse"}}`,
	`{"type":"exec","input":null}`,
	`{"type":"exec","input":[]}`,
	`{"type":"exec","input":"x"}`,
	`{"type":"exec"}`,
	`{"type":"","input":{}}`,
	`{"type":null,"input":{}}`,
	`{"type":5,"input":{}}`,
	`{"type":"nope","input":{}}`,
	`{"Type":"exec","input":{}}`,
	`{"TYPE":"exec","INPUT":{}}`,
	`{"t\u0079pe":"exec","input":{}}`,
	`{"type":"exec","type":"agent","input":{}}`,
	`{"type":"exec","input":{},"input":{"command":["x"]}}`,
	`{"type":"exec","input":{},"extra":1}`,
	`{"type":"exec","input":{},"name":"tab\there"}`,
	`{"type":"exec","input":{},"name":"\u202ecleanup"}`,
	`{"type":"exec","input":{},"name":"caf\u00e9"}`,
	`{"type":"exec","input":{},"name":"café"}`,
	"{\"type\":\"exec\",\"input\":{},\"name\":\"bad \xff utf8\"}",
	`{"type":"exec","input":{},"name":null}`,
	`{"type":"exec","input":{},"queue":["q"]}`,
	`{"type":"exec","input":{},"priority":1.5}`,
	`{"type":"exec","input":{},"priority":1e2}`,
	`{"type":"exec","input":{},"priority":-3}`,
	`{"type":"exec","input":{},"priority":99999999999999999999}`,
	`{"type":"exec","input":{},"priority":"5"}`,
	`{"type":"exec","input":{},"priority":null}`,
	`{"type":"exec","input":{},"max_attempts":0}`,
	`{"type":"exec","input":{},"max_attempts":-1}`,
	`{"type":"exec","input":{},"max_attempts":2}`,
	`{"type":"exec","input":{},"max_attempts":null}`,
	`{"type":"exec","input":{},"max_attempts":2.0}`,
	`{"type":"exec","input":{},"timeout":"1s"}`,
	`{"type":"exec","input":{},"timeout":"soon"}`,
	`{"type":"exec","input":{},"timeout":"0.1ms"}`,
	`{"type":"exec","input":{},"run_after":"2030-01-02T03:04:05Z"}`,
	`{"type":"exec","input":{},"run_after":"tomorrow"}`,
	`{"type":"exec","input":{},"key":"k\u0000"}`,
	`{"type":"exec","input":{},"key":"k\"q"}`,
	`{"type":"exec","input":{}`,
	`{"type":"exec","input":{}}{}`,
	`{"type":"exec","input":{}} x`,
	`{"type":"exec",}`,
	`[{"type":"exec"}]`,
	`"exec"`,
	`null`,
	``,
	`   `,
	`{}`,
	`{"type":"exec","input":{"a":{"b":[1,{"c":"}"}]},"s":"\"},]"}}`,
	`{"input":{"command":["x"]},"type":"exec","name":"n","queue":"q","key":"k","priority":1,"max_attempts":1,"timeout":"1m","run_after":"2030-01-02","after":[1]}`,
}

// TestParseLineFastPathsMatch checks that ParseBatchLine's fast paths give
// what the general path gives, task and error alike, for usual lines and
// odd ones.
func TestParseLineFastPathsMatch(t *testing.T) {
	t.Parallel()
	for _, cwd := range []string{"", "/work/dir with space", `/odd/"quoted"<dir>`} {
		for _, line := range lineCases {
			compareParse(t, []byte(line), cwd)
		}
	}
}

// TestParseLineFastPath checks what the fast path makes of usual lines:
// the input compacted and given the working directory.
func TestParseLineFastPath(t *testing.T) {
	t.Parallel()
	tk, refs, err := ParseBatchLine([]byte(`{"type":"exec","input":{"command":["echo", "a&b"]},"name":"n","queue":"q","key":"k","priority":-2,"max_attempts":4,"after":["#3",9]}`), testValidator{}, "/w")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(tk.Input), `{"command":["echo","a&b"],"dir":"/w"}`; got != want {
		t.Errorf("input %s, want %s", got, want)
	}
	if tk.Type != "exec" || tk.Name != "n" || tk.Queue != "q" || tk.Key != "k" || tk.Priority != -2 || tk.MaxAttempts != 4 {
		t.Errorf("task %+v", tk)
	}
	if !reflect.DeepEqual(refs, []int{3}) || !reflect.DeepEqual(tk.After, []int64{9}) {
		t.Errorf("refs %v, after %v", refs, tk.After)
	}
	tk, _, err = ParseBatchLine([]byte(`{"type":"exec","input":{}}`), testValidator{}, "/w")
	if err != nil || string(tk.Input) != `{"dir":"/w"}` {
		t.Errorf("empty input: %s, %v", tk.Input, err)
	}
}

// FuzzParseLineFastPaths compares the fast paths with the general path on
// any line.
func FuzzParseLineFastPaths(f *testing.F) {
	for _, line := range lineCases {
		f.Add([]byte(line), "/w")
	}
	f.Fuzz(func(t *testing.T, line []byte, cwd string) {
		compareParse(t, line, cwd)
	})
}

func compareParse(t *testing.T, line []byte, cwd string) {
	t.Helper()
	var fb, sb Line
	fast, ferr := parseLine(line, testValidator{}, cwd, &fb, true)
	slow, serr := parseLine(line, testValidator{}, cwd, &sb, false)
	if fmt.Sprint(ferr) != fmt.Sprint(serr) {
		t.Fatalf("line %q, cwd %q: fast path says %v, general path %v", line, cwd, ferr, serr)
	}
	if ferr != nil {
		return
	}
	if !reflect.DeepEqual(fb, sb) {
		t.Fatalf("line %q: fast path read %+v, general path %+v", line, fb, sb)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("line %q, cwd %q: fast path made %+v (input %s), general path %+v (input %s)", line, cwd, fast, fast.Input, slow, slow.Input)
	}
	fo, ferr := parseObject("input", line, true)
	so, serr := parseObject("input", line, false)
	if fmt.Sprint(ferr) != fmt.Sprint(serr) || !bytes.Equal(fo, so) {
		t.Fatalf("object %q: fast path %s, %v; general path %s, %v", line, fo, ferr, so, serr)
	}
}
