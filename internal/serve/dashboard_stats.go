package serve

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/opsctl/opsctl/internal/db"
)

// statsWindow is one choice of the stats page: how far back it looks and
// how long each bar of its charts is.
type statsWindow struct {
	Key    string
	Label  string
	Span   time.Duration
	Bucket time.Duration
}

// statsWindows are the stats page's choices; the first is the default.
func statsWindows() []statsWindow {
	return []statsWindow{
		{"1h", "last hour", time.Hour, time.Minute},
		{"6h", "last 6 hours", 6 * time.Hour, 5 * time.Minute},
		{"24h", "last 24 hours", 24 * time.Hour, 15 * time.Minute},
		{"7d", "last 7 days", 7 * 24 * time.Hour, 2 * time.Hour},
	}
}

// statsData is the data of the stats page.
type statsData struct {
	Windows []windowLink
	Window  statsWindow
	Per     string // "per minute", "per 5 minutes"
	// BucketWord is the bucket length in words: "minute", "5 minutes".
	BucketWord string

	Finished, Completed, Failed, Cancelled string
	FailureRate                            string
	Peak                                   string // the busiest bucket's count

	Throughput, Failures svgChart
	Buckets              []bucketRow

	Depth  svgChart
	Queues []queueRow

	DurationChart svgChart
	Durations     []durationRow
}

type windowLink struct {
	Key, Label, URL string
	Current         bool
}

type bucketRow struct {
	Start                        timeView
	Label                        string
	Completed, Failed, Cancelled int64
}

type queueRow struct {
	Queue                                         string
	Pending, Running, Completed, Failed, Canceled string
}

type durationRow struct {
	Type                      string
	Count, Failed             string
	P50, Avg, Max             string
	P50Title, AvgTitle, MaxOf string
}

// svgChart is a chart drawn by the template as inline SVG: its shapes are
// placed here, in a viewBox of W by H, and coloured by CSS classes.
type svgChart struct {
	W, H  int
	Title string // what the chart shows, for screen readers
	Rects []svgRect
	Lines []svgLine
	Texts []svgText
}

type svgRect struct {
	X, Y, W, H float64
	Class      string
	Title      string // a tooltip
}

type svgLine struct {
	X1, Y1, X2, Y2 float64
	Class          string
}

type svgText struct {
	X, Y   float64
	Anchor string // start, middle, end
	Class  string
	Text   string
}

// The plot area's margins inside a chart.
const (
	chartW      = 720
	chartLeft   = 48
	chartRight  = 8
	chartTop    = 10
	chartBottom = 26
)

// statsPage shows what the database says about the tasks that finished in
// a window (throughput, failures, durations by type) and the queues as
// they are now, as inline SVG charts drawn here: no JavaScript involved.
func (d *dashboard) statsPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx := r.Context()
	windows := statsWindows()
	win := windows[0]
	key := r.URL.Query().Get("window")
	for _, sw := range windows {
		if sw.Key == key {
			win = sw
		}
	}
	now := d.s.now()
	st, err := d.s.store.Stats(ctx, now.Add(-win.Span), win.Bucket)
	if err != nil {
		d.failed(w, r, v, err)
		return
	}
	qc, err := d.s.store.CountByQueue(ctx)
	if err != nil {
		d.failed(w, r, v, err)
		return
	}
	data := statsData{Window: win, Per: "per " + bucketWords(win.Bucket), BucketWord: bucketWords(win.Bucket)}
	for _, sw := range windows {
		data.Windows = append(data.Windows, windowLink{Key: sw.Key, Label: sw.Label, URL: "/stats?window=" + sw.Key, Current: sw.Key == win.Key})
	}
	d.fillThroughput(&data, st.Buckets, win, now)
	fillDepth(&data, qc)
	fillDurations(&data, st.Durations)
	d.render(w, r, http.StatusOK, "stats", pageData{Title: "Stats", Nav: "stats", Viewer: v, Data: data})
}

// bucketWords is a bucket length in words: "minute", "5 minutes", "2 hours".
func bucketWords(b time.Duration) string {
	switch {
	case b == time.Minute:
		return "minute"
	case b == time.Hour:
		return "hour"
	case b%time.Hour == 0:
		return strconv.Itoa(int(b/time.Hour)) + " hours"
	}
	return strconv.Itoa(int(b/time.Minute)) + " minutes"
}

