package commands

import (
	"github.com/opsctl/opsctl/internal/runner"
)

// newRegistry builds the task-type registry: the one place task types are
// bound to handlers.
func newRegistry(f *Factory) runner.Registry {
	return runner.Registry{
		"exec": &runner.Exec{},
	}
}
