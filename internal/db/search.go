package db

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SearchStore is the part of the Store for full-text search over tasks (migration 8).
type SearchStore interface {
	// Search finds the tasks whose name, prompt, command, answer, output
	// tails or error match q, best match first (ties: newest first), at
	// most q.Limit of them. A query that cannot be searched is a
	// *SearchQueryError.
	Search(ctx context.Context, q SearchQuery) ([]SearchHit, error)
}

// DefaultSearchLimit is how many hits Search returns when SearchQuery.Limit
// is 0; MaxSearchLimit is the most it returns.
const (
	DefaultSearchLimit = 20
	MaxSearchLimit     = 1000
)

// MinSearchTerm is the fewest characters a search needs in a word: the
// SQLite index is made of three-character pieces (trigrams), so a shorter
// word can only narrow hits that a longer one found.
const MinSearchTerm = 3

// The characters around each match in SearchHit.Snippet. They are control
// characters no task text keeps (output is shown with controls escaped), so
// a reader can mark or strip them.
const (
	SnippetMatchStart = "\x02"
	SnippetMatchEnd   = "\x03"
)

// SearchQuery is what Search looks for.
type SearchQuery struct {
	// Text is searched as typed: every word in it must occur in a task
	// (punctuation included: db-backup, api.example.com, /var/log), and
	// none of it is an operator.
	Text string
	// FTS reads Text in the search syntax instead: "phrases", AND (or
	// nothing), OR, NOT, NEAR(a b, N), parentheses and word* (prefix).
	FTS bool
	// Limit is the most hits returned: 0 means DefaultSearchLimit, and
	// more than MaxSearchLimit is taken as MaxSearchLimit.
	Limit int
}

// SearchHit is one task Search found.
type SearchHit struct {
	ID         int64
	Type       string
	Name       string
	Queue      string
	Status     Status
	Error      string
	CreatedAt  time.Time
	FinishedAt time.Time // zero until finished
	// Snippet is the text around the best match, on one line (runs of
	// white space are one space), each match between SnippetMatchStart
	// and SnippetMatchEnd.
	Snippet string
}

// SearchQueryError says why a search query cannot be searched: a
// malformed --fts query, or no word long enough.
type SearchQueryError struct {
	Query  string
	Reason string
}

func (e *SearchQueryError) Error() string {
	return "search " + strconv.Quote(e.Query) + ": " + e.Reason
}

// searchLimit is q's limit, defaults applied.
func searchLimit(q SearchQuery) int {
	switch {
	case q.Limit <= 0:
		return DefaultSearchLimit
	case q.Limit > MaxSearchLimit:
		return MaxSearchLimit
	}
	return q.Limit
}

// searchNode is a parsed query: a term (a word or "phrase"), or an
// operator over its kids.
type searchNode struct {
	op     string // "term", "and", "or", "not" (kids[0] and not kids[1]), "near"
	text   string // a term's text
	prefix bool   // a term written word*
	phrase bool   // a term written in quotes
	dist   int    // near: the most tokens between terms
	kids   []*searchNode
}

// nearDefault is NEAR's distance when none is given (FTS5's default).
const nearDefault = 10

// parseSearch reads q into a tree both backends translate. As typed, every
// word is a term and all must match; with FTS, q is in the search syntax.
// Every term must have MinSearchTerm characters, except that, as typed,
// shorter words are allowed beside a long one (they narrow its hits).
func parseSearch(q SearchQuery) (*searchNode, error) {
	bad := func(format string, args ...any) error {
		return &SearchQueryError{Query: q.Text, Reason: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(q.Text) == "" {
		return nil, bad("nothing to search for")
	}
	if !q.FTS {
		and := &searchNode{op: "and"}
		long := false
		for _, w := range strings.Fields(q.Text) {
			long = long || utf8.RuneCountInString(w) >= MinSearchTerm
			and.kids = append(and.kids, &searchNode{op: "term", text: w})
		}
		if !long {
			return nil, bad("needs a word of at least %d characters", MinSearchTerm)
		}
		return and, nil
	}
	p := &searchParser{toks: lexSearch(q.Text), bad: bad}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "" {
		return nil, bad("unexpected %s", t)
	}
	return n, nil
}

// searchToken is one token of the search syntax.
type searchToken struct {
	kind string // "word", "phrase", "(", ")", ",", "unclosed"; "" at the end
	text string
}

func (t searchToken) String() string {
	switch t.kind {
	case "word":
		return strconv.Quote(t.text)
	case "phrase":
		return `"` + t.text + `"`
	case "":
		return "end of query"
	}
	return strconv.Quote(t.kind)
}

// lexSearch splits the search syntax into tokens. A phrase is in double
// quotes ("" inside one is a quote); a word is anything else up to space,
// a parenthesis, a comma or a quote.
func lexSearch(s string) []searchToken {
	var toks []searchToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')' || c == ',':
			toks = append(toks, searchToken{kind: string(c)})
			i++
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(s); j++ {
				if s[j] == '"' {
					if j+1 < len(s) && s[j+1] == '"' {
						b.WriteByte('"')
						j++
						continue
					}
					break
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return append(toks, searchToken{kind: "unclosed"})
			}
			toks = append(toks, searchToken{kind: "phrase", text: b.String()})
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r(),\"", rune(s[j])) {
				j++
			}
			toks = append(toks, searchToken{kind: "word", text: s[i:j]})
			i = j
		}
	}
	return toks
}

