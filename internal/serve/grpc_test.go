package serve

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/opsctl/opsctl/internal/db"
	opsctlv1 "github.com/opsctl/opsctl/proto/opsctl/v1"
	"github.com/opsctl/opsctl/proto/opsctl/v1/opsctlv1connect"
)

// h2cClient speaks only unencrypted HTTP/2, as gRPC clients do without TLS.
func h2cClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// grpcClient is a TaskService client speaking gRPC over h2c.
func (ts *testServer) grpcClient(t *testing.T) opsctlv1connect.TaskServiceClient {
	t.Helper()
	return opsctlv1connect.NewTaskServiceClient(h2cClient(t), ts.URL, connect.WithGRPC())
}

// grpcCall is a request carrying token ("" for none).
func grpcCall[T any](token string, msg *T) *connect.Request[T] {
	req := connect.NewRequest(msg)
	if token != "" {
		req.Header().Set("Authorization", "Bearer "+token)
	}
	return req
}

// requireGrpcCode checks that err is a connect error with code.
func requireGrpcCode(t *testing.T, code connect.Code, err error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, connect.CodeOf(err), "error: %v", err)
}

func grpcStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	require.NoError(t, err)
	return s
}

func grpcTaskCount(t *testing.T, ts *testServer) int64 {
	t.Helper()
	n, err := ts.store.Count(context.Background())
	require.NoError(t, err)
	return n
}

func TestGrpcCreateGet(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.grpcClient(t)
	ctx := context.Background()
	runAfter := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

	res, err := c.CreateTask(ctx, grpcCall(ts.Write, &opsctlv1.CreateTaskRequest{
		Type:        "exec",
		Input:       grpcStruct(t, map[string]any{"command": []any{"echo", "a<b&c"}, "dir": "/tmp"}),
		Name:        "greet",
		Queue:       "ops",
		Priority:    proto.Int32(7),
		MaxAttempts: proto.Int32(3),
		Timeout:     durationpb.New(90 * time.Second),
		RunAfter:    timestamppb.New(runAfter),
	}))
	require.NoError(t, err)
	require.False(t, res.Msg.Replayed)
	got := res.Msg.Task

	stored, err := ts.store.Get(ctx, got.Id)
	require.NoError(t, err)
	require.Equal(t, "exec", stored.Type)
	require.Equal(t, "greet", stored.Name)
	require.Equal(t, "ops", stored.Queue)
	require.Equal(t, 7, stored.Priority)
	require.Equal(t, 3, stored.MaxAttempts)
	require.Equal(t, 90*time.Second, stored.Timeout)
	require.True(t, runAfter.Equal(stored.RunAfter), "run_after %v", stored.RunAfter)
	require.JSONEq(t, `{"command":["echo","a<b&c"],"dir":"/tmp"}`, string(stored.Input))
	require.NotContains(t, string(stored.Input), `\u003c`)
	require.Equal(t, db.StatusPending, stored.Status)

	require.True(t, proto.Equal(taskProto(stored), got), "answer %v, stored %v", got, taskProto(stored))
	require.Equal(t, "pending", got.Status)
	require.Equal(t, 90*time.Second, got.Timeout.AsDuration())
	require.Nil(t, got.Result)
	require.Nil(t, got.StartedAt)
	require.Nil(t, got.FinishedAt)
	require.Nil(t, got.LeaseExpiresAt)

	// Unset fields take submit's defaults.
	res, err = c.CreateTask(ctx, grpcCall(ts.Write, &opsctlv1.CreateTaskRequest{
		Type: "agent", Input: grpcStruct(t, map[string]any{"prompt": "hi", "max_tokens": 1000000}),
	}))
	require.NoError(t, err)
	def := res.Msg.Task
	require.Equal(t, "default", def.Queue)
	require.Equal(t, int32(1), def.MaxAttempts)
	require.Nil(t, def.Timeout)
	stored, err = ts.store.Get(ctx, def.Id)
	require.NoError(t, err)
	require.JSONEq(t, `{"prompt":"hi","max_tokens":1000000}`, string(stored.Input))
	require.NotContains(t, string(stored.Input), "e+")

	g, err := c.GetTask(ctx, grpcCall(ts.Read, &opsctlv1.GetTaskRequest{Id: got.Id}))
	require.NoError(t, err)
	require.True(t, proto.Equal(got, g.Msg))

	for _, id := range []int64{0, -1, 999} {
		_, err = c.GetTask(ctx, grpcCall(ts.Read, &opsctlv1.GetTaskRequest{Id: id}))
		requireGrpcCode(t, connect.CodeNotFound, err)
	}
}