// fillThroughput draws the finished tasks per bucket (stacked by outcome)
// and the failures per bucket.
func (d *dashboard) fillThroughput(data *statsData, bs []db.StatsBucket, win statsWindow, now time.Time) {
	var completed, failed, cancelled, peak, peakFailed int64
	for _, b := range bs {
		completed += b.Completed
		failed += b.Failed
		cancelled += b.Cancelled
		peak = max(peak, b.Completed+b.Failed+b.Cancelled)
		peakFailed = max(peakFailed, b.Failed)
	}
	total := completed + failed + cancelled
	data.Finished, data.Completed, data.Failed, data.Cancelled = thousands(total), thousands(completed), thousands(failed), thousands(cancelled)
	data.Peak = thousands(peak)
	data.FailureRate = "—"
	if total > 0 {
		data.FailureRate = strconv.FormatFloat(100*float64(failed)/float64(total), 'f', 1, 64) + "%"
	}
	label := func(t time.Time) string {
		if win.Span > 48*time.Hour {
			return t.UTC().Format("Mon 15:04")
		}
		return t.UTC().Format("15:04")
	}
	for i := len(bs) - 1; i >= 0; i-- {
		b := bs[i]
		if b.Completed+b.Failed+b.Cancelled == 0 {
			continue
		}
		data.Buckets = append(data.Buckets, bucketRow{Start: newTimeView(b.Start, now), Label: label(b.Start), Completed: b.Completed, Failed: b.Failed, Cancelled: b.Cancelled})
	}

	type series struct {
		class string
		value func(db.StatsBucket) int64
		name  string
	}
	draw := func(title string, ss []series, peak int64) svgChart {
		c := svgChart{W: chartW, H: 180, Title: title}
		top := niceCeil(peak)
		ph := float64(c.H - chartTop - chartBottom)
		pw := float64(chartW - chartLeft - chartRight)
		c.axisY(top, ph, func(n float64) string { return thousands(int64(n)) })
		n := max(len(bs), 1)
		bw := pw / float64(n)
		gap := math.Min(1, bw/4)
		for i, b := range bs {
			x := chartLeft + float64(i)*bw
			y := float64(chartTop) + ph
			for _, s := range ss {
				v := s.value(b)
				if v == 0 {
					continue
				}
				h := ph * float64(v) / top
				y -= h
				c.Rects = append(c.Rects, svgRect{X: r1(x + gap/2), Y: r1(y), W: r1(bw - gap), H: r1(h), Class: s.class,
					Title: label(b.Start) + " UTC: " + thousands(v) + " " + s.name})
			}
		}
		// Three time labels: the first bucket, the middle one, the last.
		for _, i := range []int{0, len(bs) / 2, len(bs) - 1} {
			if i < 0 || i >= len(bs) {
				continue
			}
			anchor := "middle"
			switch i {
			case 0:
				anchor = "start"
			case len(bs) - 1:
				anchor = "end"
			}
			x := chartLeft + float64(i)*bw
			if anchor == "middle" {
				x += bw / 2
			} else if anchor == "end" {
				x += bw
			}
			c.Texts = append(c.Texts, svgText{X: r1(x), Y: float64(c.H - 8), Anchor: anchor, Class: "axis", Text: label(bs[i].Start) + " UTC"})
		}
		return c
	}
	data.Throughput = draw("Tasks finished "+data.Per+" over the "+win.Label+", by outcome; the busiest "+bucketWords(win.Bucket)+" had "+data.Peak+".", []series{
		{"bar-completed", func(b db.StatsBucket) int64 { return b.Completed }, "completed"},
		{"bar-failed", func(b db.StatsBucket) int64 { return b.Failed }, "failed"},
		{"bar-cancelled", func(b db.StatsBucket) int64 { return b.Cancelled }, "cancelled"},
	}, peak)
	data.Failures = draw("Tasks failed "+data.Per+" over the "+win.Label+": "+data.Failed+" in all.", []series{
		{"bar-failed", func(b db.StatsBucket) int64 { return b.Failed }, "failed"},
	}, peakFailed)
}

// axisY draws horizontal grid lines with their labels at 0, half and top.
func (c *svgChart) axisY(top, ph float64, label func(float64) string) {
	for _, f := range []float64{0, 0.5, 1} {
		if f == 0.5 && top < 2 {
			continue
		}
		y := r1(float64(chartTop) + ph - ph*f)
		c.Lines = append(c.Lines, svgLine{X1: chartLeft, Y1: y, X2: float64(chartW - chartRight), Y2: y, Class: "grid"})
		c.Texts = append(c.Texts, svgText{X: chartLeft - 6, Y: y + 4, Anchor: "end", Class: "axis", Text: label(top * f)})
	}
}