// searchParser is a recursive-descent parser of the search syntax, with
// FTS5's precedence: NOT binds tighter than AND, AND tighter than OR.
type searchParser struct {
	toks []searchToken
	pos  int
	bad  func(string, ...any) error
}

func (p *searchParser) peek() searchToken {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return searchToken{}
}

func (p *searchParser) next() searchToken {
	t := p.peek()
	p.pos++
	return t
}

// isOp reports whether t is the operator word op (upper case, as FTS5 has it).
func isOp(t searchToken, op string) bool { return t.kind == "word" && t.text == op }

func (p *searchParser) or() (*searchNode, error) {
	n, err := p.and()
	if err != nil {
		return nil, err
	}
	for isOp(p.peek(), "OR") {
		p.next()
		m, err := p.and()
		if err != nil {
			return nil, err
		}
		n = &searchNode{op: "or", kids: []*searchNode{n, m}}
	}
	return n, nil
}

func (p *searchParser) and() (*searchNode, error) {
	n, err := p.not()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case isOp(t, "AND"):
			p.next()
		case t.kind == "word" && t.text != "OR" && t.text != "NOT", t.kind == "phrase", t.kind == "(":
		default:
			return n, nil
		}
		m, err := p.not()
		if err != nil {
			return nil, err
		}
		n = &searchNode{op: "and", kids: []*searchNode{n, m}}
	}
}

func (p *searchParser) not() (*searchNode, error) {
	n, err := p.primary()
	if err != nil {
		return nil, err
	}
	for isOp(p.peek(), "NOT") {
		p.next()
		m, err := p.primary()
		if err != nil {
			return nil, err
		}
		n = &searchNode{op: "not", kids: []*searchNode{n, m}}
	}
	return n, nil
}

func (p *searchParser) primary() (*searchNode, error) {
	t := p.next()
	switch {
	case t.kind == "unclosed":
		return nil, p.bad("a quote is not closed")
	case t.kind == "(":
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != ")" {
			return nil, p.bad("expected ) before %s", c)
		}
		return n, nil
	case isOp(t, "NEAR") && p.peek().kind == "(":
		return p.near()
	case isOp(t, "AND"), isOp(t, "OR"), isOp(t, "NOT"):
		return nil, p.bad("%s needs a term before it", t.text)
	case t.kind == "word", t.kind == "phrase":
		return p.term(t)
	}
	return nil, p.bad("expected a word or a phrase, found %s", t)
}

// near reads NEAR's parenthesised terms and optional distance; NEAR( is read.
func (p *searchParser) near() (*searchNode, error) {
	p.next()
	n := &searchNode{op: "near", dist: nearDefault}
	for {
		t := p.next()
		switch {
		case t.kind == "word" || t.kind == "phrase":
			k, err := p.term(t)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, k)
			continue
		case t.kind == "," && len(n.kids) > 0:
			d := p.next()
			v, err := strconv.Atoi(d.text)
			if d.kind != "word" || err != nil || v < 0 {
				return nil, p.bad("NEAR's distance must be a whole number, found %s", d)
			}
			n.dist = v
			t = p.next()
		case t.kind == "unclosed":
			return nil, p.bad("a quote is not closed")
		}
		if t.kind != ")" {
			return nil, p.bad("expected ) to close NEAR, found %s", t)
		}
		if len(n.kids) < 2 {
			return nil, p.bad("NEAR needs at least two terms")
		}
		return n, nil
	}
}

// term makes a term node of a word or phrase token; a trailing * marks a
// prefix.
func (p *searchParser) term(t searchToken) (*searchNode, error) {
	n := &searchNode{op: "term", text: t.text, phrase: t.kind == "phrase"}
	if t.kind == "word" && strings.HasSuffix(n.text, "*") {
		n.text, n.prefix = strings.TrimSuffix(n.text, "*"), true
	} else if t.kind == "phrase" && p.peek().kind == "word" && p.peek().text == "*" {
		p.next()
		n.prefix = true
	}
	if utf8.RuneCountInString(strings.TrimSpace(n.text)) < MinSearchTerm {
		return nil, p.bad("%s is shorter than %d characters", t, MinSearchTerm)
	}
	return n, nil
}

// cleanSnippet puts a snippet on one line: every run of white space
// (newlines included) becomes one space, and the ends are trimmed.
func cleanSnippet(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}