func TestGrpcCreateInvalid(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.grpcClient(t)
	exec := grpcStruct(t, map[string]any{"command": []any{"true"}})
	for name, req := range map[string]*opsctlv1.CreateTaskRequest{
		"no type":           {Input: exec},
		"unknown type":      {Type: "mail", Input: exec},
		"no input":          {Type: "exec"},
		"bad exec input":    {Type: "exec", Input: grpcStruct(t, map[string]any{"command": "true"})},
		"relative dir":      {Type: "exec", Input: grpcStruct(t, map[string]any{"command": []any{"true"}, "dir": "sub"})},
		"max_attempts 0":    {Type: "exec", Input: exec, MaxAttempts: proto.Int32(0)},
		"negative timeout":  {Type: "exec", Input: exec, Timeout: durationpb.New(-time.Second)},
		"timeout under 1ms": {Type: "exec", Input: exec, Timeout: durationpb.New(time.Microsecond)},
		"invalid run_after": {Type: "exec", Input: exec, RunAfter: &timestamppb.Timestamp{Nanos: -1}},
		"control character": {Type: "exec", Input: exec, Name: "a\nb"},
		"long key":          {Type: "exec", Input: exec, IdempotencyKey: string(make([]byte, 300))},
		"big input":         {Type: "exec", Input: grpcStruct(t, map[string]any{"command": []any{"echo", strings.Repeat("x", MaxBody)}})},
	} {
		_, err := c.CreateTask(context.Background(), grpcCall(ts.Write, req))
		code := connect.CodeInvalidArgument
		if name == "big input" {
			code = connect.CodeResourceExhausted
		}
		requireGrpcCode(t, code, err)
		require.NotEmpty(t, err.(*connect.Error).Message(), name)
		t.Logf("%s: %v", name, err)
	}
	require.Zero(t, grpcTaskCount(t, ts), "nothing is written")
}

func TestGrpcIdempotencyKey(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.grpcClient(t)
	ctx := context.Background()
	req := &opsctlv1.CreateTaskRequest{Type: "exec", Input: grpcStruct(t, map[string]any{"command": []any{"true"}}), IdempotencyKey: "nightly-1"}

	first, err := c.CreateTask(ctx, grpcCall(ts.Write, req))
	require.NoError(t, err)
	require.False(t, first.Msg.Replayed)
	require.Equal(t, "nightly-1", first.Msg.Task.Key)

	again, err := c.CreateTask(ctx, grpcCall(ts.Write, req))
	require.NoError(t, err)
	require.True(t, again.Msg.Replayed)
	require.Equal(t, first.Msg.Task.Id, again.Msg.Task.Id)

	other := proto.Clone(req).(*opsctlv1.CreateTaskRequest)
	other.Input = grpcStruct(t, map[string]any{"command": []any{"false"}})
	_, err = c.CreateTask(ctx, grpcCall(ts.Write, other))
	requireGrpcCode(t, connect.CodeInvalidArgument, err)
	require.Equal(t, int64(1), grpcTaskCount(t, ts))
}

func TestGrpcListTasks(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.grpcClient(t)
	ctx := context.Background()
	var ops []int64
	for i := range 5 {
		queue := "ops"
		if i%2 == 1 {
			queue = "other"
		}
		id := ts.submit(t, db.NewTask{Type: "exec", Name: "job", Queue: queue, Input: json.RawMessage(`{"command":["true"]}`)})
		if queue == "ops" {
			ops = append([]int64{id}, ops...) // newest first
		}
	}
	ts.submit(t, db.NewTask{Type: "agent", Name: "ask", Queue: "ops", Input: json.RawMessage(`{"prompt":"x"}`)})

	page := func(cursor string) *opsctlv1.ListTasksResponse {
		t.Helper()
		res, err := c.ListTasks(ctx, grpcCall(ts.Read, &opsctlv1.ListTasksRequest{
			Statuses: []string{"pending"}, Queues: []string{"ops"}, Types: []string{"exec"},
			Search: "jo", Limit: 2, Cursor: cursor,
		}))
		require.NoError(t, err)
		return res.Msg
	}
	var seen []int64
	p := page("")
	for {
		require.Equal(t, int64(3), p.Total)
		require.False(t, p.TotalCapped)
		for _, task := range p.Tasks {
			require.Equal(t, "ops", task.Queue)
			seen = append(seen, task.Id)
		}
		if p.NextCursor == "" {
			break
		}
		p = page(p.NextCursor)
	}
	require.Equal(t, ops, seen)

	all, err := c.ListTasks(ctx, grpcCall(ts.Read, &opsctlv1.ListTasksRequest{}))
	require.NoError(t, err)
	require.Len(t, all.Msg.Tasks, 6)
	require.Empty(t, all.Msg.NextCursor)

	for _, bad := range []*opsctlv1.ListTasksRequest{
		{Statuses: []string{"done"}}, {Limit: -1}, {Limit: MaxListLimit + 1}, {Cursor: "abc"},
	} {
		_, err := c.ListTasks(ctx, grpcCall(ts.Read, bad))
		requireGrpcCode(t, connect.CodeInvalidArgument, err)
	}
}

