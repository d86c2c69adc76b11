// Package pgtest gives tests a real, throwaway PostgreSQL server: never a
// mock. One server is started per test binary (see Run) and each test gets
// its own fresh database from it (see Cluster.NewDatabase).
//
// The server is either external, given by OPSCTL_TEST_POSTGRES (a
// postgres:// URL to a server where the user may CREATE DATABASE), or a
// private cluster made with the initdb, pg_ctl and postgres binaries found in
// /usr/lib/postgresql/*/bin (highest version first) or on PATH. A private
// cluster lives in a fresh temporary directory, listens only on a unix socket
// in that directory, trusts every local connection and trades durability for
// speed (fsync=off and friends).
//
// When no server can be had, tests are skipped, except under CI=true, where
// Start fails instead: CI must never skip the PostgreSQL tests silently.
//
// A test package uses it like this:
//
//	var pg *pgtest.Cluster
//	var pgSkip string
//
//	func TestMain(m *testing.M) {
//		os.Exit(pgtest.Run(func(c *pgtest.Cluster, skip string) int {
//			pg, pgSkip = c, skip
//			return m.Run()
//		}))
//	}
//
//	func TestSomething(t *testing.T) {
//		url := pg.NewDatabaseOrSkip(t, pgSkip)
//		...
//	}
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable that points the tests at an
// external server instead of starting one.
const EnvURL = "OPSCTL_TEST_POSTGRES"

// superuser is the name initdb gives the cluster's superuser (initdb -U).
const superuser = "postgres"

// Cluster is a running throwaway PostgreSQL server, or an external one given
// by OPSCTL_TEST_POSTGRES.
type Cluster struct {
	adminURL string // superuser on the maintenance database
	external bool   // the server is not ours: Stop leaves it alone

	// Set for a private cluster only.
	dir      string              // temp dir: socket, log, data/
	pgCtl    string              // path of pg_ctl
	cred     *syscall.Credential // run pg_ctl as this user (we are root), or nil
	env      []string            // environment for initdb and pg_ctl
	stopOnce sync.Once

	seq atomic.Int64 // numbers the databases made by NewDatabase
}

// Start starts a cluster for one test binary.
//
// If OPSCTL_TEST_POSTGRES is set it checks that the server answers and uses
// it; nothing is started. Otherwise it initdb's and starts a private cluster
// (as the postgres user when running as root). If that is impossible it
// returns an error when CI=true, and otherwise a nil *Cluster and a non-empty
// reason for t.Skip.
func Start() (c *Cluster, skipReason string, err error) {
	if u := os.Getenv(EnvURL); u != "" {
		c, err := startExternal(u)
		return c, "", err
	}
	c, err = startPrivate()
	if err == nil {
		return c, "", nil
	}
	if os.Getenv("CI") == "true" {
		return nil, "", fmt.Errorf("pgtest: CI=true and no PostgreSQL server for the tests: %w", err)
	}
	return nil, fmt.Sprintf("no PostgreSQL for the tests (install PostgreSQL or set %s): %v", EnvURL, err), nil
}

func startExternal(u string) (*Cluster, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("pgtest: connect to %s: %w", EnvURL, err)
	}
	conn.Close(ctx)
	return &Cluster{adminURL: u, external: true}, nil
}

func startPrivate() (c *Cluster, err error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	c = &Cluster{pgCtl: filepath.Join(bin, "pg_ctl")}
	var uid, gid = -1, -1
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		u, err := user.Lookup(superuser)
		if err != nil {
			return nil, fmt.Errorf("running as root and no %q user to run PostgreSQL as: %w", superuser, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	for _, kv := range os.Environ() {
		// PGPORT, PGDATA, PGHOST... would change what the server and
		// pg_ctl do.
		if !strings.HasPrefix(kv, "PG") {
			c.env = append(c.env, kv)
		}
	}

	if c.dir, err = makeDir(uid, gid); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Stop()
			c = nil
		}
	}()

	data := filepath.Join(c.dir, "data")
	out, err := c.command(filepath.Join(bin, "initdb"),
		"-D", data, "-U", superuser, "-A", "trust", "-E", "UTF8", "--no-locale", "-N").CombinedOutput()
	if err != nil {
		return c, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	conf := fmt.Sprintf(`
# Added by pgtest: a private, disposable test server.
listen_addresses = ''
unix_socket_directories = %s
port = 5432
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 128MB
`, quote(c.dir))
	if err := appendFile(filepath.Join(data, "postgresql.conf"), conf); err != nil {
		return c, err
	}

	log := filepath.Join(c.dir, "postgres.log")
	out, err = c.command(c.pgCtl, "start", "-D", data, "-l", log, "-w", "-t", "60", "-s").CombinedOutput()
	if err != nil {
		return c, fmt.Errorf("pg_ctl start: %w\n%s\nserver log ends with:\n%s", err, out, tail(log, 4096))
	}
	c.adminURL = socketURL(c.dir, superuser)
	return c, nil
}

// findBinaries returns a directory holding initdb, pg_ctl and postgres:
// the newest /usr/lib/postgresql/<version>/bin, else initdb's on PATH.
func findBinaries() (string, error) {
	var dirs []string
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(matches, func(a, b string) int {
		return -compareVersions(filepath.Base(filepath.Dir(a)), filepath.Base(filepath.Dir(b)))
	})
	dirs = append(dirs, matches...)
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if isExec(d, "initdb") && isExec(d, "pg_ctl") && isExec(d, "postgres") {
			return d, nil
		}
	}
	return "", errors.New("no initdb, pg_ctl and postgres in /usr/lib/postgresql/*/bin or on PATH")
}