// fillDepth draws each queue's pending and running tasks now.
func fillDepth(data *statsData, qc []db.QueueCount) {
	counts := map[string]map[db.Status]int64{}
	var order []string
	for _, c := range qc {
		if counts[c.Queue] == nil {
			counts[c.Queue] = map[db.Status]int64{}
			order = append(order, c.Queue)
		}
		counts[c.Queue][c.Status] += c.Count
	}
	var peak int64
	for _, q := range order {
		m := counts[q]
		peak = max(peak, m[db.StatusPending]+m[db.StatusRunning])
		data.Queues = append(data.Queues, queueRow{Queue: displayText(q),
			Pending: thousands(m[db.StatusPending]), Running: thousands(m[db.StatusRunning]),
			Completed: thousands(m[db.StatusCompleted]), Failed: thousands(m[db.StatusFailed]), Canceled: thousands(m[db.StatusCancelled])})
	}
	const row, left = 26, 150
	c := svgChart{W: chartW, H: max(len(order), 1)*row + 16, Title: "Queue depth now: pending and running tasks per queue."}
	top := niceCeil(peak)
	pw := float64(chartW - left - 70)
	for i, q := range order {
		m := counts[q]
		y := float64(i*row + 4)
		c.Texts = append(c.Texts, svgText{X: left - 8, Y: y + 15, Anchor: "end", Class: "label", Text: clip(displayText(q), 20)})
		x := float64(left)
		for _, s := range []struct {
			st    db.Status
			class string
		}{{db.StatusRunning, "bar-running"}, {db.StatusPending, "bar-pending"}} {
			v := m[s.st]
			if v == 0 {
				continue
			}
			w := pw * float64(v) / top
			c.Rects = append(c.Rects, svgRect{X: r1(x), Y: y, W: r1(w), H: 18, Class: s.class, Title: clip(displayText(q), 40) + ": " + thousands(v) + " " + string(s.st)})
			x += w
		}
		c.Texts = append(c.Texts, svgText{X: r1(x + 6), Y: y + 15, Anchor: "start", Class: "value",
			Text: thousands(m[db.StatusPending]) + " + " + thousands(m[db.StatusRunning])})
	}
	if len(order) == 0 {
		c.Texts = append(c.Texts, svgText{X: chartW / 2, Y: 26, Anchor: "middle", Class: "axis", Text: "No tasks yet"})
	}
	data.Depth = c
}

// fillDurations draws, per task type, its median, mean and longest run.
func fillDurations(data *statsData, ds []db.TypeDuration) {
	var peak time.Duration
	for _, t := range ds {
		peak = max(peak, t.Max)
		data.Durations = append(data.Durations, durationRow{Type: displayText(t.Type),
			Count: thousands(t.Count), Failed: thousands(t.Failed),
			P50: fmtDuration(t.P50), Avg: fmtDuration(t.Avg), Max: fmtDuration(t.Max)})
	}
	const group, left = 54, 110
	c := svgChart{W: chartW, H: max(len(ds), 1)*group + 12, Title: "Run time per task type: median, mean and longest, of the tasks that finished in the window."}
	top := float64(max(peak, time.Millisecond))
	pw := float64(chartW - left - 90)
	for i, t := range ds {
		y := float64(i*group + 6)
		c.Texts = append(c.Texts, svgText{X: left - 8, Y: y + 26, Anchor: "end", Class: "label", Text: clip(displayText(t.Type), 14)})
		for j, s := range []struct {
			d     time.Duration
			class string
			name  string
		}{{t.P50, "bar-p50", "median"}, {t.Avg, "bar-avg", "mean"}, {t.Max, "bar-max", "longest"}} {
			by := y + float64(j*14)
			w := math.Max(1, pw*float64(s.d)/top)
			c.Rects = append(c.Rects, svgRect{X: left, Y: by, W: r1(w), H: 12, Class: s.class, Title: s.name + " " + fmtDuration(s.d)})
			c.Texts = append(c.Texts, svgText{X: r1(left + w + 6), Y: by + 10, Anchor: "start", Class: "value", Text: s.name + " " + fmtDuration(s.d)})
		}
	}
	if len(ds) == 0 {
		c.Texts = append(c.Texts, svgText{X: chartW / 2, Y: 30, Anchor: "middle", Class: "axis", Text: "No task finished in this window"})
	}
	data.DurationChart = c
}

// niceCeil rounds a chart's top up to 1, 2 or 5 times a power of ten, at
// least 1.
func niceCeil(n int64) float64 {
	if n <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(float64(n))))
	for _, m := range []float64{1, 2, 5, 10} {
		if float64(n) <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// r1 rounds to one decimal, which keeps the SVG short.
func r1(f float64) float64 { return math.Round(f*10) / 10 }
