package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// Message is one notification to send.
type Message struct {
	// ID is the same on every try of one notification (the webhook-id
	// header, OPSCTL_NOTIFY_ID for a command): a receiver that sees an ID
	// twice drops the second.
	ID     string
	Status db.Status // the status the task moved to
	Task   db.Task
	At     time.Time // when the transition was stored
}

// MessageID is the ID of the notification in outbox row id.
func MessageID(id int64) string { return "opsctl_notify_" + strconv.FormatInt(id, 10) }

// Payload is a webhook's JSON body, in the shape Standard Webhooks
// suggests: a type, a timestamp, and the task as `opsctl show -o json`
// prints it.
type Payload struct {
	Type      string          `json:"type"` // task.failed, task.completed, ...
	Timestamp time.Time       `json:"timestamp"`
	Data      taskio.TaskJSON `json:"data"`
}

// Sender sends messages to rules' targets.
type Sender struct {
	// Getenv reads webhook secrets; nil means os.Getenv.
	Getenv func(string) string
	// Environ is the base environment of commands; nil means os.Environ().
	// The runner's passes it without the API keys and secrets.
	Environ func() []string
	// Client posts webhooks; nil means a client without a timeout of its
	// own (each try has the rule's).
	Client *http.Client
}

// errTail bounds the part of a reply or of stderr kept in a reason.
const errTail = 300

// Send sends m to r's target once, within the rule's timeout. It returns
// a short note of what happened ("HTTP 200", "exit 0") or why it failed.
func (s *Sender) Send(ctx context.Context, r Rule, m Message) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.TimeoutOrDefault())
	defer cancel()
	var detail string
	var err error
	if r.Webhook != nil {
		detail, err = s.post(ctx, r, m)
	} else {
		detail, err = s.run(ctx, r, m)
	}
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %s", r.TimeoutOrDefault())
	}
	return detail, err
}

// signer returns the Standard Webhooks signer of the secret in variable
// name.
func signer(name string, getenv func(string) string) (*standardwebhooks.Webhook, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	secret := getenv(name)
	if secret == "" {
		return nil, fmt.Errorf("webhook secret variable %s is not set (secret_env)", name)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		// The library's error quotes nothing of the secret, but is
		// replaced anyway: this line is logged.
		return nil, fmt.Errorf("webhook secret in %s is not whsec_ followed by base64", name)
	}
	return wh, nil
}

func (s *Sender) post(ctx context.Context, r Rule, m Message) (string, error) {
	body, err := json.Marshal(Payload{Type: "task." + string(m.Status), Timestamp: m.At.UTC(), Data: taskio.NewTaskJSON(m.Task)})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.Webhook.URL, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	now := time.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "opsctl-notify")
	req.Header.Set(standardwebhooks.HeaderWebhookID, m.ID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	if name := r.Webhook.SecretEnv; name != "" {
		wh, err := signer(name, s.Getenv)
		if err != nil {
			return "", err
		}
		sig, err := wh.Sign(m.ID, now, body)
		if err != nil {
			return "", err
		}
		req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap() // without the method and URL, which may carry a token
		}
		return "", err
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, errTail))
	if resp.StatusCode/100 != 2 {
		msg := "HTTP " + resp.Status
		if t := oneLine(string(reply)); t != "" {
			msg += ": " + t
		}
		return "", errors.New(msg)
	}
	return "HTTP " + resp.Status, nil
}

// Env is the OPSCTL_TASK_* (and OPSCTL_NOTIFY_*) environment of a
// command rule for m.
func Env(r Rule, m Message) []string {
	t := m.Task
	vars := [][2]string{
		{"OPSCTL_TASK_ID", strconv.FormatInt(t.ID, 10)},
		{"OPSCTL_TASK_STATUS", string(m.Status)},
		{"OPSCTL_TASK_NAME", t.Name},
		{"OPSCTL_TASK_QUEUE", t.Queue},
		{"OPSCTL_TASK_TYPE", t.Type},
		{"OPSCTL_TASK_ERROR", t.Error},
		{"OPSCTL_TASK_ATTEMPTS", strconv.Itoa(t.Attempts)},
		{"OPSCTL_TASK_MAX_ATTEMPTS", strconv.Itoa(t.MaxAttempts)},
		{"OPSCTL_NOTIFY_ID", m.ID},
		{"OPSCTL_NOTIFY_RULE", r.Label()},
	}
	out := make([]string, len(vars))
	for i, v := range vars {
		out[i] = v[0] + "=" + strings.ReplaceAll(v[1], "\x00", "")
	}
	return out
}

func (s *Sender) run(ctx context.Context, r Rule, m Message) (string, error) {
	stdin, err := json.Marshal(taskio.NewTaskJSON(m.Task))
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, r.Command[0], r.Command[1:]...)
	env := os.Environ
	if s.Environ != nil {
		env = s.Environ
	}
	cmd.Env = append(env(), Env(r, m)...)
	cmd.Stdin = bytes.NewReader(append(stdin, '\n'))
	var stderr tail
	cmd.Stderr = &stderr
	// Its own process group, killed whole at the timeout: a hook that
	// starts children (curl from a script) must not outlive its try.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exit 0", nil
	case ctx.Err() != nil:
		return "", ctx.Err()
	case errors.As(err, &ee):
		msg := "exit " + strconv.Itoa(ee.ExitCode())
		if ee.ExitCode() < 0 {
			msg = ee.String()
		}
		if t := oneLine(stderr.String()); t != "" {
			msg += ": " + t
		}
		return "", errors.New(msg)
	}
	return "", err
}

// tail keeps the last errTail bytes written to it.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > errTail {
		t.b = append(t.b[:0], t.b[len(t.b)-errTail:]...)
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.b) }

// oneLine makes text fit a one-line reason: trimmed, newlines as " | ",
// at most errTail bytes of valid UTF-8.
func oneLine(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, "?"))
	s = strings.Join(strings.FieldsFunc(s, func(c rune) bool { return c == '\n' || c == '\r' }), " | ")
	if len(s) > errTail {
		s = strings.ToValidUTF8(s[len(s)-errTail:], "")
	}
	return s
}
