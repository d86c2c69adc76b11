package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"modernc.org/sqlite"
)

// sqliteSearchWeights weigh bm25 by column of task_search: a match in the
// name counts most, then the input (prompt, command) and the error, then
// the output.
const sqliteSearchWeights = "10.0, 4.0, 1.0, 4.0"

// sqliteSnippetTokens is how many tokens a snippet holds (FTS5's most).
// The index's tokens are trigrams, one per character, so that is about
// 64 characters.
const sqliteSnippetTokens = 64

// Search finds tasks through the task_search index (migration 8): the
// page of best-ranked ids first, then a snippet for each of them only.
func (s *SQLite) Search(ctx context.Context, q SearchQuery) ([]SearchHit, error) {
	n, err := parseSearch(q)
	if err != nil {
		return nil, err
	}
	match, short := fts5Query(n, q.FTS)
	args := []any{sql.Named("match", match), sql.Named("limit", searchLimit(q))}
	filter := ""
	for i, w := range short {
		// A word too short for the trigram index narrows the hits of the
		// others: it must occur in one of the columns.
		p := "short" + strconv.Itoa(i)
		args = append(args, sql.Named(p, likeContains(w)))
		var ors []string
		for _, col := range []string{"name", "input", "output", "error"} {
			ors = append(ors, "task_search."+col+" LIKE :"+p+` ESCAPE '\'`)
		}
		filter += " AND (" + strings.Join(ors, " OR ") + ")"
	}
	rows, err := s.r.QueryContext(ctx, `WITH top AS (
			SELECT rowid AS id, bm25(task_search, `+sqliteSearchWeights+`) AS score
			FROM task_search WHERE task_search MATCH :match`+filter+`
			ORDER BY score, rowid DESC LIMIT :limit)
		SELECT t.id, t.type, t.name, t.queue, t.status, t.error, t.created_at, t.finished_at,
			(SELECT snippet(task_search, -1, char(2), char(3), '…', `+strconv.Itoa(sqliteSnippetTokens)+`)
				FROM task_search WHERE task_search MATCH :match AND rowid = top.id)
		FROM top JOIN tasks t ON t.id = top.id
		ORDER BY top.score, top.id DESC`, args...)
	if err != nil {
		return nil, s.searchErr(q, err)
	}
	defer rows.Close()
	hits := []SearchHit{}
	for rows.Next() {
		var h SearchHit
		var created int64
		var finished sql.NullInt64
		var snippet sql.NullString
		if err := rows.Scan(&h.ID, &h.Type, &h.Name, &h.Queue, &h.Status, &h.Error, &created, &finished, &snippet); err != nil {
			return nil, s.searchErr(q, err)
		}
		h.CreatedAt, h.FinishedAt = fromMS(created), fromNullMS(finished)
		h.Snippet = cleanSnippet(snippet.String)
		hits = append(hits, h)
	}
	return hits, s.searchErr(q, rows.Err())
}

// searchErr reports an error of FTS5's own query parser (the query was
// parsed first, so it should never see one) as a SearchQueryError.
func (s *SQLite) searchErr(q SearchQuery, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && strings.Contains(se.Error(), "fts5:") {
		_, reason, _ := strings.Cut(se.Error(), "fts5: ")
		return &SearchQueryError{Query: q.Text, Reason: reason}
	}
	return s.classify(err)
}

// fts5Query writes n in FTS5's query syntax. Every term is a quoted
// string, which the trigram tokenizer matches as a substring, so
// punctuation is taken as typed and a prefix needs no *. As typed (fts
// false), words shorter than MinSearchTerm are returned apart, since the
// index cannot find them.
func fts5Query(n *searchNode, fts bool) (match string, short []string) {
	if !fts {
		var long []string
		for _, k := range n.kids {
			if utf8.RuneCountInString(k.text) < MinSearchTerm {
				short = append(short, k.text)
				continue
			}
			long = append(long, fts5String(k.text))
		}
		return strings.Join(long, " AND "), short
	}
	var b strings.Builder
	writeFTS5(&b, n)
	return b.String(), nil
}

func writeFTS5(b *strings.Builder, n *searchNode) {
	switch n.op {
	case "term":
		b.WriteString(fts5String(n.text))
	case "near":
		b.WriteString("NEAR(")
		for i, k := range n.kids {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(fts5String(k.text))
		}
		b.WriteString(", " + strconv.Itoa(fts5Near(n.dist)) + ")")
	default:
		b.WriteByte('(')
		writeFTS5(b, n.kids[0])
		b.WriteString(" " + strings.ToUpper(n.op) + " ")
		writeFTS5(b, n.kids[1])
		b.WriteByte(')')
	}
}

// fts5String quotes s as an FTS5 string.
func fts5String(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// fts5Near is NEAR's distance in the index's tokens for a distance of
// words: trigrams are one per character, so a word and the space after it
// are taken as 8 of them, and the last two trigrams of a term and the first
// of the next (which span the gap) as 2 more.
func fts5Near(words int) int { return 8*words + 2 }

// indexFinished indexes the tasks that finished in tx (migration 8's
// triggers queue them in task_search_pending), in id order, with one
// statement: FTS5 writes a segment at the end of each statement that
// changed it, so one per transaction instead of one per task. Every write
// transaction (SQLite.tx) calls it before it commits; on a schema older
// than migration 8 it does nothing.
func indexFinished(ctx context.Context, tx *sql.Tx) error {
	var pending bool
	err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM task_search_pending)`).Scan(&pending)
	if err != nil && strings.Contains(err.Error(), "no such table: task_search_pending") {
		return nil
	}
	if err != nil || !pending {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO task_search (rowid, name, input, output, error)
		SELECT d.id, d.name, d.input, d.output, d.error
		FROM task_search_pending p JOIN task_search_doc d ON d.id = p.id ORDER BY d.id`); err != nil {
		return fmt.Errorf("index finished tasks: %w", err)
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM task_search_pending`)
	return err
}

// withSearchIndex runs fn in tx, then indexes the tasks it finished.
func withSearchIndex(ctx context.Context, tx *sql.Tx, fn func(*sql.Tx) error) error {
	if err := fn(tx); err != nil {
		return err
	}
	return indexFinished(ctx, tx)
}

// indexImported rebuilds the search index after `db copy` wrote the tasks
// of an empty database (err is the copy's): no trigger indexes a task that
// is inserted finished.
func indexImported(ctx context.Context, tx *sql.Tx, err error) error {
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO task_search (task_search) VALUES ('rebuild')`); err != nil {
		return fmt.Errorf("index copied tasks: %w", err)
	}
	return nil
}
