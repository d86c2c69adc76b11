package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// sseMsg is one Server-Sent Events message.
type sseMsg struct {
	ID    string
	Event string
	Data  string
}

// sseClient reads a stream message by message.
type sseClient struct {
	resp *http.Response
	msgs chan sseMsg
}

func (ts *testServer) stream(t *testing.T, path, token string, header ...string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.srv.Client().Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	c := &sseClient{resp: resp, msgs: make(chan sseMsg, 100)}
	go func() {
		defer close(c.msgs)
		sc := bufio.NewScanner(resp.Body)
		var m sseMsg
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if m.Data != "" || m.Event != "" {
					c.msgs <- m
				}
				m = sseMsg{}
			case strings.HasPrefix(line, "id: "):
				m.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				m.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				m.Data = line[6:]
			}
		}
	}()
	return c
}

// next returns the next message, failing after a generous deadline.
func (c *sseClient) next(t *testing.T) sseMsg {
	t.Helper()
	select {
	case m, ok := <-c.msgs:
		require.True(t, ok, "the stream ended")
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return sseMsg{}
}

// closed waits for the stream's end.
func (c *sseClient) closed(t *testing.T) {
	t.Helper()
	select {
	case m, ok := <-c.msgs:
		require.False(t, ok, "a message after the end: %+v", m)
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not close within 10s")
	}
}

func eventKindText(t *testing.T, m sseMsg) (string, string) {
	t.Helper()
	var e struct {
		Kind string `json:"kind"`
		Data struct {
			Text string    `json:"text"`
			To   db.Status `json:"to"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(m.Data), &e), m.Data)
	if e.Kind == "status" {
		return e.Kind, string(e.Data.To)
	}
	return e.Kind, e.Data.Text
}

func TestSSEReplayLiveEnd(t *testing.T) {
	ts := newTestServer(t)
	ts.submit(t, db.NewTask{Type: "exec", Input: json.RawMessage(`{"command":["true"]}`)})
	task := ts.claim(t, 1)[0]
	ts.emit(t, task, "stdout", map[string]string{"text": "before\n"})

	c := ts.stream(t, fmt.Sprintf("/api/v1/tasks/%d/events/stream", task.ID), ts.Read)
	require.Equal(t, "text/event-stream", c.resp.Header.Get("Content-Type"))
	m := c.next(t)
	k, v := eventKindText(t, m)
	require.Equal(t, []string{"status", "running"}, []string{k, v})
	firstID := m.ID
	_, v = eventKindText(t, c.next(t))
	require.Equal(t, "before\n", v)

	// Live: written by the store (as a runner in another process would).
	ts.emit(t, task, "stdout", map[string]string{"text": "during\n"})
	m = c.next(t)
	_, v = eventKindText(t, m)
	require.Equal(t, "during\n", v)
	duringID := m.ID

	ts.finish(t, task, db.StatusCompleted, "")
	k, v = eventKindText(t, c.next(t))
	require.Equal(t, []string{"status", "completed"}, []string{k, v})
	require.Equal(t, "end", c.next(t).Event)
	c.closed(t)

	// Resume after an event: only the later ones, then the end at once.
	c = ts.stream(t, fmt.Sprintf("/api/v1/tasks/%d/events/stream", task.ID), ts.Read, "Last-Event-ID", duringID)
	m = c.next(t)
	_, v = eventKindText(t, m)
	require.Equal(t, "completed", v)
	require.Equal(t, "end", c.next(t).Event)
	c.closed(t)

	a, _ := strconv.ParseInt(firstID, 10, 64)
	c = ts.stream(t, fmt.Sprintf("/api/v1/tasks/%d/events/stream?after=%d", task.ID, a), ts.Read)
	_, v = eventKindText(t, c.next(t))
	require.Equal(t, "before\n", v)
}

func TestSSEErrors(t *testing.T) {
	ts := newTestServer(t)
	resp, b := ts.do(t, "GET", "/api/v1/tasks/5/events/stream", ts.Read, "")
	problemOf(t, resp, b, 404)
	resp, b = ts.do(t, "GET", "/api/v1/tasks/5/events/stream", "", "")
	problemOf(t, resp, b, 401)
	id := ts.submit(t, db.NewTask{Type: "exec", Input: json.RawMessage(`{"command":["true"]}`)})
	resp, b = ts.do(t, "GET", fmt.Sprintf("/api/v1/tasks/%d/events/stream", id), ts.Read, "", "Last-Event-ID", "x")
	problemOf(t, resp, b, 422)
}

func TestSSEAllTasksStatus(t *testing.T) {
	ts := newTestServer(t)
	c := ts.stream(t, "/api/v1/events/stream?kind=status", ts.Read)
	ts.submit(t, db.NewTask{Type: "exec", Input: json.RawMessage(`{"command":["true"]}`)})
	task := ts.claim(t, 1)[0]
	ts.emit(t, task, "stdout", map[string]string{"text": "not a status\n"})
	ts.finish(t, task, db.StatusFailed, "boom")
	_, v := eventKindText(t, c.next(t))
	require.Equal(t, "running", v)
	_, v = eventKindText(t, c.next(t))
	require.Equal(t, "failed", v)
}

// TestSSEManyStreamsOneQuery checks the hub: many open streams do not
// multiply the reads of new events.
func TestSSEManyStreamsOneQuery(t *testing.T) {
	ts := newTestServer(t)
	ts.submit(t, db.NewTask{Type: "exec", Input: json.RawMessage(`{"command":["true"]}`)})
	task := ts.claim(t, 1)[0]
	var cs []*sseClient
	for range 50 {
		c := ts.stream(t, fmt.Sprintf("/api/v1/tasks/%d/events/stream", task.ID), ts.Read)
		c.next(t) // the replayed status event
		cs = append(cs, c)
	}
	require.Equal(t, 50, ts.hub.streams())
	ts.emit(t, task, "stdout", map[string]string{"text": "to all\n"})
	for _, c := range cs {
		_, v := eventKindText(t, c.next(t))
		require.Equal(t, "to all\n", v)
	}
}

func TestSSEShutdownEndsStreams(t *testing.T) {
	ts := newTestServer(t)
	ts.submit(t, db.NewTask{Type: "exec", Input: json.RawMessage(`{"command":["true"]}`)})
	task := ts.claim(t, 1)[0]
	c := ts.stream(t, fmt.Sprintf("/api/v1/tasks/%d/events/stream", task.ID), ts.Read)
	c.next(t)
	ts.hub.close()
	require.Equal(t, "error", c.next(t).Event)
	c.closed(t)
}

// TestSSEAllTasksResumeReplaysEverything resumes the all-tasks stream from
// far behind: every missed event arrives, in order, then live ones.
func TestSSEAllTasksResumeReplaysEverything(t *testing.T) {
	ts := newTestServer(t)
	var nts []db.NewTask
	for range 1500 {
		nts = append(nts, db.NewTask{Type: "exec", Input: json.RawMessage(`{"command":["true"]}`)})
	}
	_, err := ts.store.SubmitBatch(context.Background(), nts)
	require.NoError(t, err)
	claimed := ts.claim(t, 1500) // 1,500 status events
	c := ts.stream(t, "/api/v1/events/stream", ts.Read, "Last-Event-ID", "1")
	last := int64(1)
	for range 1499 {
		id, err := strconv.ParseInt(c.next(t).ID, 10, 64)
		require.NoError(t, err)
		require.Equal(t, last+1, id)
		last = id
	}
	ts.emit(t, claimed[0], "stdout", map[string]string{"text": "live\n"})
	_, v := eventKindText(t, c.next(t))
	require.Equal(t, "live\n", v)
}

// countingStore counts the reads of new events across all tasks.
type countingStore struct {
	db.Backend
	since atomic.Int64
}

func (c *countingStore) EventsSince(ctx context.Context, after int64, limit int) ([]db.Event, error) {
	c.since.Add(1)
	return c.Backend.EventsSince(ctx, after, limit)
}

// TestSSEStreamsShareOneReadPerTick: 50 open streams and 20 written events
// cost the database about one read of new events per tick, not one per
// stream.
func TestSSEStreamsShareOneReadPerTick(t *testing.T) {
	ts := newTestServer(t)
	cs := &countingStore{Backend: ts.store}
	s := New(Options{Store: cs, Validator: testRegistry(), Tick: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close(); cancel(); <-done })
	other := &testServer{Server: s, store: ts.store, srv: srv, URL: srv.URL}

	ts.submit(t, db.NewTask{Type: "exec", Input: json.RawMessage(`{"command":["true"]}`)})
	task := ts.claim(t, 1)[0]
	var streams []*sseClient
	for range 50 {
		c := other.stream(t, fmt.Sprintf("/api/v1/tasks/%d/events/stream", task.ID), ts.Read)
		c.next(t)
		streams = append(streams, c)
	}
	start := time.Now()
	before := cs.since.Load()
	for i := range 20 {
		ts.emit(t, task, "stdout", map[string]string{"text": fmt.Sprintf("line %d\n", i)})
		for _, c := range streams {
			c.next(t)
		}
	}
	reads := cs.since.Load() - before
	ticks := int64(time.Since(start)/(20*time.Millisecond)) + 2
	require.LessOrEqual(t, reads, ticks+20, "%d reads of new events in %d ticks for 50 streams", reads, ticks)
	require.Less(t, reads, int64(50*20), "a read per stream per event")
}