// compareVersions compares dotted versions such as "9.6" and "15" numerically.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return strings.Compare(a, b)
}

func isExec(dir, name string) bool {
	fi, err := os.Stat(filepath.Join(dir, name))
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// makeDir makes the cluster's temp dir, owned by uid:gid when those are not
// -1. The socket goes in it, so it must be short (sun_path holds 107 bytes):
// a long TMPDIR falls back to /tmp.
func makeDir(uid, gid int) (string, error) {
	parent := os.TempDir()
	if len(parent) > 60 {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "opsctl-pg-")
	if err != nil {
		return "", err
	}
	if uid < 0 {
		return dir, nil
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	// The postgres user must be able to reach the dir.
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err == nil && fi.Mode().Perm()&0o001 == 0 {
			os.RemoveAll(dir)
			return "", fmt.Errorf("%s is not traversable by the %s user (mode %v); set TMPDIR elsewhere", p, superuser, fi.Mode().Perm())
		}
		if p == filepath.Dir(p) {
			return dir, nil
		}
	}
}

// command prepares a run of a PostgreSQL program as the right user.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir // the postgres user may not be allowed in our cwd
	cmd.Env = c.env
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

// quote makes s a single-quoted postgresql.conf string.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func appendFile(name, text string) error {
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// tail returns the last n bytes (or so) of a file, for error messages.
func tail(name string, n int) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// socketURL is a URL for user on database db over the unix socket in dir,
// in the form pgx accepts: postgres://user@/db?host=%2Fsocket%2Fdir.
func socketURL(dir, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Path:     "/" + db,
		RawQuery: url.Values{"host": {dir}}.Encode(),
	}
	return u.String()
}

// Stop stops the server (pg_ctl stop -m immediate) and removes its
// directory. It is safe on nil, on an external cluster (it does nothing
// then) and when called more than once.
func (c *Cluster) Stop() {
	if c == nil || c.external || c.dir == "" {
		return
	}
	c.stopOnce.Do(func() {
		data := filepath.Join(c.dir, "data")
		if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); err == nil {
			if out, err := c.command(c.pgCtl, "stop", "-D", data, "-m", "immediate", "-w", "-s").CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "pgtest: pg_ctl stop: %v\n%s", err, out)
			}
		}
		os.RemoveAll(c.dir)
	})
}

// AdminURL is a URL for the superuser on the maintenance database postgres
// (for an external server: OPSCTL_TEST_POSTGRES as given).
func (c *Cluster) AdminURL() string { return c.adminURL }

// NewDatabase creates a fresh empty database with a unique name and returns
// its URL. The database is dropped when the test ends. It fails the test on
// error.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	if c == nil {
		t.Fatal("pgtest: NewDatabase on a nil Cluster (use NewDatabaseOrSkip)")
	}
	// The pid keeps names apart between test binaries sharing an
	// external server.
	name := fmt.Sprintf("opsctl_test_%d_%d", os.Getpid(), c.seq.Add(1))
	if err := c.admin("CREATE DATABASE " + name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		if err := c.admin("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database: %v", err)
		}
	})
	if !c.external {
		return socketURL(c.dir, name)
	}
	u, err := url.Parse(c.adminURL)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvURL, err)
	}
	u.Path, u.RawPath = "/"+name, ""
	q := u.Query()
	q.Del("dbname")
	u.RawQuery = q.Encode()
	return u.String()
}

// NewDatabaseOrSkip skips the test with reason skip when c is nil (Start
// found no server), and otherwise returns NewDatabase(t).
func (c *Cluster) NewDatabaseOrSkip(t testing.TB, skip string) string {
	t.Helper()
	if c == nil {
		if skip == "" {
			skip = "pgtest: no PostgreSQL server"
		}
		t.Skip(skip)
	}
	return c.NewDatabase(t)
}

// admin runs one statement as the superuser on the maintenance database.
func (c *Cluster) admin(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// Run starts a cluster, calls run(c, skipReason) (c is nil when skipping),
// stops the cluster, and returns run's exit code. When Start fails (CI=true
// and no server) it prints the error to stderr and returns 1. An interrupt
// or SIGTERM while run runs stops the cluster before the process exits.
func Run(run func(c *Cluster, skipReason string) int) int {
	// Catch signals from before Start: one that comes while the server
	// starts is acted on once it is up.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	c, skip, err := Start()
	if err != nil {
		signal.Stop(sigs)
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Stop()

	done := make(chan struct{})
	defer func() {
		signal.Stop(sigs)
		close(done)
	}()
	go func() {
		select {
		case s := <-sigs:
			c.Stop()
			fmt.Fprintf(os.Stderr, "pgtest: %v: stopped the PostgreSQL server\n", s)
			os.Exit(1)
		case <-done:
		}
	}()

	return run(c, skip)
}
