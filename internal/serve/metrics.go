package serve

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/opsctl/opsctl/internal/db"
)

// countsMaxAge is how long the task counts of a scrape are reused: a
// count over a big table is not free, and several Prometheus servers may
// scrape the same opsctl.
const countsMaxAge = 5 * time.Second

// metrics is the server's Prometheus registry (its own, not the global
// one) and the collectors in it.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
	duration *prometheus.HistogramVec
	finished *prometheus.CounterVec

	mu      sync.Mutex
	started map[int64]time.Time // running tasks seen starting: when
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), started: map[int64]time.Time{}}
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "opsctl_http_request_duration_seconds",
		Help:    "HTTP requests served, by method, route pattern and status code.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method", "route", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "opsctl_task_duration_seconds",
		Help:    "How long tasks ran, from claim to final status, by final status, for tasks seen starting while this server ran.",
		Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
	}, []string{"status"})
	m.finished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "opsctl_tasks_finished_total",
		Help: "Tasks that reached a final status while this server ran, by status.",
	}, []string{"status"})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.finished,
		&taskCollector{store: s.store},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "opsctl_event_streams",
			Help: "Live event streams open.",
		}, func() float64 { return float64(s.hub.streams()) }),
	)
	s.hub.observe(m.observe)
	return m
}

// handler serves /metrics. It needs no token: it carries counts, not task
// data, and scrapers rarely hold one. Bind to loopback or firewall the
// port to keep it private.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// instrument times every request, labelled by the mux's route pattern (not
// the path: ids would make a series per task).
func (m *metrics) instrument(mux *http.ServeMux, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(methodLabel(r.Method), route, strconv.Itoa(sw.code)).Observe(time.Since(start).Seconds())
	})
}

// observe follows status events: a task's run time is from its event into
// running to its event into a final status.
func (m *metrics) observe(e db.Event) {
	if e.Kind != db.EventStatus {
		return
	}
	var d struct {
		To db.Status `json:"to"`
	}
	if json.Unmarshal(e.Data, &d) != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case d.To == db.StatusRunning:
		m.started[e.TaskID] = e.At
	case d.To.Finished():
		m.finished.WithLabelValues(string(d.To)).Inc()
		if at, ok := m.started[e.TaskID]; ok {
			m.duration.WithLabelValues(string(d.To)).Observe(e.At.Sub(at).Seconds())
		}
		delete(m.started, e.TaskID)
	default:
		delete(m.started, e.TaskID) // back to pending: a retry starts anew
	}
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes through, for streams.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// taskCollector reports the store's task counts at scrape time.
type taskCollector struct {
	store db.Store

	mu     sync.Mutex
	at     time.Time
	counts []db.QueueCount
}

var (
	tasksDesc = prometheus.NewDesc("opsctl_tasks", "Tasks in the store, by queue and status.", []string{"queue", "status"}, nil)
	depthDesc = prometheus.NewDesc("opsctl_queue_depth", "Pending tasks by queue: what runners have still to claim (scheduled ones included).", []string{"queue"}, nil)
	upDesc    = prometheus.NewDesc("opsctl_store_up", "1 when the last scrape could count tasks in the store, else 0.", nil, nil)
)

func (c *taskCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tasksDesc
	ch <- depthDesc
	ch <- upDesc
}

func (c *taskCollector) Collect(ch chan<- prometheus.Metric) {
	counts, err := c.read()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	depth := map[string]int64{}
	for _, qc := range counts {
		ch <- prometheus.MustNewConstMetric(tasksDesc, prometheus.GaugeValue, float64(qc.Count), qc.Queue, string(qc.Status))
		if qc.Status == db.StatusPending {
			depth[qc.Queue] += qc.Count
		} else if _, ok := depth[qc.Queue]; !ok {
			depth[qc.Queue] = 0
		}
	}
	for q, n := range depth {
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(n), q)
	}
}

// read returns the counts, reusing ones younger than countsMaxAge.
func (c *taskCollector) read() ([]db.QueueCount, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts != nil && time.Since(c.at) < countsMaxAge {
		return c.counts, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	counts, err := c.store.CountByQueue(ctx)
	if err != nil {
		return nil, err
	}
	c.counts, c.at = counts, time.Now()
	return counts, nil
}

// methodLabel bounds the method label: a client may send any word as its
// method, and each would otherwise make a new series for good.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}
