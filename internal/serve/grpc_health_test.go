package serve

import (
	"context"
	"testing"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/opsctl/opsctl/proto/opsctl/v1/opsctlv1connect"
)

func TestGrpcHealth(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	h := grpchealth.NewClient(h2cClient(t), ts.URL, connect.WithGRPC())
	ctx := context.Background()
	for _, svc := range []string{"", opsctlv1connect.TaskServiceName} {
		res, err := h.Check(ctx, &grpchealth.CheckRequest{Service: svc})
		require.NoError(t, err, "no token needed")
		require.Equal(t, grpchealth.StatusServing, res.Status, svc)
	}
	_, err := h.Check(ctx, &grpchealth.CheckRequest{Service: "nope.v1.Nope"})
	requireGrpcCode(t, connect.CodeNotFound, err)
}

func TestGrpcReflection(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	st := grpcreflect.NewClient(h2cClient(t), ts.URL, connect.WithGRPC()).NewStream(context.Background())
	defer st.Close()
	names, err := st.ListServices()
	require.NoError(t, err, "no token needed")
	require.Contains(t, names, protoreflect.FullName(opsctlv1connect.TaskServiceName))
	files, err := st.FileContainingSymbol(protoreflect.FullName(opsctlv1connect.TaskServiceName))
	require.NoError(t, err)
	require.Equal(t, "opsctl/v1/tasks.proto", files[0].GetName())
}
