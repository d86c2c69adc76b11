package commands_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/opsctl/opsctl/internal/llm/llmtest"
)

// fakeTurn is one scripted model reply in a fakellm turns file.
type fakeTurn struct {
	Text  string `json:"text"`
	Calls []struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"calls"`
	// Hang makes the reply never come: the request waits until the client
	// goes away.
	Hang bool `json:"hang"`
}

// fakeRequest is what fakellm records of each request it received.
type fakeRequest struct {
	Path          string          `json:"path"`
	Authorization string          `json:"authorization"`
	Body          json.RawMessage `json:"body"`
}

// fakellmMain is the scripts' "fakellm TURNS TEMPLATE INPUT REQUESTS"
// background command: a fake OpenAI server (llmtest) answering with the
// turns in the JSON file TURNS. It writes TEMPLATE to INPUT with every
// {{URL}} replaced by its base URL, so that a script can submit an agent
// task with --input @INPUT once that file exists (see waitfile). Each
// request it receives is added to REQUESTS, a JSON array rewritten as
// requests arrive. It serves until SIGINT or SIGTERM (testscript's kill
// -INT), then exits 0.
func fakellmMain() int {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: fakellm TURNS TEMPLATE INPUT REQUESTS")
		return 2
	}
	var turns []fakeTurn
	if err := readJSONFile(os.Args[1], &turns); err != nil {
		fmt.Fprintf(os.Stderr, "fakellm: %v\n", err)
		return 2
	}
	tmpl, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakellm: %v\n", err)
		return 2
	}
	srv := llmtest.Start(llmtest.OpenAI)
	defer srv.Close()
	for _, t := range turns {
		if t.Hang {
			srv.Hang()
			continue
		}
		turn := llmtest.Text(t.Text)
		for _, c := range t.Calls {
			turn.Calls = append(turn.Calls, llmtest.Call(c.ID, c.Name, c.Arguments))
		}
		srv.Reply(turn)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	input := strings.ReplaceAll(string(tmpl), "{{URL}}", srv.URL())
	if err := writeFileAtomic(os.Args[3], []byte(input)); err != nil {
		fmt.Fprintf(os.Stderr, "fakellm: %v\n", err)
		return 1
	}
	recorded := -1
	record := func() error {
		reqs := srv.Requests()
		if len(reqs) == recorded {
			return nil
		}
		out := make([]fakeRequest, 0, len(reqs))
		for _, r := range reqs {
			body := json.RawMessage(r.Raw)
			if !json.Valid(body) {
				body, _ = json.Marshal(string(r.Raw))
			}
			out = append(out, fakeRequest{Path: r.Path, Authorization: r.Header.Get("Authorization"), Body: body})
		}
		b, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		recorded = len(reqs)
		return writeFileAtomic(os.Args[4], b)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-sig:
			if err := record(); err != nil {
				fmt.Fprintf(os.Stderr, "fakellm: %v\n", err)
				return 1
			}
			fmt.Printf("fakellm: %d requests, %d turns unused\n", len(srv.Requests()), srv.Pending())
			return 0
		case <-tick.C:
			if err := record(); err != nil {
				fmt.Fprintf(os.Stderr, "fakellm: %v\n", err)
				return 1
			}
		}
	}
}

// waitfileMain is the scripts' "waitfile FILE [REGEXP]" command: it waits,
// at most 30 seconds, until FILE exists and, with REGEXP, until its content
// matches it, so that a script can wait for a background command to get
// somewhere.
func waitfileMain() int {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		fmt.Fprintln(os.Stderr, "usage: waitfile FILE [REGEXP]")
		return 2
	}
	var re *regexp.Regexp
	if len(os.Args) == 3 {
		var err error
		if re, err = regexp.Compile(os.Args[2]); err != nil {
			fmt.Fprintf(os.Stderr, "waitfile: %v\n", err)
			return 2
		}
	}
	const limit = 30 * time.Second
	deadline := time.Now().Add(limit)
	for {
		b, err := os.ReadFile(os.Args[1])
		if err == nil && (re == nil || re.Match(b)) {
			return 0
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "waitfile: %s did not appear or match within %s\n", os.Args[1], limit)
			return 1
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeFileAtomic writes through a temporary file and a rename, so that a
// reader waiting for path never sees it half written.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