func TestGrpcCancelRetry(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.grpcClient(t)
	ctx := context.Background()
	id := ts.submit(t, db.NewTask{Type: "exec", Input: json.RawMessage(`{"command":["true"]}`)})

	_, err := c.RetryTask(ctx, grpcCall(ts.Write, &opsctlv1.RetryTaskRequest{Id: id}))
	requireGrpcCode(t, connect.CodeFailedPrecondition, err)

	res, err := c.CancelTask(ctx, grpcCall(ts.Write, &opsctlv1.CancelTaskRequest{Id: id}))
	require.NoError(t, err)
	require.Equal(t, "cancelled", res.Msg.Status)
	require.NotNil(t, res.Msg.FinishedAt)

	_, err = c.CancelTask(ctx, grpcCall(ts.Write, &opsctlv1.CancelTaskRequest{Id: id}))
	requireGrpcCode(t, connect.CodeFailedPrecondition, err)

	res, err = c.RetryTask(ctx, grpcCall(ts.Write, &opsctlv1.RetryTaskRequest{Id: id}))
	require.NoError(t, err)
	require.Equal(t, "pending", res.Msg.Status)
	stored, err := ts.store.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, db.StatusPending, stored.Status)

	_, err = c.CancelTask(ctx, grpcCall(ts.Write, &opsctlv1.CancelTaskRequest{Id: 999}))
	requireGrpcCode(t, connect.CodeNotFound, err)
	_, err = c.RetryTask(ctx, grpcCall(ts.Write, &opsctlv1.RetryTaskRequest{Id: 999}))
	requireGrpcCode(t, connect.CodeNotFound, err)
}

func TestGrpcAuth(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.grpcClient(t)
	ctx := context.Background()
	id := ts.submit(t, db.NewTask{Type: "exec", Input: json.RawMessage(`{"command":["true"]}`)})

	expired, hash := NewToken()
	require.NoError(t, ts.store.CreateToken(ctx, db.Token{Name: "old", Hash: hash, Scope: db.ScopeAdmin, ExpiresAt: time.Now().Add(-time.Hour)}))
	revoked := ts.token(t, "gone", db.ScopeAdmin)
	require.NoError(t, ts.store.RevokeToken(ctx, "gone"))

	for name, tok := range map[string]string{"none": "", "wrong": "opsctl_wrong", "expired": expired, "revoked": revoked} {
		_, err := c.GetTask(ctx, grpcCall(tok, &opsctlv1.GetTaskRequest{Id: id}))
		requireGrpcCode(t, connect.CodeUnauthenticated, err)
		_, err = c.CancelTask(ctx, grpcCall(tok, &opsctlv1.CancelTaskRequest{Id: id}))
		requireGrpcCode(t, connect.CodeUnauthenticated, err)
		st, err := c.WatchTask(ctx, grpcCall(tok, &opsctlv1.WatchTaskRequest{Id: id}))
		require.NoError(t, err)
		require.False(t, st.Receive(), name)
		requireGrpcCode(t, connect.CodeUnauthenticated, st.Err())
		st.Close()
	}

	// A read token reads but does not write.
	_, err := c.GetTask(ctx, grpcCall(ts.Read, &opsctlv1.GetTaskRequest{Id: id}))
	require.NoError(t, err)
	_, err = c.ListTasks(ctx, grpcCall(ts.Read, &opsctlv1.ListTasksRequest{}))
	require.NoError(t, err)
	_, err = c.CreateTask(ctx, grpcCall(ts.Read, &opsctlv1.CreateTaskRequest{Type: "exec", Input: grpcStruct(t, map[string]any{"command": []any{"true"}})}))
	requireGrpcCode(t, connect.CodePermissionDenied, err)
	_, err = c.CancelTask(ctx, grpcCall(ts.Read, &opsctlv1.CancelTaskRequest{Id: id}))
	requireGrpcCode(t, connect.CodePermissionDenied, err)
	_, err = c.RetryTask(ctx, grpcCall(ts.Read, &opsctlv1.RetryTaskRequest{Id: id}))
	requireGrpcCode(t, connect.CodePermissionDenied, err)
	require.Equal(t, int64(1), grpcTaskCount(t, ts))

	// Write and admin tokens write.
	_, err = c.CancelTask(ctx, grpcCall(ts.Admin, &opsctlv1.CancelTaskRequest{Id: id}))
	require.NoError(t, err)
	_, err = c.RetryTask(ctx, grpcCall(ts.Write, &opsctlv1.RetryTaskRequest{Id: id}))
	require.NoError(t, err)
}
