package serve

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// The dashboard is server-rendered HTML (html/template), one CSS file and
// one small JavaScript file, all embedded: no build step, no requests to
// anyone but this server. Every page works without JavaScript; the script
// only makes pages live (the task list follows status changes, a task page
// appends its events as they are written) through the API's event streams,
// which the session cookie authenticates.
//
//go:embed web
var webFS embed.FS

// dashboardCSP is the Content-Security-Policy of every dashboard page:
// nothing but this server's own files, no inline script or style.
const dashboardCSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// sessionMaxAge is how long the session cookie lives when the token does
// not expire sooner; the token is checked again on every request anyway.
const sessionMaxAge = 30 * 24 * time.Hour

// dashboard holds what the dashboard's handlers share: its parsed
// templates and its static files.
type dashboard struct {
	s      *Server
	pages  map[string]*template.Template
	static map[string]asset // by file name
	queues queueCache       // the list's queue suggestions
}

// asset is one static file with its version (a hash of its content): pages
// link to name?v=version, which may then be cached for good.
type asset struct {
	body    []byte
	ctype   string
	version string
}

// dashboardRoutes adds the web dashboard.
func (s *Server) dashboardRoutes(mux *http.ServeMux) {
	d := newDashboard(s)
	mux.HandleFunc("GET /login", d.loginPage)
	mux.HandleFunc("POST /login", d.login)
	mux.HandleFunc("POST /logout", d.logout)
	mux.HandleFunc("GET /static/{file}", d.serveStatic)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /{$}", d.session(d.tasksPage))
	mux.HandleFunc("GET /tasks", d.session(d.tasksPage))
	mux.HandleFunc("GET /tasks/{$}", d.session(d.tasksPage))
	mux.HandleFunc("GET /tasks/{id}", d.session(d.taskPage))
	mux.HandleFunc("GET /tasks/{id}/live", d.session(d.taskLive))
	mux.HandleFunc("POST /tasks/{id}/cancel", d.session(d.taskCancel))
	mux.HandleFunc("POST /tasks/{id}/retry", d.session(d.taskRetry))
	mux.HandleFunc("POST /tasks/{id}/approve", d.session(d.taskApprove))
	mux.HandleFunc("POST /tasks/{id}/deny", d.session(d.taskDeny))
	mux.HandleFunc("GET /stats", d.session(d.statsPage))
	mux.HandleFunc("/", d.session(func(w http.ResponseWriter, r *http.Request, v *viewer) {
		d.errorPage(w, r, v, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	}))
}

// newDashboard parses the embedded templates and reads the static files.
// They are part of the binary, so a failure is a bug: it panics.
func newDashboard(s *Server) *dashboard {
	d := &dashboard{s: s, pages: map[string]*template.Template{}, static: map[string]asset{}}
	for _, f := range []struct{ name, ctype string }{
		{"app.css", "text/css; charset=utf-8"},
		{"app.js", "text/javascript; charset=utf-8"},
	} {
		b, err := fs.ReadFile(webFS, "web/static/"+f.name)
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		d.static[f.name] = asset{body: b, ctype: f.ctype, version: hex.EncodeToString(sum[:6])}
	}
	funcs := template.FuncMap{"asset": d.assetURL}
	for _, p := range []string{"login", "tasks", "task", "task_live", "stats", "error"} {
		t := template.New("").Funcs(funcs)
		t = template.Must(t.ParseFS(webFS, "web/templates/layout.html", "web/templates/parts.html", "web/templates/"+p+".html"))
		d.pages[p] = t
	}
	return d
}

// assetURL is the versioned address of a static file.
func (d *dashboard) assetURL(name string) string {
	return "/static/" + name + "?v=" + d.static[name].version
}

// serveStatic serves a static file; the versioned address is cached for
// good (a new version has a new address).
func (d *dashboard) serveStatic(w http.ResponseWriter, r *http.Request) {
	a, ok := d.static[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	if r.URL.Query().Get("v") == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("ETag", `"`+a.version+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// viewer is who is looking at a page: the session's token.
type viewer struct {
	Token db.Token
}

// CanWrite says whether the viewer may cancel and retry tasks.
func (v *viewer) CanWrite() bool { return v != nil && v.Token.Scope.Allows(db.ScopeWrite) }

// session wraps a page handler: the request must carry a session cookie
// whose token is valid, or it is sent to the login page (and back after).
func (d *dashboard) session(h func(http.ResponseWriter, *http.Request, *viewer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var secret string
		if c, err := r.Cookie(SessionCookie); err == nil {
			secret = c.Value
		}
		t, err := d.s.Authenticate(r.Context(), secret)
		if err != nil {
			var e *Error
			if errors.As(err, &e) && e.Kind == KindUnauthenticated {
				if secret != "" {
					clearSession(w, r)
				}
				next := r.URL.RequestURI()
				if r.Method != http.MethodGet {
					next = "/"
				}
				http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
				return
			}
			d.failed(w, r, nil, err)
			return
		}
		h(w, r, &viewer{Token: t})
	}
}

// pageData is what every page's layout reads; Data is the page's own.
type pageData struct {
	Title  string
	Nav    string // which top link is the current page
	Viewer *viewer
	Data   any
}

// render writes a page with its status.
func (d *dashboard) render(w http.ResponseWriter, r *http.Request, status int, page string, p pageData) {
	d.write(w, r, status, page, "layout", p)
}

// write executes one template of a page into the response, buffered so
// that a template error becomes a 500 instead of half a page.
func (d *dashboard) write(w http.ResponseWriter, r *http.Request, status int, page, name string, data any) {
	var b bytes.Buffer
	if err := d.pages[page].ExecuteTemplate(&b, name, data); err != nil {
		d.s.log.Error("dashboard template failed", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// errorData is the data of the error page.
type errorData struct {
	Status  int
	Heading string
	Message string
}

// errorPage answers with the error page: the API's problem+json is for
// /api only.
func (d *dashboard) errorPage(w http.ResponseWriter, r *http.Request, v *viewer, status int, msg string) {
	d.render(w, r, status, "error", pageData{
		Title:  http.StatusText(status),
		Viewer: v,
		Data:   errorData{Status: status, Heading: http.StatusText(status), Message: msg},
	})
}

// failed answers with the error page for err, as the API would classify
// it; what the person cannot act on goes to the log, not the page.
func (d *dashboard) failed(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	e := asError(err)
	if e.Kind == KindInternal || e.Kind == KindUnavailable {
		d.s.log.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	msg := e.Detail
	if e.Kind == KindInternal {
		msg = "Something went wrong on the server; its log says what."
	}
	d.errorPage(w, r, v, e.Kind.HTTPStatus(), msg)
}

// loginData is the data of the login page.
type loginData struct {
	Next  string
	Error string
}

func (d *dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if c, err := r.Cookie(SessionCookie); err == nil {
		if _, err := d.s.Authenticate(r.Context(), c.Value); err == nil {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
	}
	d.render(w, r, http.StatusOK, "login", pageData{Title: "Log in", Data: loginData{Next: next}})
}

// maxLoginForm caps the login form's body.
const maxLoginForm = 8 << 10

// login checks the pasted token and, when it is valid, starts a session
// holding it.
func (d *dashboard) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		d.render(w, r, http.StatusBadRequest, "login", pageData{Title: "Log in", Data: loginData{Next: "/", Error: "The form could not be read."}})
		return
	}
	next := localPath(r.PostForm.Get("next"))
	secret := strings.TrimSpace(r.PostForm.Get("token"))
	fail := func(status int, msg string) {
		d.render(w, r, status, "login", pageData{Title: "Log in", Data: loginData{Next: next, Error: msg}})
	}
	if secret == "" {
		fail(http.StatusUnauthorized, "Paste a token. To make one: opsctl token create NAME")
		return
	}
	t, err := d.s.Authenticate(r.Context(), secret)
	if err != nil {
		e := asError(err)
		switch e.Kind {
		case KindUnauthenticated:
			msg := "That token is not valid: " + e.Detail + "."
			if !strings.HasPrefix(secret, TokenPrefix) {
				msg = "That is not an opsctl token: tokens start with " + TokenPrefix + ". To make one: opsctl token create NAME"
			}
			fail(http.StatusUnauthorized, msg)
		default:
			d.s.log.Error("dashboard login failed", "err", err)
			fail(e.Kind.HTTPStatus(), "The token could not be checked: "+e.Detail+".")
		}
		return
	}
	maxAge := sessionMaxAge
	if !t.ExpiresAt.IsZero() {
		maxAge = min(maxAge, t.ExpiresAt.Sub(d.s.now()))
	}
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    secret,
		Path:     "/",
		MaxAge:   max(int(maxAge/time.Second), 1),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session.
func (d *dashboard) logout(w http.ResponseWriter, r *http.Request) {
	clearSession(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// clearSession tells the browser to drop the session cookie.
func clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
}

// localPath returns p if it is a path on this server, else "/": a login
// link cannot send the person elsewhere afterwards.
func localPath(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || path.Clean(u.Path) == "/login" {
		return "/"
	}
	return p
}
