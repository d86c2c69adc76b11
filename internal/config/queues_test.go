package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/config"
	"github.com/opsctl/opsctl/internal/db"
)

func TestQueuesSection(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "queues:\n  deploy: {concurrency: 1}\n  Nightly.Batch:\n    concurrency: 4\n    paused: true\n  free: {}\n")
	c, err := config.Load(config.Options{File: file, Getenv: env(map[string]string{"HOME": t.TempDir()})})
	require.NoError(t, err)
	require.Empty(t, c.Warnings())
	require.Equal(t, map[string]db.QueueLimit{
		"deploy":        {Concurrency: 1},
		"Nightly.Batch": {Concurrency: 4, Paused: true},
		"free":          {},
	}, c.QueueLimits(), "names keep their case and dots")
	require.Equal(t, file, c.QueueFile("deploy"))
	require.Equal(t, "file "+file+"=concurrency 4, paused", source(c, "queues.Nightly.Batch"))
	require.Equal(t, "file "+file+"=no limit", source(c, "queues.free"))
}

func TestQueuesSectionErrors(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		"queues:\n  deploy: {concurrency: -1}\n":   "queues.deploy: concurrency must be 0 (no limit) or more, not -1",
		"queues:\n  deploy: {concurency: 1}\n":     `queues.deploy: unknown field "concurency" (want concurrency or paused)`,
		"queues:\n  deploy: {concurrency: two}\n":  "queues.deploy: concurrency must be a whole number and paused true or false",
		"queues:\n  deploy: 1\n":                   "queues.deploy: want a mapping of concurrency and paused",
		"queues:\n  \"a\\tb\": {concurrency: 1}\n": "queues.a\tb: the queue name contains a control character",
	} {
		file := writeFile(t, body)
		_, err := config.Load(config.Options{File: file, Getenv: env(map[string]string{"HOME": t.TempDir()})})
		require.ErrorContains(t, err, "config "+file+": "+want, body)
	}
}
