package agent

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/llm"
)

// SearchTasksFunc searches the history of finished tasks, as `opsctl
// search` does (db.Store.Search with the query as typed).
type SearchTasksFunc func(ctx context.Context, query string, limit int) ([]db.SearchHit, error)

// searchTasksDefault and searchTasksMax bound how many hits the model gets:
// each costs tokens.
const (
	searchTasksDefault = 10
	searchTasksMax     = 50
)

// searchTaskHit is one hit as the model reads it: compact JSON.
type searchTaskHit struct {
	ID       int64  `json:"id"`
	Name     string `json:"name,omitempty"`
	Type     string `json:"type"`
	Status   string `json:"status"`
	Finished string `json:"finished,omitempty"`
	Created  string `json:"created"`
	Snippet  string `json:"snippet,omitempty"`
	Error    string `json:"error,omitempty"`
}

// searchTasksErrorMax cuts a hit's error: the snippet shows the match, and
// the model can ask for more with another query.
const searchTasksErrorMax = 300

// newSearchTasksTool returns search_tasks, which searches finished tasks'
// names, prompts, commands, answers, output tails and errors: "when did
// the backup last fail, and why?". Without a search function (a handler
// not given a store) every call says the search is not available.
func newSearchTasksTool(search SearchTasksFunc) Tool {
	return funcTool{
		spec: llm.ToolSpec{
			Name: ToolSearchTasks,
			Description: "Searches the history of finished tasks (their names, prompts, commands, answers, " +
				"the end of their output, and errors) and returns the best matches first as JSON: id, name, " +
				"type, status, finished and created time (RFC 3339), the text around the match, and the error. " +
				"Every word of the query must occur, punctuation included (db-backup, api.example.com); " +
				"words need 3 characters.",
			Schema: json.RawMessage(`{"type":"object","properties":{` +
				`"query":{"type":"string","minLength":1,"description":"words to find, as typed"},` +
				`"limit":{"type":"integer","minimum":1,"maximum":50,"description":"most tasks to return (default 10)"}},` +
				`"required":["query"],"additionalProperties":false}`),
		},
		call: func(ctx context.Context, raw json.RawMessage) (string, error) {
			var args struct {
				Query string `json:"query"`
				Limit int    `json:"limit"`
			}
			if err := json.Unmarshal(raw, &args); err != nil {
				return "", ToolErrorf("bad arguments: %v", err)
			}
			if search == nil {
				return "", ToolErrorf("task search is not available in this runner")
			}
			limit := args.Limit
			if limit <= 0 {
				limit = searchTasksDefault
			}
			limit = min(limit, searchTasksMax)
			hits, err := search(ctx, args.Query, limit)
			var qe *db.SearchQueryError
			if errors.As(err, &qe) {
				return "", ToolErrorf("%s", qe.Reason)
			}
			if err != nil {
				return "", err
			}
			out := make([]searchTaskHit, len(hits))
			for i, h := range hits {
				out[i] = searchTaskHit{ID: h.ID, Name: h.Name, Type: h.Type, Status: string(h.Status),
					Created: h.CreatedAt.UTC().Format(time.RFC3339), Error: cutSearchError(h.Error, searchTasksErrorMax),
					Snippet: strings.NewReplacer(db.SnippetMatchStart, "", db.SnippetMatchEnd, "").Replace(h.Snippet)}
				if !h.FinishedAt.IsZero() {
					out[i].Finished = h.FinishedAt.UTC().Format(time.RFC3339)
				}
			}
			b, err := json.Marshal(out)
			return string(b), err
		},
	}
}

// cutSearchError shortens s to at most n bytes, on a rune boundary,
// marking the cut.
func cutSearchError(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
