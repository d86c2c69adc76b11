package notify

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/opsctl/opsctl/internal/db"
)

// envName is what a variable named by secret_env may be called.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks a rule as the config gives it: what it listens for, its
// filters and its one target. It does not look at the environment: a
// webhook's secret is checked where it is used (CheckSecret).
func (r Rule) Validate() error {
	if r.ID != "" {
		if strings.TrimLeft(r.ID, "0123456789") == "" {
			return fmt.Errorf("id %q is a number; a rule's number is its place in the list", r.ID)
		}
		if strings.ContainsFunc(r.ID, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
			return fmt.Errorf("id %q contains a space or a control character", r.ID)
		}
	}
	if len(r.On) == 0 {
		return errors.New("on: list the statuses to notify for (completed, failed, cancelled, waiting)")
	}
	for _, st := range r.On {
		if !validStatus(st) {
			return fmt.Errorf("on: unknown status %q (want completed, failed, cancelled or waiting)", st)
		}
	}
	if r.Name != "" {
		if _, err := path.Match(r.Name, ""); err != nil {
			return fmt.Errorf("name: bad glob %q", r.Name)
		}
	}
	switch {
	case r.Timeout < 0:
		return fmt.Errorf("timeout must not be negative, not %s", r.Timeout)
	case r.Attempts < 0 || r.Attempts > MaxAttempts:
		return fmt.Errorf("attempts must be 1 to %d, not %d", MaxAttempts, r.Attempts)
	case len(r.Command) > 0 && r.Webhook != nil:
		return errors.New("give a command or a webhook, not both")
	case len(r.Command) == 0 && r.Webhook == nil:
		return errors.New("no target: give a command (a list: program and arguments) or a webhook")
	case len(r.Command) > 0 && r.Command[0] == "":
		return errors.New("command: the program must not be empty")
	}
	if w := r.Webhook; w != nil {
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("webhook: url %q is not an http or https URL", w.URL)
		}
		if w.SecretEnv != "" && !envName.MatchString(w.SecretEnv) {
			return fmt.Errorf("webhook: secret_env %q is not an environment variable name", w.SecretEnv)
		}
	}
	return nil
}

func validStatus(st db.Status) bool {
	for _, v := range db.NotifyStatuses() {
		if st == v {
			return true
		}
	}
	return false
}

// CheckSecret checks that a webhook rule's secret variable holds a
// Standard Webhooks secret, without saying what it holds.
func (r Rule) CheckSecret(getenv func(string) string) error {
	if r.Webhook == nil || r.Webhook.SecretEnv == "" {
		return nil
	}
	_, err := signer(r.Webhook.SecretEnv, getenv)
	if err != nil {
		return fmt.Errorf("notify rule %s: %w", r.Label(), err)
	}
	return nil
}
