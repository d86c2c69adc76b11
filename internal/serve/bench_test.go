package serve

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// The benchmarks run over real HTTP on loopback against a real SQLite
// file. -serve.tasks sets how many tasks the file holds (1,000,000 for the
// figures in docs/PERFORMANCE.md); -serve.db reuses a file built before.
var (
	benchTasks = flag.Int("serve.tasks", 20_000, "tasks in the benchmarks' database")
	benchDB    = flag.String("serve.db", "", "a database file to reuse (built when it has no tasks)")
)

// benchServer serves a store holding *benchTasks tasks: ten queues, two
// types, 1% running, 10% failed, 60% completed, the rest pending.
func benchServer(b *testing.B) (*httptest.Server, *Server, string) {
	b.Helper()
	path := *benchDB
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.db")
	}
	ctx := context.Background()
	store, err := db.Open(ctx, db.Options{Path: path, AutoMigrate: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	if n, _ := store.Count(ctx); n == 0 {
		fill(b, store, *benchTasks)
	}
	s := New(Options{Store: store, Validator: testRegistry()})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(rctx); close(done) }()
	srv := httptest.NewServer(s.Handler())
	b.Cleanup(func() { srv.Close(); cancel(); <-done })
	secret, hash := NewToken()
	if err := store.CreateToken(ctx, db.Token{Name: fmt.Sprintf("bench-%d", time.Now().UnixNano()), Hash: hash, Scope: db.ScopeAdmin}); err != nil {
		b.Fatal(err)
	}
	return srv, s, secret
}

func fill(b *testing.B, store db.Backend, n int) {
	ctx := context.Background()
	const batch = 10_000
	for done := 0; done < n; {
		ts := make([]db.NewTask, min(batch, n-done))
		for i := range ts {
			typ, input := "exec", `{"command":["true"]}`
			if (done+i)%5 == 0 {
				typ, input = "agent", `{"prompt":"check the disks"}`
			}
			ts[i] = db.NewTask{Type: typ, Name: fmt.Sprintf("job-%d", done+i), Queue: fmt.Sprintf("q%d", (done+i)%10), Input: json.RawMessage(input)}
		}
		if _, err := store.SubmitBatch(ctx, ts); err != nil {
			b.Fatal(err)
		}
		// Finish most of each batch, as time would.
		claimed, err := store.Claim(ctx, db.ClaimRequest{Worker: "fill", Limit: len(ts) * 71 / 100, Lease: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		var outs []db.Outcome
		for i, t := range claimed[:len(claimed)*70/71] {
			o := db.Outcome{ID: t.ID, Worker: "fill", Attempt: t.Attempts, Status: db.StatusCompleted, Result: json.RawMessage(`{}`)}
			if i%7 == 0 {
				o.Status, o.Result, o.Error = db.StatusFailed, nil, "exit status 1"
			}
			outs = append(outs, o)
		}
		if _, err := store.Finish(ctx, nil, outs); err != nil {
			b.Fatal(err)
		}
		done += len(ts)
	}
}

// latencies collects request times from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// report adds p50 and p99 in milliseconds to the benchmark's output.
func (l *latencies) report(b *testing.B) {
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	at := func(q float64) float64 { return float64(l.d[int(q*float64(len(l.d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// clients runs fn from n goroutines until b.N calls are done, timing each.
func clients(b *testing.B, n int, fn func() error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var l latencies
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t := time.Now()
				if err := fn(); err != nil {
					failed.Store(err)
					return
				}
				l.add(time.Since(t))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	l.report(b)
}

func get(client *http.Client, url, token string, want int) error {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return nil
}

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
}

func BenchmarkListTasks(b *testing.B) {
	srv, _, token := benchServer(b)
	client := benchClient()
	for _, q := range []string{"", "status=pending", "status=failed", "queue=q3", "type=agent", "status=completed&queue=q3", "queue=q3&type=agent", "status=running&type=exec"} {
		b.Run(strings.ReplaceAll(q, "&", ","), func(b *testing.B) {
			url := srv.URL + "/api/v1/tasks?limit=50&" + q
			clients(b, 16, func() error { return get(client, url, token, 200) })
		})
	}
}

func BenchmarkGetTask(b *testing.B) {
	srv, _, token := benchServer(b)
	client := benchClient()
	var id atomic.Int64
	clients(b, 16, func() error {
		n := id.Add(7919)%int64(*benchTasks) + 1
		return get(client, fmt.Sprintf("%s/api/v1/tasks/%d", srv.URL, n), token, 200)
	})
}

func BenchmarkCreateTask(b *testing.B) {
	srv, _, token := benchServer(b)
	client := benchClient()
	body := `{"type":"exec","input":{"command":["true"],"dir":"/"},"queue":"bench"}`
	clients(b, 32, func() error {
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/tasks", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 {
			return fmt.Errorf("POST: %d", resp.StatusCode)
		}
		return nil
	})
}

// BenchmarkStreamLatency opens -serve.streams event streams on one running
// task and times each event from its write to its arrival at every stream.
func BenchmarkStreamLatency(b *testing.B) {
	srv, s, token := benchServer(b)
	ctx := context.Background()
	store := s.store
	r, err := store.Submit(ctx, db.NewTask{Type: "exec", Queue: "stream", Input: json.RawMessage(`{"command":["true"]}`)})
	if err != nil {
		b.Fatal(err)
	}
	claimed, err := store.Claim(ctx, db.ClaimRequest{Worker: "w", Queues: []string{"stream"}, Limit: 1, Lease: time.Hour})
	if err != nil || len(claimed) != 1 || claimed[0].ID != r.ID {
		b.Fatalf("claim: %v %v", claimed, err)
	}
	task := claimed[0]
	n := *benchStreams
	var l latencies
	arrived := make(chan struct{}, n)
	var wg sync.WaitGroup
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0}}
	ready := make(chan struct{}, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(sctx, "GET", fmt.Sprintf("%s/api/v1/tasks/%d/events/stream", srv.URL, task.ID), nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			buf := make([]byte, 64<<10)
			first := true
			for {
				k, err := resp.Body.Read(buf)
				if err != nil {
					return
				}
				chunk := string(buf[:k])
				if first && strings.Contains(chunk, `"to":"running"`) {
					first = false
					ready <- struct{}{}
				}
				if i := strings.Index(chunk, `"sent":`); i >= 0 {
					var sent int64
					fmt.Sscanf(chunk[i+len(`"sent":`):], "%d", &sent)
					l.add(time.Since(time.Unix(0, sent)))
					arrived <- struct{}{}
				}
			}
		}()
	}
	for range n {
		<-ready
	}
	b.ResetTimer()
	for range b.N {
		data, _ := json.Marshal(map[string]int64{"sent": time.Now().UnixNano()})
		if _, err := store.AppendEvents(ctx, []db.NewEvent{{TaskID: task.ID, Kind: "stdout", Data: data}}); err != nil {
			b.Fatal(err)
		}
		for range n {
			<-arrived
		}
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	l.report(b)
}

var benchStreams = flag.Int("serve.streams", 100, "event streams in BenchmarkStreamLatency")
