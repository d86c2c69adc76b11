package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opsctl/opsctl/internal/llm"
)

// The limits of http_get. The size limit keeps one response from filling the
// model's context; the time limit keeps a slow server from holding the run.
const (
	defaultHTTPMaxBytes = 64 << 10
	httpGetTimeout      = 10 * time.Second
	httpMaxRedirects    = 10
)

// httpGetArgs are http_get's arguments.
type httpGetArgs struct {
	URL string `json:"url"`
}

// newHTTPGetTool returns http_get. When allowHosts is not empty only those
// hosts may be fetched, including after redirects; an entry without a port
// allows the host on any port. Without a list any host may be fetched, which
// includes the local network: configure http_allow_hosts where that matters.
// The timeout covers the whole request, body included. client, when not
// nil, supplies the transport; its timeout and redirect policy are replaced.
func newHTTPGetTool(allowHosts []string, maxBytes int, timeout time.Duration, client *http.Client) Tool {
	if maxBytes <= 0 {
		maxBytes = defaultHTTPMaxBytes
	}
	check := func(u *url.URL) error { return checkFetchURL(u, allowHosts) }
	c := &http.Client{}
	if client != nil {
		c = new(http.Client)
		*c = *client
	}
	c.Timeout = timeout
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= httpMaxRedirects {
			return fmt.Errorf("stopped after %d redirects", httpMaxRedirects)
		}
		return check(req.URL)
	}
	return funcTool{
		spec: llm.ToolSpec{
			Name:        ToolHTTPGet,
			Description: "Fetches a URL with HTTP GET and returns the status and the body as text (size and time are limited).",
			Schema: json.RawMessage(`{"type":"object","properties":{"url":{"type":"string",` +
				`"description":"an http or https URL"}},"required":["url"],"additionalProperties":false}`),
		},
		call: func(ctx context.Context, raw json.RawMessage) (string, error) {
			var args httpGetArgs
			if err := json.Unmarshal(raw, &args); err != nil {
				return "", ToolErrorf("invalid arguments: %v", err)
			}
			u, err := url.Parse(args.URL)
			if err != nil {
				return "", ToolErrorf("invalid url %q: %v", args.URL, err)
			}
			if err := check(u); err != nil {
				return "", &ToolError{Message: err.Error()}
			}
			return fetch(ctx, c, u, maxBytes, timeout)
		},
	}
}

// checkFetchURL refuses schemes other than http and https, and hosts outside
// the allow list when there is one.
func checkFetchURL(u *url.URL, allowHosts []string) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("only http and https URLs may be fetched, not %q", u.String())
	}
	if u.Hostname() == "" {
		return fmt.Errorf("url %q has no host", u.String())
	}
	if len(allowHosts) == 0 {
		return nil
	}
	for _, h := range allowHosts {
		if strings.EqualFold(h, u.Hostname()) || strings.EqualFold(h, u.Host) {
			return nil
		}
	}
	return fmt.Errorf("host %q is not allowed (allowed hosts: %s)", u.Host, strings.Join(allowHosts, ", "))
}

// fetch makes the request and formats the answer for the model.
func fetch(ctx context.Context, c *http.Client, u *url.URL, maxBytes int, timeout time.Duration) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", ToolErrorf("GET %s: %v", u, err)
	}
	req.Header.Set("User-Agent", "opsctl-agent")
	resp, err := c.Do(req)
	if err != nil {
		var netErr interface{ Timeout() bool }
		if ctx.Err() == nil && errors.As(err, &netErr) && netErr.Timeout() {
			return "", ToolErrorf("GET %s: no answer within %s", u, timeout)
		}
		return "", ToolErrorf("%v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(maxBytes)+1))
	if err != nil {
		return "", ToolErrorf("GET %s: reading the body: %v", u, err)
	}
	truncated := len(body) > maxBytes
	if truncated {
		body = body[:maxBytes]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "status: %s\n", resp.Status)
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		fmt.Fprintf(&b, "content-type: %s\n", ct)
	}
	b.WriteString("\n")
	b.WriteString(strings.ToValidUTF8(string(body), "\uFFFD"))
	if truncated {
		fmt.Fprintf(&b, "\n[truncated: only the first %d bytes of the body are shown]", maxBytes)
	}
	return b.String(), nil
}
