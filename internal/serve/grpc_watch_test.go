package serve

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
	opsctlv1 "github.com/opsctl/opsctl/proto/opsctl/v1"
	"github.com/opsctl/opsctl/proto/opsctl/v1/opsctlv1connect"
)

// grpcRecv reads the next event of a stream, failing if it ends.
func grpcRecv(t *testing.T, st *connect.ServerStreamForClient[opsctlv1.Event]) *opsctlv1.Event {
	t.Helper()
	require.True(t, st.Receive(), "the stream ended: %v", st.Err())
	return st.Msg()
}

// grpcKindText is an event's kind and its text, or for a status event the
// status it moved to.
func grpcKindText(e *opsctlv1.Event) [2]string {
	d := e.Data.GetStructValue().GetFields()
	if e.Kind == db.EventStatus {
		return [2]string{e.Kind, d["to"].GetStringValue()}
	}
	return [2]string{e.Kind, d["text"].GetStringValue()}
}

func TestGrpcWatchTask(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	c := ts.grpcClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts.submit(t, db.NewTask{Type: "exec", Input: json.RawMessage(`{"command":["true"]}`)})
	task := ts.claim(t, 1)[0]
	ts.emit(t, task, "stdout", map[string]string{"text": "before\n"})

	st, err := c.WatchTask(ctx, grpcCall(ts.Read, &opsctlv1.WatchTaskRequest{Id: task.ID}))
	require.NoError(t, err)
	defer st.Close()
	running := grpcRecv(t, st)
	require.Equal(t, [2]string{"status", "running"}, grpcKindText(running))
	require.Equal(t, task.ID, running.TaskId)
	require.NotNil(t, running.At)
	before := grpcRecv(t, st)
	require.Equal(t, [2]string{"stdout", "before\n"}, grpcKindText(before))

	// Live events, then the end after the final status.
	ts.emit(t, task, "stdout", map[string]string{"text": "live\n"})
	live := grpcRecv(t, st)
	require.Equal(t, [2]string{"stdout", "live\n"}, grpcKindText(live))
	require.Greater(t, live.Id, before.Id)
	ts.finish(t, task, db.StatusCompleted, "")
	require.Equal(t, [2]string{"status", "completed"}, grpcKindText(grpcRecv(t, st)))
	require.False(t, st.Receive(), "the stream ends after the final status")
	require.NoError(t, st.Err())

	// A finished task's stream replays after "after" and ends.
	st2, err := c.WatchTask(ctx, grpcCall(ts.Read, &opsctlv1.WatchTaskRequest{Id: task.ID, After: before.Id}))
	require.NoError(t, err)
	defer st2.Close()
	require.Equal(t, live.Id, grpcRecv(t, st2).Id)
	require.Equal(t, [2]string{"status", "completed"}, grpcKindText(grpcRecv(t, st2)))
	require.False(t, st2.Receive())
	require.NoError(t, st2.Err())

	for id, code := range map[int64]connect.Code{999: connect.CodeNotFound, 0: connect.CodeNotFound} {
		st, err := c.WatchTask(ctx, grpcCall(ts.Read, &opsctlv1.WatchTaskRequest{Id: id}))
		require.NoError(t, err)
		require.False(t, st.Receive())
		requireGrpcCode(t, code, st.Err())
		st.Close()
	}
	st3, err := c.WatchTask(ctx, grpcCall(ts.Read, &opsctlv1.WatchTaskRequest{Id: task.ID, After: -1}))
	require.NoError(t, err)
	require.False(t, st3.Receive())
	requireGrpcCode(t, connect.CodeInvalidArgument, st3.Err())
	st3.Close()
}

// TestGrpcWebAndConnect calls over HTTP/1 with the two other protocols the
// handlers speak.
func TestGrpcWebAndConnect(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	for name, opts := range map[string][]connect.ClientOption{
		"grpc-web":     {connect.WithGRPCWeb()},
		"connect":      nil,
		"connect-json": {connect.WithProtoJSON()},
	} {
		c := opsctlv1connect.NewTaskServiceClient(ts.srv.Client(), ts.URL, opts...)
		res, err := c.CreateTask(ctx, grpcCall(ts.Write, &opsctlv1.CreateTaskRequest{Type: "exec", Input: grpcStruct(t, map[string]any{"command": []any{"echo", name}})}))
		require.NoError(t, err, name)
		g, err := c.GetTask(ctx, grpcCall(ts.Read, &opsctlv1.GetTaskRequest{Id: res.Msg.Task.Id}))
		require.NoError(t, err, name)
		require.Equal(t, name, g.Msg.Input.Fields["command"].GetListValue().Values[1].GetStringValue())
		_, err = c.GetTask(ctx, grpcCall(ts.Read, &opsctlv1.GetTaskRequest{Id: 999}))
		requireGrpcCode(t, connect.CodeNotFound, err)
		_, err = c.CancelTask(ctx, grpcCall("", &opsctlv1.CancelTaskRequest{Id: res.Msg.Task.Id}))
		requireGrpcCode(t, connect.CodeUnauthenticated, err)

		// The stream of a cancelled task replays its status and ends.
		_, err = c.CancelTask(ctx, grpcCall(ts.Write, &opsctlv1.CancelTaskRequest{Id: res.Msg.Task.Id}))
		require.NoError(t, err, name)
		st, err := c.WatchTask(ctx, grpcCall(ts.Read, &opsctlv1.WatchTaskRequest{Id: res.Msg.Task.Id}))
		require.NoError(t, err, name)
		require.Equal(t, [2]string{"status", "cancelled"}, grpcKindText(grpcRecv(t, st)))
		require.False(t, st.Receive())
		require.NoError(t, st.Err(), name)
		st.Close()
	}
}
