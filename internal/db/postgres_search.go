package db

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgSearchVector is the expression the tasks_search index (migration 8)
// holds; a query must name it exactly for the index to serve it.
const pgSearchVector = `task_search_vector(task_search_text(t.type, t.name, t.input, t.result, t.error))`

// pgTermQuery is the tsquery of the text in parameter %[1]s: each word
// (lexeme) the 'simple' configuration finds in it as a prefix, joined by
// %[2]s (& for words anywhere, <-> for a phrase). NULL when the text has
// no word at all.
const pgTermQuery = `(SELECT string_agg('''' || replace(replace(w.lexeme, '\', '\\'), '''', '''''') || ''':*', ' %[2]s ' ORDER BY w.pos)::tsquery
	FROM (SELECT v.lexeme, p AS pos FROM unnest(to_tsvector('pg_catalog.simple', %[1]s)) v, unnest(v.positions) p) w)`

// pgSearchRankWindow is how many matching tasks, the newest, PostgreSQL
// ranks: the index finds matches, but their rank is computed from the
// task's text, about as costly as indexing it, so a word found in every
// task would cost a search seconds at a million tasks.
const pgSearchRankWindow = 10_000

// Search finds tasks through PostgreSQL's text search: the query is made
// into a tsquery first, then the index finds the matching tasks, ts_rank
// orders the newest pgSearchRankWindow of them, and ts_headline makes the
// snippets of the page only.
func (s *Postgres) Search(ctx context.Context, q SearchQuery) ([]SearchHit, error) {
	n, err := parseSearch(q)
	if err != nil {
		return nil, err
	}
	expr, args := pgTSQuery(n, q)
	var tsq *string
	if err := s.pool.QueryRow(ctx, `SELECT (`+expr+`)::text`, args...).Scan(&tsq); err != nil {
		return nil, s.classify(err)
	}
	if tsq == nil || *tsq == "" {
		// Nothing in the query is a word PostgreSQL indexes ("---").
		return []SearchHit{}, nil
	}
	rows, err := s.pool.Query(ctx, `WITH m AS MATERIALIZED (
			SELECT t.id FROM tasks t WHERE t.finished_at IS NOT NULL AND `+pgSearchVector+` @@ $1::tsquery
			ORDER BY t.id DESC LIMIT $3),
		top AS (
			SELECT t.id, ts_rank(`+pgSearchVector+`, $1::tsquery) AS score
			FROM m JOIN tasks t ON t.id = m.id
			ORDER BY score DESC, t.id DESC LIMIT $2)
		SELECT t.id, t.type, t.name, t.queue, t.status, t.error, t.created_at, t.finished_at,
			ts_headline('pg_catalog.simple', array_to_string(task_search_text(t.type, t.name, t.input, t.result, t.error), E'\n'),
				$1::tsquery, 'MaxFragments=1, MaxWords=12, MinWords=6, ShortWord=0, StartSel=' || chr(2) || ', StopSel=' || chr(3))
		FROM top JOIN tasks t ON t.id = top.id
		ORDER BY top.score DESC, top.id DESC`, *tsq, searchLimit(q), pgSearchRankWindow)
	if err != nil {
		return nil, s.classify(err)
	}
	hits, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SearchHit, error) {
		var h SearchHit
		var created time.Time
		var finished *time.Time
		err := r.Scan(&h.ID, &h.Type, &h.Name, &h.Queue, &h.Status, &h.Error, &created, &finished, &h.Snippet)
		h.CreatedAt, h.FinishedAt = pgTime(created), pgNullTime(finished)
		h.Snippet = cleanSnippet(h.Snippet)
		return h, err
	})
	if err != nil {
		return nil, s.classify(err)
	}
	if hits == nil {
		hits = []SearchHit{}
	}
	return hits, nil
}

// pgTSQuery is the SQL expression (and its arguments) of n's tsquery. As
// typed, all the words of the text are prefixes that must all occur. In
// the search syntax a word is the same, a "phrase" is its words in order,
// OR, AND and NOT are the tsquery operators, and NEAR is AND (a tsquery
// can say "exactly N words apart", not "within N").
func pgTSQuery(n *searchNode, q SearchQuery) (string, []any) {
	if !q.FTS {
		return fmt.Sprintf(pgTermQuery, "$1::text", "&"), []any{pgText(q.Text)}
	}
	var args []any
	var walk func(n *searchNode) string
	walk = func(n *searchNode) string {
		switch n.op {
		case "term":
			args = append(args, pgText(n.text))
			join := "&"
			if n.phrase {
				join = "<->"
			}
			return fmt.Sprintf(pgTermQuery, fmt.Sprintf("$%d::text", len(args)), join)
		case "not":
			return "(" + walk(n.kids[0]) + " && !!" + walk(n.kids[1]) + ")"
		case "or":
			return "(" + walk(n.kids[0]) + " || " + walk(n.kids[1]) + ")"
		}
		parts := make([]string, len(n.kids))
		for i, k := range n.kids {
			parts[i] = walk(k)
		}
		return "(" + strings.Join(parts, " && ") + ")"
	}
	return walk(n), args
}
