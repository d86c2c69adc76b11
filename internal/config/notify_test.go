package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/config"
	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/notify"
)

func TestNotifySection(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `notify:
  - on: [failed]
    queue: nightly
    command: ["/usr/local/bin/page-me", "--team", "ops"]
  - id: Hook.Main
    on: [failed, waiting]
    name: "deploy-*"
    schedule: backup
    timeout: 5s
    attempts: 3
    webhook: {url: "https://hooks.example.com/opsctl", secret_env: OPSCTL_WEBHOOK_SECRET}
queues:
  deploy: {concurrency: 1}
`)
	c, err := config.Load(config.Options{File: file, Getenv: env(map[string]string{"HOME": t.TempDir()})})
	require.NoError(t, err)
	require.Empty(t, c.Warnings())
	require.Equal(t, []notify.Rule{
		{Index: 1, On: []db.Status{db.StatusFailed}, Queue: "nightly", Command: []string{"/usr/local/bin/page-me", "--team", "ops"}},
		{ID: "Hook.Main", Index: 2, On: []db.Status{db.StatusFailed, db.StatusWaiting}, Name: "deploy-*", Schedule: "backup",
			Timeout: 5 * time.Second, Attempts: 3,
			Webhook: &notify.Webhook{URL: "https://hooks.example.com/opsctl", SecretEnv: "OPSCTL_WEBHOOK_SECRET"}},
	}, c.NotifyRules())
	require.Equal(t, []string{"OPSCTL_WEBHOOK_SECRET"}, c.NotifySecretEnvs())
	r, ok := notify.Find(c.NotifyRules(), "Hook.Main")
	require.True(t, ok)
	require.Equal(t, 2, r.Index)
	r, ok = notify.Find(c.NotifyRules(), "1")
	require.True(t, ok)
	require.Equal(t, "#1", r.Label())
	require.Regexp(t, `^rule-[0-9a-f]{12}$`, r.Key())
	_, ok = notify.Find(c.NotifyRules(), "3")
	require.False(t, ok)
}

func TestNotifySectionErrors(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		"notify:\n  - {on: [faild], command: [x]}\n":                                                  `notify #1: on: unknown status "faild" (want completed, failed, cancelled or waiting)`,
		"notify:\n  - {on: [failed]}\n":                                                               "notify #1: no target: give a command (a list: program and arguments) or a webhook",
		"notify:\n  - {command: [x]}\n":                                                               "notify #1: on: list the statuses to notify for",
		"notify:\n  - {on: failed, command: [x], webhook: {url: 'http://h'}}\n":                       "notify #1: give a command or a webhook, not both",
		"notify:\n  - {on: [failed], webhook: {url: 'ftp://h/x'}}\n":                                  `notify #1: webhook: url "ftp://h/x" is not an http or https URL`,
		"notify:\n  - {on: [failed], name: 'a[', command: [x]}\n":                                     `notify #1: name: bad glob "a["`,
		"notify:\n  - {on: [failed], comand: [x]}\n":                                                  `notify #1: unknown field "comand"`,
		"notify:\n  - {on: [failed], command: [x], timeout: soon}\n":                                  `notify #1: timeout "soon" is not a positive duration`,
		"notify:\n  - {on: [failed], command: []}\n":                                                  "notify #1: command: the list is empty",
		"notify:\n  - {on: [failed], webhook: {url: 'http://h', secret_env: 'A-B'}}\n":                `notify #1: webhook: secret_env "A-B" is not an environment variable name`,
		"notify:\n  - {id: a, on: [failed], command: [x]}\n  - {id: a, on: [failed], command: [y]}\n": `notify #2: id "a" is rule #1's already`,
		"notify:\n  - {id: '7', on: [failed], command: [x]}\n":                                        `notify #1: id "7" is a number`,
		"notify:\n  on: failed\n":                                                                     "notify: want a list of rules",
	} {
		file := writeFile(t, body)
		_, err := config.Load(config.Options{File: file, Getenv: env(map[string]string{"HOME": t.TempDir()})})
		require.ErrorContains(t, err, "config "+file+": "+want, body)
	}
}

func TestNotifySecretChecked(t *testing.T) {
	t.Parallel()
	r := notify.Rule{Index: 1, On: []db.Status{db.StatusFailed}, Webhook: &notify.Webhook{URL: "http://h", SecretEnv: "S"}}
	require.EqualError(t, r.CheckSecret(func(string) string { return "" }), "notify rule #1: webhook secret variable S is not set (secret_env)")
	require.EqualError(t, r.CheckSecret(func(string) string { return "not base64!" }), "notify rule #1: webhook secret in S is not whsec_ followed by base64")
	require.NoError(t, r.CheckSecret(func(string) string { return "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }))
}
