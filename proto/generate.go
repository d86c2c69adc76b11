// Package proto holds the gRPC service definition of `opsctl serve`
// (opsctl/v1/tasks.proto) and the Go code generated from it, which is
// committed. See README.md here for regenerating it.
package proto

//go:generate go run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate
