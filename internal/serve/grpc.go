package serve

import (
	"context"
	"net/http"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/opsctl/opsctl/internal/db"
	opsctlv1 "github.com/opsctl/opsctl/proto/opsctl/v1"
	"github.com/opsctl/opsctl/proto/opsctl/v1/opsctlv1connect"
)

// grpcRoutes adds the Connect / gRPC / gRPC-Web TaskService: connect-go
// handlers speak all three, over HTTP/1 and (unencrypted or TLS) HTTP/2,
// on the same port as REST.
func (s *Server) grpcRoutes(mux *http.ServeMux) {
	mux.Handle(opsctlv1connect.NewTaskServiceHandler(grpcTasks{s},
		connect.WithInterceptors(grpcAuth{s}),
		connect.WithReadMaxBytes(MaxBody),
	))
	// Health and reflection need no token, like GET /healthz: probes and
	// tools such as grpcurl call them before they have one, and what they
	// tell (up or not, and the service's schema, which is public in
	// proto/) is no secret.
	mux.Handle(grpchealth.NewHandler(grpcHealth{s}))
	reflector := grpcreflect.NewStaticReflector(opsctlv1connect.TaskServiceName, grpchealth.HealthV1ServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))
}

// grpcTasks is the TaskService: each method translates its request for
// the Server's transport-neutral operation (tasks.go) and its answer back.
type grpcTasks struct{ s *Server }

var _ opsctlv1connect.TaskServiceHandler = grpcTasks{}

func (g grpcTasks) CreateTask(ctx context.Context, req *connect.Request[opsctlv1.CreateTaskRequest]) (*connect.Response[opsctlv1.CreateTaskResponse], error) {
	body, err := createLine(req.Msg)
	if err != nil {
		return nil, g.s.connectError(req.Spec(), err)
	}
	c, err := g.s.CreateTask(ctx, body, "")
	if err != nil {
		return nil, g.s.connectError(req.Spec(), err)
	}
	return connect.NewResponse(&opsctlv1.CreateTaskResponse{Task: taskProto(c.Task), Replayed: c.Replayed}), nil
}

func (g grpcTasks) GetTask(ctx context.Context, req *connect.Request[opsctlv1.GetTaskRequest]) (*connect.Response[opsctlv1.Task], error) {
	return g.taskAction(ctx, req.Spec(), req.Msg.Id, g.s.GetTask)
}

func (g grpcTasks) CancelTask(ctx context.Context, req *connect.Request[opsctlv1.CancelTaskRequest]) (*connect.Response[opsctlv1.Task], error) {
	return g.taskAction(ctx, req.Spec(), req.Msg.Id, g.s.CancelTask)
}

func (g grpcTasks) RetryTask(ctx context.Context, req *connect.Request[opsctlv1.RetryTaskRequest]) (*connect.Response[opsctlv1.Task], error) {
	return g.taskAction(ctx, req.Spec(), req.Msg.Id, g.s.RetryTask)
}

// taskAction answers with the task op returns for id.
func (g grpcTasks) taskAction(ctx context.Context, spec connect.Spec, id int64, op func(context.Context, int64) (db.Task, error)) (*connect.Response[opsctlv1.Task], error) {
	err := checkID(id)
	if err == nil {
		var t db.Task
		if t, err = op(ctx, id); err == nil {
			return connect.NewResponse(taskProto(t)), nil
		}
	}
	return nil, g.s.connectError(spec, err)
}

func (g grpcTasks) ListTasks(ctx context.Context, req *connect.Request[opsctlv1.ListTasksRequest]) (*connect.Response[opsctlv1.ListTasksResponse], error) {
	m := req.Msg
	p, err := g.s.ListTasks(ctx, ListQuery{
		Statuses: m.Statuses, Queues: m.Queues, Types: m.Types,
		Search: m.Search, Limit: int(m.Limit), Cursor: m.Cursor,
	})
	if err != nil {
		return nil, g.s.connectError(req.Spec(), err)
	}
	out := &opsctlv1.ListTasksResponse{Tasks: make([]*opsctlv1.Task, len(p.Tasks)), Total: p.Total, TotalCapped: p.Capped, NextCursor: p.NextCursor}
	for i, t := range p.Tasks {
		out.Tasks[i] = taskProto(t)
	}
	return connect.NewResponse(out), nil
}

func (g grpcTasks) WatchTask(ctx context.Context, req *connect.Request[opsctlv1.WatchTaskRequest], st *connect.ServerStream[opsctlv1.Event]) error {
	err := checkID(req.Msg.Id)
	if err == nil && req.Msg.After < 0 {
		err = errorf(KindInvalid, "after must be an event id of at least 0, got %d", req.Msg.After)
	}
	if err == nil {
		// Events only, no keep-alive messages (the protocols have no
		// comment frames): a client that needs them uses HTTP/2 pings.
		err = g.s.Watch(ctx, req.Msg.Id, req.Msg.After, func(e db.Event) error { return st.Send(eventProto(e)) }, nil)
	}
	if err != nil {
		return g.s.connectError(req.Spec(), err)
	}
	return nil
}

// checkID refuses an id no task can have, as ParseID does for REST.
func checkID(id int64) error {
	if id < 1 {
		return errorf(KindNotFound, "task %d not found: ids are positive whole numbers", id)
	}
	return nil
}
