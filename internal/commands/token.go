package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/serve"
)

// TokenOptions are the flags of `opsctl token` and its subcommands.
type TokenOptions struct {
	F       *Factory
	Name    string
	Scope   string
	Expires string
	Output  string
}

// tokenName is what a token may be called: it is typed in commands and
// shown in logs and errors.
var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func newTokenCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke the API tokens of 'opsctl serve'",
		Long: `Every request to 'opsctl serve' (its HTTP API, gRPC service and dashboard)
carries a token. A token has a scope: read (look), write (also submit,
cancel, retry) or admin (everything). The database keeps only a hash of
each token: it is shown once, when it is made.`,
		Example: `  opsctl token create ci --scope write --expires 90d > ci.token
  opsctl token list
  opsctl token revoke ci`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newTokenCreateCmd(f), newTokenListCmd(f), newTokenRevokeCmd(f))
	return cmd
}

func newTokenCreateCmd(f *Factory) *cobra.Command {
	opts := &TokenOptions{F: f}
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Make a token and print it, once, on stdout",
		Long: `Make an API token named NAME and print it alone on stdout (a note goes to
stderr), so that a script can keep it: it cannot be shown again. Names are
letters, digits, '.', '_' and '-', at most 64.

--scope is read (the default: look only), write (also submit, cancel and
retry) or admin. --expires takes a duration (90d, 12h, 2w); without it the
token lasts until revoked.`,
		Example: `  opsctl token create dashboard
  opsctl token create ci --scope write --expires 90d > /etc/opsctl/ci.token`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return runTokenCreate(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Scope, "scope", string(db.ScopeRead), "what it may do: read, write or admin")
	cmd.Flags().StringVar(&opts.Expires, "expires", "", "how long it lasts, e.g. 90d (default: until revoked)")
	cmd.RegisterFlagCompletionFunc("scope", fixedCompletion(string(db.ScopeRead), string(db.ScopeWrite), string(db.ScopeAdmin)))
	return cmd
}

func runTokenCreate(ctx context.Context, o *TokenOptions) error {
	if !tokenName.MatchString(o.Name) {
		return usageErrorf("token name %q: use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or digit)", o.Name)
	}
	scope := db.Scope(o.Scope)
	if !scope.Valid() {
		return usageErrorf("unknown --scope %q (want read, write or admin)", o.Scope)
	}
	var expires time.Time
	if o.Expires != "" {
		d, err := parseDuration("--expires", o.Expires)
		if err != nil {
			return err
		}
		if d <= 0 {
			return usageErrorf("--expires must be more than 0, got %q", o.Expires)
		}
		expires = o.F.Now().Add(d).UTC().Truncate(time.Second)
	}
	s, err := o.F.Store(ctx)
	if err != nil {
		return err
	}
	secret, hash := serve.NewToken()
	err = s.CreateToken(ctx, db.Token{Name: o.Name, Hash: hash, Scope: scope, ExpiresAt: expires})
	if errors.Is(err, db.ErrTokenExists) {
		return usageErrorf("a token named %q exists; revoke it first or pick another name", o.Name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(o.F.IO.Out, secret)
	until := "until revoked"
	if !expires.IsZero() {
		until = "until " + expires.Format(time.RFC3339)
	}
	fmt.Fprintf(o.F.IO.ErrOut, "token %q (%s) is valid %s; it is shown only now: keep it\n", o.Name, scope, until)
	return nil
}

func newTokenListCmd(f *Factory) *cobra.Command {
	opts := &TokenOptions{F: f}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tokens (names, scopes, expiry, last use; never the tokens)",
		Long: `List the API tokens: name, scope, when each was made, when it expires and
when it was last used (written at most once a minute). The tokens
themselves are not kept and cannot be shown.`,
		Example: `  opsctl token list
  opsctl token list -o json | jq -r '.[] | select(.expired) | .name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTokenList(cmd.Context(), opts) },
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", formatTable, "output format: table, json")
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatJSON))
	return cmd
}

// tokenView is one token in `token list -o json`. Field names are stable.
type tokenView struct {
	Name       string     `json:"name"`
	Scope      string     `json:"scope"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	Expired    bool       `json:"expired"`
}

func runTokenList(ctx context.Context, o *TokenOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON); err != nil {
		return err
	}
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	ts, err := s.Tokens(ctx)
	if err != nil {
		return err
	}
	now := o.F.Now()
	vs := make([]tokenView, len(ts))
	for i, t := range ts {
		vs[i] = tokenView{Name: t.Name, Scope: string(t.Scope), CreatedAt: t.CreatedAt.UTC(),
			ExpiresAt: optUTC(t.ExpiresAt), LastUsedAt: optUTC(t.LastUsedAt), Expired: t.Expired(now)}
	}
	if o.Output == formatJSON {
		return writeJSON(o.F.IO.Out, vs)
	}
	if len(vs) == 0 {
		fmt.Fprintln(o.F.IO.ErrOut, "no tokens (make one with 'opsctl token create NAME')")
		return nil
	}
	tty := o.F.IO.OutTTY
	when := func(t *time.Time, none string) string {
		if t == nil {
			return none
		}
		return formatTime(*t, now, tty)
	}
	tp := newTablePrinter(o.F.IO, "name", "scope", "created", "expires", "last used")
	for _, v := range vs {
		expires := when(v.ExpiresAt, "never")
		if v.Expired {
			expires = "expired " + expires
		}
		tp.Row(v.Name, v.Scope, formatTime(v.CreatedAt, now, tty), expires, when(v.LastUsedAt, "never"))
	}
	return tp.Render()
}

func optUTC(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func newTokenRevokeCmd(f *Factory) *cobra.Command {
	opts := &TokenOptions{F: f}
	cmd := &cobra.Command{
		Use:     "revoke NAME",
		Short:   "Delete a token: requests carrying it are refused from now on",
		Example: `  opsctl token revoke ci`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return runTokenRevoke(cmd.Context(), opts)
		},
	}
	return cmd
}

func runTokenRevoke(ctx context.Context, o *TokenOptions) error {
	s, err := o.F.Store(ctx)
	if err != nil {
		return err
	}
	if err := s.RevokeToken(ctx, o.Name); err != nil {
		return err
	}
	fmt.Fprintf(o.F.IO.ErrOut, "token %q revoked\n", o.Name)
	return nil
}
