// Command opsctl runs and follows operations tasks kept in one SQLite file.
package main

import (
	"os"

	"github.com/opsctl/opsctl/internal/commands"
)

func main() {
	os.Exit(commands.Main())
}
