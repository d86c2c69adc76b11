package commands

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/serve"
)

// ServeOptions are the flags of `opsctl serve`.
type ServeOptions struct {
	F          *Factory
	Addr       string
	AllowHosts []string
}

// defaultServeAddr is loopback: serving other machines is a choice.
const defaultServeAddr = "127.0.0.1:8080"

func newServeCmd(f *Factory) *cobra.Command {
	opts := &ServeOptions{F: f}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API, gRPC, metrics and the web dashboard on one port",
		Long: `Serve the task store over HTTP on one port: the REST API under /api/v1
(its description at /api/v1/openapi.json), live event streams (Server-Sent
Events), the gRPC service opsctl.v1.TaskService (gRPC, gRPC-Web and Connect),
/metrics for Prometheus, /health and /readyz, and the web dashboard at /.

Every API request needs a token ('opsctl token create'); the dashboard asks
for one. serve binds 127.0.0.1:8080 unless --addr says otherwise, and
refuses an address other machines can reach while no token exists. Requests
must name this host: loopback names, the bound address, and --allow-host
names (a guard against DNS rebinding). It speaks plain HTTP (and HTTP/2
without TLS): put a TLS proxy in front of it for other machines.

serve runs no tasks: 'opsctl run' does, on this or other hosts sharing the
database. SIGTERM or Ctrl-C stops it gracefully.`,
		Example: `  opsctl serve
  opsctl token create ops --scope write && opsctl serve --addr :8080 --allow-host ops.example.com
  curl -H "Authorization: Bearer $TOKEN" localhost:8080/api/v1/tasks?status=failed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd.Context(), opts) },
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Addr, "addr", defaultServeAddr, "HOST:PORT to listen on (:8080 means every interface)")
	fl.StringSliceVar(&opts.AllowHosts, "allow-host", nil, "a host name clients may use to reach this server (repeatable)")
	return cmd
}

func runServe(ctx context.Context, o *ServeOptions) error {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return usageErrorf("--addr %q: want HOST:PORT, e.g. 127.0.0.1:8080 or :8080", o.Addr)
	}
	for _, h := range o.AllowHosts {
		if h == "" || strings.ContainsAny(h, "/ \t") {
			return usageErrorf("--allow-host %q is not a host name", h)
		}
	}
	c, err := o.F.Config()
	if err != nil {
		return err
	}
	s, err := o.F.Store(ctx)
	if err != nil {
		return err
	}
	if !isLoopback(host) {
		ts, err := s.Tokens(ctx)
		if err != nil {
			return err
		}
		live := 0
		for _, t := range ts {
			if !t.Expired(o.F.Now()) {
				live++
			}
		}
		if live == 0 {
			return usageErrorf("refusing to serve on %s, which other machines can reach, while no token exists: make one first with 'opsctl token create NAME'", o.Addr)
		}
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", o.Addr, err)
	}
	log := slog.New(slog.NewTextHandler(o.F.IO.ErrOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv := serve.New(serve.Options{
		Store:        s,
		Validator:    o.F.Registry,
		Log:          log,
		Now:          o.F.Now,
		Version:      version(),
		AllowedHosts: allowedHosts(host, o.AllowHosts),
	})
	log.Info("serving", "url", "http://"+ln.Addr().String(), "db", db.RedactLocation(c.DB), "api", "/api/v1", "grpc", "opsctl.v1.TaskService")
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// isLoopback reports whether host names only this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// allowedHosts is the Host allow-list: the bound host, or, for every
// interface, the machine's addresses and name; and the --allow-host names.
func allowedHosts(bound string, extra []string) []string {
	hosts := append([]string(nil), extra...)
	if ip := net.ParseIP(bound); bound != "" && (ip == nil || !ip.IsUnspecified()) {
		return append(hosts, bound)
	}
	if name, err := os.Hostname(); err == nil {
		hosts = append(hosts, name)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				hosts = append(hosts, n.IP.String())
			}
		}
	}
	return hosts
}
