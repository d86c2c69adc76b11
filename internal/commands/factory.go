package commands

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/opsctl/opsctl/internal/config"
	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/llm"
	"github.com/opsctl/opsctl/internal/runner"
)

// Factory holds what commands share: streams, the environment, the clock,
// and lazily built config and store. Nothing is opened until a command asks.
type Factory struct {
	IO     *IOStreams
	Getenv func(string) string
	Now    func() time.Time

	// Registry maps task types to handlers; submit validates against it.
	Registry runner.Registry

	configFile string
	// flags maps config keys to the flags that can set them.
	flags map[string]*pflag.Flag

	cfg   *config.Config
	store db.Backend
	// Exit ends the process at once (a second signal to a runner); nil
	// means os.Exit.
	Exit func(int)
	// HideKeys, when set, re-executes the process without the named
	// variables in its initial environment (runner.HideKeys). Only Main
	// sets it: tests run commands inside the test binary.
	HideKeys func(names []string) error
}

// hideKeys takes the providers' keys and the configured secret variables
// out of this process's initial environment before it starts programs
// (exec tasks, run_command, MCP servers) that run as the same user.
func (f *Factory) hideKeys() error {
	if f.HideKeys == nil {
		return nil
	}
	// Loaded here without Config's warnings: the process may re-execute,
	// and the new image loads the config again and gives them once.
	c, err := config.Load(config.Options{File: f.configFile, Flags: f.flags, Getenv: f.Getenv})
	if err != nil {
		return usageErr(err)
	}
	names := append(append(llm.KeyEnvs(), c.Agent.RedactEnv...), c.NotifySecretEnvs()...)
	if c.Agent.APIKeyEnv != "" {
		names = append(names, c.Agent.APIKeyEnv)
	}
	return f.HideKeys(names)
}

func (f *Factory) exit(code int) {
	f.Close()
	if f.Exit != nil {
		f.Exit(code)
		return
	}
	os.Exit(code)
}

// bindFlag lets a flag set a config key (flag > env > file > default).
func (f *Factory) bindFlag(key string, fl *pflag.Flag) {
	if f.flags == nil {
		f.flags = map[string]*pflag.Flag{}
	}
	f.flags[key] = fl
}

// Config loads the configuration once. A broken config is a usage error.
func (f *Factory) Config() (*config.Config, error) {
	if f.cfg != nil {
		return f.cfg, nil
	}
	c, err := config.Load(config.Options{File: f.configFile, Flags: f.flags, Getenv: f.Getenv})
	if err != nil {
		return nil, usageErr(err)
	}
	for _, w := range c.Warnings() {
		fmt.Fprintf(f.IO.ErrOut, "opsctl: warning: %s\n", w)
	}
	f.cfg = c
	return c, nil
}

// Store opens the database once, migrating as the config allows.
func (f *Factory) Store(ctx context.Context) (db.Store, error) {
	if f.store != nil {
		return f.store, nil
	}
	s, err := f.openDB(ctx, db.Options{})
	if err != nil {
		return nil, err
	}
	f.store = s
	return s, nil
}

// ReadStore opens the database for a command that only reads it: a
// database that does not exist (or holds no tables yet) is an error
// (exit 6), not created.
func (f *Factory) ReadStore(ctx context.Context) (db.Store, error) {
	if f.store != nil {
		return f.store, nil
	}
	s, err := f.openDB(ctx, db.Options{MustExist: true})
	if err != nil {
		return nil, err
	}
	f.store = s
	return s, nil
}

// openDB opens the configured database (a file or a postgres:// URL) with
// opts, whose target, migration policy and clock come from the config and
// the factory. It is where every command opens its database.
func (f *Factory) openDB(ctx context.Context, opts db.Options) (db.Backend, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	opts.Path, opts.AutoMigrate, opts.PollOnly = c.DB, c.AutoMigrate, c.DBPollOnly
	if opts.Now == nil {
		opts.Now = f.Now
	}
	return db.Open(ctx, opts)
}

// peekDB opens the configured database only if it is there already, and
// changes nothing in it (completions, migrate status): nil, nil when there
// is no such file.
func (f *Factory) peekDB(ctx context.Context) (db.Backend, error) {
	c, err := f.Config()
	if err != nil {
		return nil, err
	}
	t, err := db.ParseTarget(c.DB)
	if err != nil {
		return nil, err
	}
	if t.Dialect == db.SQLiteDialect {
		if _, err := os.Stat(t.Path); err != nil {
			return nil, nil
		}
	}
	s, err := f.openDB(ctx, db.Options{NoMigrate: true})
	if err != nil || t.Dialect == db.SQLiteDialect {
		return s, err
	}
	// A PostgreSQL database opsctl never wrote is there, but empty: as
	// good as no file.
	st, err := s.MigrationStatus(ctx)
	if err != nil || st.Current == 0 {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close releases what the factory opened.
func (f *Factory) Close() error {
	if f.store != nil {
		return f.store.Close()
	}
	return nil
}
