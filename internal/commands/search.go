package commands

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opsctl/opsctl/internal/agent"
	"github.com/opsctl/opsctl/internal/db"
)

// SearchOptions are the flags of `opsctl search`.
type SearchOptions struct {
	F      *Factory
	Query  string
	Limit  int
	FTS    bool
	Output string
}

func newSearchCmd(f *Factory, runF func(context.Context, *SearchOptions) error) *cobra.Command {
	opts := &SearchOptions{F: f}
	cmd := &cobra.Command{
		Use:   "search QUERY...",
		Short: "Search tasks' names, prompts, commands, answers, output and errors",
		Long: `Search the text of tasks: names, agent prompts and answers, exec commands
and the tails of their output, and errors. The best matches come first,
equal ones newest first, each with the text around its match.

The query is searched as typed: every word in it must occur in a task,
punctuation and all (db-backup, api.example.com, /var/log), ignoring case.
A word needs 3 characters; shorter words only narrow what a longer one
finds. Several arguments are one query.

--fts reads the query in the search syntax instead: "a phrase", AND (or
nothing between words), OR, NOT (a NOT b), NEAR(a b, N) (within about N
words), parentheses, and word* (a prefix). A malformed query exits 2.

On SQLite a word matches anywhere inside a word of the text ("backup"
finds "db-backups"); on PostgreSQL it matches words and their beginnings
("back" finds "backup", "ackup" does not).`,
		Example: `  opsctl search db-backup
  opsctl search 'connection refused' --limit 5
  opsctl search --fts 'backup AND (failed OR timeout)'
  opsctl search api.example.com -o json | jq -r '.[].id'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Query = strings.Join(args, " ")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSearch(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&opts.Limit, "limit", "L", db.DefaultSearchLimit, "at most this many tasks (1-"+strconv.Itoa(db.MaxSearchLimit)+")")
	fl.BoolVar(&opts.FTS, "fts", false, "read the query in the search syntax (OR, NOT, NEAR, \"phrase\", prefix*)")
	fl.StringVarP(&opts.Output, "output", "o", formatTable, "output format: table, json, jsonl")
	cmd.RegisterFlagCompletionFunc("output", fixedCompletion(formatTable, formatJSON, formatJSONL))
	return cmd
}

// searchHitJSON is a hit in -o json: stable field names.
type searchHitJSON struct {
	ID         int64      `json:"id"`
	Type       string     `json:"type"`
	Name       string     `json:"name"`
	Queue      string     `json:"queue"`
	Status     string     `json:"status"`
	Error      string     `json:"error"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Snippet    string     `json:"snippet"`
}

// snippetMarks removes the store's match marks.
var snippetMarks = strings.NewReplacer(db.SnippetMatchStart, "", db.SnippetMatchEnd, "")

func runSearch(ctx context.Context, o *SearchOptions) error {
	if err := checkFormat(o.Output, formatTable, formatJSON, formatJSONL); err != nil {
		return err
	}
	if o.Limit < 1 || o.Limit > db.MaxSearchLimit {
		return usageErrorf("--limit must be 1 to %d, got %d", db.MaxSearchLimit, o.Limit)
	}
	if len(o.Query) > maxQueryBytes {
		return usageErrorf("the query is %d bytes; the limit is %d", len(o.Query), maxQueryBytes)
	}
	s, err := o.F.ReadStore(ctx)
	if err != nil {
		return err
	}
	hits, err := s.Search(ctx, db.SearchQuery{Text: o.Query, FTS: o.FTS, Limit: o.Limit})
	var qe *db.SearchQueryError
	if errors.As(err, &qe) {
		return usageErr(err)
	}
	if err != nil {
		return err
	}
	io := o.F.IO
	if o.Output == formatJSON || o.Output == formatJSONL {
		out := make([]searchHitJSON, len(hits))
		for i, h := range hits {
			out[i] = searchHitJSON{ID: h.ID, Type: h.Type, Name: h.Name, Queue: h.Queue, Status: string(h.Status),
				Error: h.Error, CreatedAt: h.CreatedAt.UTC(), Snippet: snippetMarks.Replace(h.Snippet)}
			if !h.FinishedAt.IsZero() {
				t := h.FinishedAt.UTC()
				out[i].FinishedAt = &t
			}
		}
		if o.Output == formatJSONL {
			return writeJSONL(io.Out, out)
		}
		return writeJSON(io.Out, out)
	}
	if len(hits) == 0 {
		if io.OutTTY {
			io.ErrOut.Write([]byte("no tasks match\n"))
		}
		return nil
	}
	now := o.F.Now()
	tp := newTablePrinter(io, "ID", "STATUS", "TYPE", "NAME", "WHEN", "MATCH").Flex(3, 5)
	for _, h := range hits {
		when := h.FinishedAt
		if when.IsZero() {
			when = h.CreatedAt
		}
		tp.Row(strconv.FormatInt(h.ID, 10), string(h.Status), h.Type, h.Name, formatTime(when, now, io.OutTTY),
			snippetMarks.Replace(h.Snippet))
	}
	tp.Paint(1, func(i int, cell string) string { return paint(statusColor(string(hits[i].Status)), cell) })
	return tp.Render()
}

// searchTasksFunc is the agent's search_tasks over the factory's store: the
// query as typed, as `opsctl search` takes it. The runner has opened the
// store before any task runs.
func searchTasksFunc(f *Factory) agent.SearchTasksFunc {
	return func(ctx context.Context, query string, limit int) ([]db.SearchHit, error) {
		s, err := f.Store(ctx)
		if err != nil {
			return nil, err
		}
		return s.Search(ctx, db.SearchQuery{Text: query, Limit: limit})
	}
}

// maxQueryBytes bounds a search query: a person types a few words, and a
// huge --fts query only overflows the full-text parser.
const maxQueryBytes = 1024
