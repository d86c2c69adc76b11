package serve

import (
	"context"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	"github.com/opsctl/opsctl/proto/opsctl/v1/opsctlv1connect"
)

// grpcHealth answers the gRPC health protocol. The server as a whole
// (service "") is serving while it runs, as GET /healthz says; the
// TaskService is serving while the database answers, as GET /readyz says.
type grpcHealth struct{ s *Server }

func (h grpcHealth) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	switch req.Service {
	case "":
		return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
	case opsctlv1connect.TaskServiceName:
	default:
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no service %q here; ask for %q, or \"\" for the server", req.Service, opsctlv1connect.TaskServiceName))
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := h.s.store.LastEventID(ctx); err != nil {
		h.s.log.Warn("health check failed", "err", err)
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}
