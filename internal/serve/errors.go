package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/opsctl/opsctl/internal/db"
)

// Kind is what went wrong with a request, whatever the protocol: REST maps
// it to an HTTP status, gRPC to a code.
type Kind int

// The kinds of request errors.
const (
	KindInternal        Kind = iota
	KindMalformed            // the body is not what the endpoint reads (400)
	KindInvalid              // well-formed but refused by validation (422)
	KindTooLarge             // the body is over the limit (413)
	KindNotFound             // no such task (404)
	KindConflict             // the state machine does not allow it (409)
	KindUnauthenticated      // no token, or a wrong, expired or revoked one (401)
	KindForbidden            // the token's scope does not allow it (403)
	KindUnavailable          // the database cannot be reached (503)
)

// Error is a request error with a detail that names what was wrong.
type Error struct {
	Kind   Kind
	Detail string
}

func (e *Error) Error() string { return e.Detail }

func errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Detail: fmt.Sprintf(format, args...)}
}

// HTTPStatus is the HTTP status of a kind.
func (k Kind) HTTPStatus() int {
	switch k {
	case KindMalformed:
		return http.StatusBadRequest
	case KindInvalid:
		return http.StatusUnprocessableEntity
	case KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case KindNotFound:
		return http.StatusNotFound
	case KindConflict:
		return http.StatusConflict
	case KindUnauthenticated:
		return http.StatusUnauthorized
	case KindForbidden:
		return http.StatusForbidden
	case KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// asError turns any error from the store or validation into an *Error.
// Errors the client cannot act on keep their detail out of the response
// (it goes to the log instead).
func asError(err error) *Error {
	var e *Error
	var nf *db.NotFoundError
	var te *db.TransitionError
	var nw *db.NotWaitingError
	var xe *db.ExpiredError
	var ue *db.UnavailableError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &nf):
		return errorf(KindNotFound, "task %d not found", nf.ID)
	case errors.As(err, &te):
		return errorf(KindConflict, "%s", te.Error())
	case errors.As(err, &nw):
		return errorf(KindConflict, "%s", nw.Error())
	case errors.As(err, &xe):
		return errorf(KindConflict, "%s", xe.Error())
	case errors.As(err, &ue):
		return errorf(KindUnavailable, "the database is unavailable")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errorf(KindUnavailable, "the request was cancelled or timed out")
	}
	return errorf(KindInternal, "internal error")
}

// problem is an RFC 9457 problem details body.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// writeProblem answers with err as application/problem+json.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	status := e.Kind.HTTPStatus()
	switch e.Kind {
	case KindInternal:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case KindUnavailable:
		s.log.Warn("request not served", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if e.Kind == KindUnauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="opsctl"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: e.Detail})
}
