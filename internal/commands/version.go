package commands

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
)

// version is the module version stamped by `go install`, or "dev".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newVersionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, Go version and schema version",
		Example: `  opsctl version
  opsctl --version`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ms, err := db.Migrations()
			if err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "opsctl %s (%s, %s/%s, schema %d)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH, len(ms))
			return nil
		},
	}
}
