package commands_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Eight processes use a database that does not exist yet, all at once: one
// of them creates and migrates it, the others wait their turn, and every
// submit succeeds.
func TestConcurrentFirstUseByProcesses(t *testing.T) {
	t.Parallel()
	p := newProcEnv(t)
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range 8 {
		wg.Go(func() {
			out, errOut, code := p.run("submit", "-q", "--", "echo", fmt.Sprint(i))
			results[i] = fmt.Sprintf("%d|%s|%s", code, strings.TrimSpace(out), errOut)
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for _, r := range results {
		parts := strings.SplitN(r, "|", 3)
		require.Equal(t, "0", parts[0], r)
		require.Empty(t, parts[2], r)
		ids[parts[1]] = true
	}
	require.Len(t, ids, 8, "eight distinct ids")
	status := p.ok("migrate", "status", "-o", "json")
	require.Contains(t, status, `"pending": []`)
}
