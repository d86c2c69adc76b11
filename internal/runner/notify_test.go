package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/notify"
	"github.com/opsctl/opsctl/internal/runner"
)

// failing is a registry whose one type fails at once.
var failing = runner.Registry{
	"fails": funcHandler(func(context.Context, json.RawMessage, runner.Events) (json.RawMessage, error) {
		return nil, runner.Permanent(errors.New("disk full"))
	}),
}

// eventsOf lists a task's notification events as "kind data".
func eventsOf(t *testing.T, s db.Store, id int64) []string {
	t.Helper()
	evs, err := s.Events(context.Background(), id, 0, 0)
	require.NoError(t, err)
	var out []string
	for _, e := range evs {
		if strings.HasPrefix(e.Kind, "notif") {
			out = append(out, e.Kind+" "+string(e.Data))
		}
	}
	return out
}

func TestNotifyWebhookRetriedAndSigned(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	verifier, err := standardwebhooks.NewWebhook(secret)
	require.NoError(t, err)
	var mu sync.Mutex
	var ids []string
	var payload notify.Payload
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verifier.Verify(body, r.Header); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, r.Header.Get("webhook-id"))
		if len(ids) <= 2 {
			http.Error(w, "try later\nplease", http.StatusServiceUnavailable)
			return
		}
		json.Unmarshal(body, &payload)
	}))
	defer srv.Close()

	rule := notify.Rule{Index: 1, On: []db.Status{db.StatusFailed}, Webhook: &notify.Webhook{URL: srv.URL + "/hook?token=x", SecretEnv: "HOOK_SECRET"}}
	s, r := setup(t, failing, func(o *runner.Options) {
		o.Once = false
		o.Notify = &notify.Notifier{Rules: []notify.Rule{rule}, Backoff: func(int) time.Duration { return 10 * time.Millisecond },
			Sender: &notify.Sender{Getenv: func(k string) string { return map[string]string{"HOOK_SECRET": secret}[k] }}}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	id := submit(t, s, "fails", 1)
	require.Eventually(t, func() bool { return len(eventsOf(t, s, id)) > 0 }, 20*time.Second, 20*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	host := strings.TrimPrefix(srv.URL, "http://")
	require.Equal(t, []string{`notified {"rule":"` + rule.Key() + `","status":"failed","attempts":3,"detail":"webhook ` + host + `: HTTP 200 OK"}`}, eventsOf(t, s, id))
	require.Len(t, ids, 3)
	require.Equal(t, ids[0], ids[2], "every try carries the same webhook-id")
	require.Equal(t, "task.failed", payload.Type)
	require.Equal(t, id, payload.Data.ID)
	require.Equal(t, "disk full", payload.Data.Error)
}

func TestNotifyCommandFiltersAndGivesUp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hook := filepath.Join(dir, "hook.sh")
	require.NoError(t, os.WriteFile(hook, []byte("#!/bin/sh\ncat > \"$1/$OPSCTL_TASK_ID.json\"\nenv | grep '^OPSCTL_' | sort > \"$1/$OPSCTL_TASK_ID.env\"\n"), 0o755))
	rules := []notify.Rule{
		{ID: "nightly", Index: 1, On: []db.Status{db.StatusFailed}, Name: "nightly-*", Command: []string{hook, dir}},
		{Index: 2, On: []db.Status{db.StatusFailed}, Name: "broken", Command: []string{"/bin/sh", "-c", "echo no route >&2; exit 3"}, Attempts: 2},
	}
	s, r := setup(t, failing, func(o *runner.Options) {
		o.Once = false
		o.Notify = &notify.Notifier{Rules: rules, Backoff: func(int) time.Duration { return 10 * time.Millisecond }, Sender: &notify.Sender{}}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	var ids []int64
	for _, name := range []string{"nightly-backup", "daily", "broken"} {
		res, err := s.Submit(ctx, db.NewTask{Type: "fails", Name: name})
		require.NoError(t, err)
		ids = append(ids, res.ID)
	}
	require.Eventually(t, func() bool { return len(eventsOf(t, s, ids[0])) > 0 && len(eventsOf(t, s, ids[2])) > 0 },
		20*time.Second, 20*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	require.Equal(t, []string{`notified {"rule":"nightly","status":"failed","attempts":1,"detail":"command hook.sh: exit 0"}`}, eventsOf(t, s, ids[0]))
	require.Empty(t, eventsOf(t, s, ids[1]), "the name glob matches neither rule")
	require.Equal(t, []string{`notify_failed {"rule":"` + rules[1].Key() + `","status":"failed","attempts":2,"error":"command sh: exit 3: no route"}`}, eventsOf(t, s, ids[2]))

	var in struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "1.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &in))
	require.Equal(t, ids[0], in.ID)
	require.Equal(t, "failed", in.Status)
	env, err := os.ReadFile(filepath.Join(dir, "1.env"))
	require.NoError(t, err)
	for _, want := range []string{"OPSCTL_TASK_ID=1", "OPSCTL_TASK_STATUS=failed", "OPSCTL_TASK_NAME=nightly-backup",
		"OPSCTL_TASK_QUEUE=default", "OPSCTL_TASK_TYPE=fails", "OPSCTL_TASK_ERROR=disk full", "OPSCTL_NOTIFY_RULE=nightly"} {
		require.Contains(t, strings.Split(string(env), "\n"), want)
	}
	_, err = os.Stat(filepath.Join(dir, "2.json"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
