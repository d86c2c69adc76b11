package serve

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/opsctl/opsctl/internal/db"
)

// TokenPrefix starts every API token, so that a leaked one is recognisable
// (secret scanners match on it) and a wrong paste is told apart early.
const TokenPrefix = "opsctl_"

// notBearer stands for an Authorization header of another scheme.
const notBearer = "\x00not bearer"

// SessionCookie is the dashboard's session: it holds the token the person
// logged in with (HttpOnly, SameSite=Strict), so a revoked or expired
// token ends the session at its next request.
const SessionCookie = "opsctl_session"

// NewToken makes a token secret and the hash that is stored for it.
func NewToken() (secret string, hash []byte) {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics instead)
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashToken(secret)
}

// HashToken is what the store keeps of a token: its SHA-256. Tokens are
// 256 random bits, so a fast hash is enough (no password stretching).
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// bearer returns the token of an Authorization header value, "" if none.
func bearer(header string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// Authenticate checks a token secret and returns its token. Its errors are
// *Error of KindUnauthenticated (or KindUnavailable).
func (s *Server) Authenticate(ctx context.Context, secret string) (db.Token, error) {
	if secret == notBearer {
		return db.Token{}, errorf(KindUnauthenticated, "the Authorization header must be \"Bearer TOKEN\"")
	}
	if secret == "" {
		return db.Token{}, errorf(KindUnauthenticated, "this request needs a token: send \"Authorization: Bearer TOKEN\" (opsctl token create NAME makes one)")
	}
	t, err := s.store.TokenByHash(ctx, HashToken(secret))
	if errors.Is(err, db.ErrNotFound) {
		return db.Token{}, errorf(KindUnauthenticated, "the token is not known: it is wrong or was revoked")
	}
	if err != nil {
		return db.Token{}, err
	}
	if t.Expired(s.now()) {
		return db.Token{}, errorf(KindUnauthenticated, "token %q expired at %s; make a new one with 'opsctl token create'", t.Name, t.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"))
	}
	s.used.mark(ctx, s.store, t.Name, s.now())
	return t, nil
}

// Authorize checks that t may do what need requires.
func Authorize(t db.Token, need db.Scope) error {
	if !t.Scope.Allows(need) {
		return errorf(KindForbidden, "token %q has scope %s; this needs %s", t.Name, t.Scope, need)
	}
	return nil
}

// requestToken is the token secret a request carries: the Authorization
// header, else the dashboard's session cookie. A header without the Bearer
// scheme yields a secret that cannot match, so that the error names it.
func requestToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if t := bearer(h); t != "" {
			return t
		}
		return notBearer
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value
	}
	return ""
}

type tokenKey struct{}

// withToken puts the request's token in its context.
func withToken(ctx context.Context, t db.Token) context.Context {
	return context.WithValue(ctx, tokenKey{}, t)
}

// TokenFrom returns the token a request was authenticated with.
func TokenFrom(ctx context.Context) (db.Token, bool) {
	t, ok := ctx.Value(tokenKey{}).(db.Token)
	return t, ok
}

// requireScope wraps an API handler: the request must carry a token of at
// least scope need, or it is answered with a problem.
func (s *Server) requireScope(need db.Scope, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, err := s.Authenticate(r.Context(), requestToken(r))
		if err == nil {
			err = Authorize(t, need)
		}
		if err != nil {
			s.writeProblem(w, r, err)
			return
		}
		h(w, r.WithContext(withToken(r.Context(), t)))
	}
}
