package commands_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startServe starts `opsctl serve` on a free loopback port and returns its
// base URL once it listens.
func (p *procEnv) startServe() (*exec.Cmd, string, *syncBuffer) {
	p.t.Helper()
	cmd := p.command("serve", "--addr", "127.0.0.1:0")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(p.t, cmd.Start())
	p.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	urlRe := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`)
	var url string
	eventually(p.t, 20*time.Second, "serve listening", func() bool {
		m := urlRe.FindStringSubmatch(out.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})
	return cmd, url, out
}

// TestServeStreamsARunnersOutput drives real processes: a task submitted
// over HTTP, run by `opsctl run` in another process, its output read live
// from the server's event stream; then SIGTERM ends serve with exit 0 even
// with a stream open.
func TestServeStreamsARunnersOutput(t *testing.T) {
	for _, b := range []struct {
		name string
		env  func(*testing.T) *procEnv
	}{{"sqlite", newProcEnv}, {"postgres", newPGProcEnv}} {
		t.Run(b.name, func(t *testing.T) {
			p := b.env(t)
			token := strings.TrimSpace(p.ok("token", "create", "ci", "--scope", "write"))
			serve, url, serveOut := p.startServe()

			body := fmt.Sprintf(`{"type":"exec","input":{"shell":"echo first; sleep 0.3; echo second","dir":%q}}`, p.dir)
			req, err := http.NewRequest("POST", url+"/api/v1/tasks", strings.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, 201, resp.StatusCode, "%s", b)
			loc := resp.Header.Get("Location")

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			sreq, err := http.NewRequestWithContext(ctx, "GET", url+loc+"/events/stream", nil)
			require.NoError(t, err)
			sreq.Header.Set("Authorization", "Bearer "+token)
			stream, err := http.DefaultClient.Do(sreq)
			require.NoError(t, err)
			defer stream.Body.Close()
			require.Equal(t, 200, stream.StatusCode)

			p.startRunner("--workers", "1")
			var data []string
			sc := bufio.NewScanner(stream.Body)
			for sc.Scan() {
				line := sc.Text()
				if line == "event: end" {
					break
				}
				if strings.HasPrefix(line, "data: ") {
					data = append(data, line)
				}
			}
			all := strings.Join(data, "\n")
			require.Contains(t, all, `"text":"first\n"`)
			require.Contains(t, all, `"text":"second\n"`)
			require.Contains(t, all, `"to":"completed"`)
			require.Less(t, strings.Index(all, "first"), strings.Index(all, "second"))

			// A stream of every task's events stays open; SIGTERM still
			// ends serve at once, with exit 0.
			areq, err := http.NewRequestWithContext(ctx, "GET", url+"/api/v1/events/stream", nil)
			require.NoError(t, err)
			areq.Header.Set("Authorization", "Bearer "+token)
			all2, err := http.DefaultClient.Do(areq)
			require.NoError(t, err)
			defer all2.Body.Close()
			require.NoError(t, serve.Process.Signal(syscall.SIGTERM))
			require.Equal(t, 0, waitExit(t, serve, 15*time.Second), serveOut.String())
			require.Contains(t, serveOut.String(), "stopped")
		})
	}
}
