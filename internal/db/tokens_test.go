package db_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opsctl/opsctl/internal/db"
)

// tokenHash is the hash a token of secret is stored under.
func tokenHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func TestTokens(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, s db.Backend, c *clock) {
		ctx := context.Background()
		toks, err := s.Tokens(ctx)
		require.NoError(t, err)
		require.Empty(t, toks)

		// Times are kept in UTC, to the millisecond, whatever zone they
		// come in.
		zone := time.FixedZone("UTC+2", 2*3600)
		expires := c.Now().Add(24*time.Hour + 123456*time.Nanosecond).In(zone)
		require.NoError(t, s.CreateToken(ctx, db.Token{Name: "zeta", Hash: tokenHash("s1"), Scope: db.ScopeRead, ExpiresAt: expires}))
		c.Add(time.Minute)
		require.NoError(t, s.CreateToken(ctx, db.Token{Name: "alpha", Hash: tokenHash("s2"), Scope: db.ScopeAdmin}))
		zeta := db.Token{Name: "zeta", Hash: tokenHash("s1"), Scope: db.ScopeRead, CreatedAt: c.Now().Add(-time.Minute),
			ExpiresAt: expires.UTC().Truncate(time.Millisecond)}
		alpha := db.Token{Name: "alpha", Hash: tokenHash("s2"), Scope: db.ScopeAdmin, CreatedAt: c.Now()}

		toks, err = s.Tokens(ctx)
		require.NoError(t, err)
		require.Equal(t, []db.Token{zeta, alpha}, toks, "oldest first")

		// A name is taken once; the first token stays as it was.
		err = s.CreateToken(ctx, db.Token{Name: "zeta", Hash: tokenHash("s3"), Scope: db.ScopeAdmin})
		require.ErrorIs(t, err, db.ErrTokenExists)
		require.Contains(t, err.Error(), `"zeta"`)
		// So is a hash (a secret is never issued twice).
		err = s.CreateToken(ctx, db.Token{Name: "other", Hash: tokenHash("s1"), Scope: db.ScopeRead})
		require.Error(t, err)
		require.NotErrorIs(t, err, db.ErrTokenExists)
		// What the table refuses is refused in words.
		for _, bad := range []db.Token{
			{Name: "", Hash: tokenHash("x"), Scope: db.ScopeRead},
			{Name: "short", Hash: []byte("not a sha256"), Scope: db.ScopeRead},
			{Name: "scope", Hash: tokenHash("y"), Scope: "root"},
		} {
			require.Error(t, s.CreateToken(ctx, bad), "%+v", bad)
		}
		toks, err = s.Tokens(ctx)
		require.NoError(t, err)
		require.Equal(t, []db.Token{zeta, alpha}, toks)

		got, err := s.TokenByHash(ctx, tokenHash("s1"))
		require.NoError(t, err)
		require.Equal(t, zeta, got)
		_, err = s.TokenByHash(ctx, tokenHash("unknown"))
		require.ErrorIs(t, err, db.ErrNotFound)
		var tnf *db.TokenNotFoundError
		require.NotErrorAs(t, err, &tnf, "an unknown hash names no token")

		c.Add(time.Hour)
		require.NoError(t, s.TokenUsed(ctx, "alpha"))
		got, err = s.TokenByHash(ctx, tokenHash("s2"))
		require.NoError(t, err)
		alpha.LastUsedAt = c.Now()
		require.Equal(t, alpha, got)

		require.NoError(t, s.RevokeToken(ctx, "alpha"))
		_, err = s.TokenByHash(ctx, tokenHash("s2"))
		require.ErrorIs(t, err, db.ErrNotFound)
		err = s.RevokeToken(ctx, "alpha")
		require.ErrorAs(t, err, &tnf)
		require.Equal(t, "alpha", tnf.Name)
		require.ErrorIs(t, err, db.ErrNotFound)
		require.ErrorAs(t, s.TokenUsed(ctx, "alpha"), &tnf)
		toks, err = s.Tokens(ctx)
		require.NoError(t, err)
		require.Equal(t, []db.Token{zeta}, toks)

		// A revoked name can be given again.
		require.NoError(t, s.CreateToken(ctx, db.Token{Name: "alpha", Hash: tokenHash("s4"), Scope: db.ScopeWrite}))
	})
}
