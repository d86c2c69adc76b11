package serve

import (
	"context"
	"net/http"

	"connectrpc.com/connect"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/proto/opsctl/v1/opsctlv1connect"
)

// grpcAuth is the TaskService's interceptor: a call needs the token REST
// takes, as "authorization: Bearer TOKEN" metadata (the Authorization
// header), of the scope its procedure needs. The dashboard's cookie is not
// read: a browser sends cookies by itself, even for another site's page.
type grpcAuth struct{ s *Server }

// procedureScope is the scope a TaskService procedure needs. A procedure
// not named here needs admin, so that a new one is closed until listed.
func procedureScope(procedure string) db.Scope {
	switch procedure {
	case opsctlv1connect.TaskServiceGetTaskProcedure,
		opsctlv1connect.TaskServiceListTasksProcedure,
		opsctlv1connect.TaskServiceWatchTaskProcedure:
		return db.ScopeRead
	case opsctlv1connect.TaskServiceCreateTaskProcedure,
		opsctlv1connect.TaskServiceCancelTaskProcedure,
		opsctlv1connect.TaskServiceRetryTaskProcedure:
		return db.ScopeWrite
	}
	return db.ScopeAdmin
}

// check authenticates a call and returns its context with the token.
func (a grpcAuth) check(ctx context.Context, spec connect.Spec, h http.Header) (context.Context, error) {
	t, err := a.s.Authenticate(ctx, bearer(h.Get("Authorization")))
	if err == nil {
		err = Authorize(t, procedureScope(spec.Procedure))
	}
	if err != nil {
		return ctx, a.s.connectError(spec, err)
	}
	return withToken(ctx, t), nil
}

func (a grpcAuth) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		ctx, err := a.check(ctx, req.Spec(), req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (a grpcAuth) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		ctx, err := a.check(ctx, conn.Spec(), conn.RequestHeader())
		if err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

// WrapStreamingClient is a no-op: the interceptor is only a handler's.
func (a grpcAuth) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}
