package serve

import (
	"net"
	"net/http"
	"strings"
)

// hostList is the Host allow-list. A browser sends the name it resolved in
// Host; a page on evil.example whose name later resolves to 127.0.0.1 (DNS
// rebinding) still sends evil.example, and is refused.
type hostList map[string]bool

func newHostList(hosts []string) hostList {
	l := hostList{"localhost": true, "127.0.0.1": true, "::1": true}
	for _, h := range hosts {
		l[strings.ToLower(stripPort(h))] = true
	}
	return l
}

func stripPort(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return strings.Trim(host, "[]")
	}
	return strings.Trim(h, "[]")
}

func (l hostList) allows(host string) bool {
	return l[strings.ToLower(stripPort(host))]
}

func (l hostList) check(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !l.allows(r.Host) {
			msg := "host not allowed: start opsctl serve with --allow-host " + stripPort(r.Host) + " to serve it"
			if r.Host == "" {
				msg = "the request names no host (a Host header is required)"
			}
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
