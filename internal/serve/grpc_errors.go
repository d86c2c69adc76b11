package serve

import (
	"errors"

	"connectrpc.com/connect"
)

// grpcCode is the gRPC code of a kind.
func (k Kind) grpcCode() connect.Code {
	switch k {
	case KindUnauthenticated:
		return connect.CodeUnauthenticated
	case KindForbidden:
		return connect.CodePermissionDenied
	case KindNotFound:
		return connect.CodeNotFound
	case KindInvalid, KindMalformed:
		return connect.CodeInvalidArgument
	case KindConflict:
		return connect.CodeFailedPrecondition
	case KindTooLarge:
		return connect.CodeResourceExhausted
	case KindUnavailable:
		return connect.CodeUnavailable
	}
	return connect.CodeInternal
}

// connectError turns an error of an operation into the error a call
// answers with. As for REST, errors the client cannot act on are logged,
// and their detail stays out of the answer (asError sees to that).
func (s *Server) connectError(spec connect.Spec, err error) error {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce // from connect itself, such as a failed send
	}
	e := asError(err)
	switch e.Kind {
	case KindInternal:
		s.log.Error("request failed", "procedure", spec.Procedure, "err", err)
	case KindUnavailable:
		s.log.Warn("request not served", "procedure", spec.Procedure, "err", err)
	}
	return connect.NewError(e.Kind.grpcCode(), errors.New(e.Detail))
}
