package serve

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/opsctl/opsctl/internal/db"
)

// browserDeadline bounds each browser scenario: a page that never shows
// what is awaited fails the test instead of hanging it.
const browserDeadline = 20 * time.Second

// newBrowser starts headless Chromium (Debian's package) for a test and
// returns its context; newTab opens tabs in it. Without Chromium the test
// fails under CI and is skipped elsewhere.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal("chromium not installed: CI needs it for the dashboard's browser tests (.ci/run installs it with apt-get install chromium)")
		}
		t.Skip("chromium not installed (apt-get install chromium); under CI=true this test fails instead")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancelBrowser)
	// Start the browser now, so that a failure to start is reported as
	// such. This first call has no deadline: the browser lives as long as
	// its context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// newTab opens a tab of browser for a test, closed when the test ends. Its
// actions run under a deadline of browserDeadline.
func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancelTab := chromedp.NewContext(browser)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, browserDeadline)
	t.Cleanup(cancel)
	return ctx
}

// screenshot saves the page as it is into the test's temporary directory
// (and into $OPSCTL_TEST_SCREENSHOTS when set, to look at afterwards).
func screenshot(t *testing.T, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		png, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return err
		}
		dirs := []string{t.TempDir()}
		if d := os.Getenv("OPSCTL_TEST_SCREENSHOTS"); d != "" {
			dirs = append(dirs, d)
		}
		for _, d := range dirs {
			if err := os.WriteFile(filepath.Join(d, name+".png"), png, 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}

// login logs in through the login page with a token, as a person would:
// the page asks for it, the token is pasted into the field and the form
// sent with Enter.
func login(ts *testServer, secret string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.Focus(chromedp.ID("token")),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: secret})
			return err
		}),
		chromedp.SendKeys(chromedp.ID("token"), kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("table.tasks")),
	)
}

// evaluate runs a script in a tab and returns its value.
func evaluate[T any](t *testing.T, ctx context.Context, script string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](script))
	if err != nil {
		t.Fatalf("evaluate %s: %v", script, err)
	}
	return v
}

func TestDashboardBrowser(t *testing.T) {
	t.Parallel()
	browser := newBrowser(t)
	do := func(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("login and see the task list", func(t *testing.T) {
		ts := newTestServer(t)
		id := ts.submit(t, execTask("nightly-backup", "default"))
		tab := newTab(t, browser)
		do(t, tab,
			login(ts, ts.Read),
			chromedp.WaitVisible(`//td[@class="name"]/a[text()="nightly-backup"]`),
			screenshot(t, "tasks"),
		)
		if n := evaluate[int](t, tab, `document.querySelectorAll("#rows tr").length`); n != 1 {
			t.Errorf("%d rows, want 1", n)
		}
		// A runner claims it: the row and the tabs follow, without a
		// reload.
		evaluate[bool](t, tab, `window.notReloaded = true`)
		ts.claim(t, 1)
		do(t, tab,
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#rows tr[data-key="%d"] .st-running`, id))),
			chromedp.WaitVisible(`//li[@data-key="running"]//span[@class="count" and text()="1"]`),
		)
		if !evaluate[bool](t, tab, `window.notReloaded === true`) {
			t.Fatal("the list reloaded to show the change")
		}
	})

	t.Run("a running task's output appears live", func(t *testing.T) {
		ts := newTestServer(t)
		id := ts.submit(t, execTask("tail-me", "default"))
		task := ts.claim(t, 1)[0]
		ts.emit(t, task, "stdout", map[string]string{"text": "first line\n"})
		tab := newTab(t, browser)
		do(t, tab,
			login(ts, ts.Read),
			chromedp.Navigate(fmt.Sprintf("%s/tasks/%d", ts.URL, id)),
			chromedp.WaitVisible(`//li[contains(@class,"ev-output")]/div/pre[contains(., "first line")]`),
		)
		// A mark that a reload would wipe.
		evaluate[bool](t, tab, `window.notReloaded = true`)
		ts.emit(t, task, "stdout", map[string]string{"text": "second line, live\n"})
		do(t, tab, chromedp.WaitVisible(`//li[contains(@class,"ev-output")]/div/pre[contains(., "second line, live")]`))
		if !evaluate[bool](t, tab, `window.notReloaded === true`) {
			t.Fatal("the page reloaded to show the output")
		}
		// The outcome reaches the page too, and the stream ends.
		ts.finish(t, task, db.StatusCompleted, "")
		do(t, tab,
			chromedp.WaitVisible(chromedp.CSS(`#status[data-status="completed"]`)),
			chromedp.WaitVisible(`//p[@id="live-state" and text()="The task has finished."]`),
			screenshot(t, "task-live"),
		)
		if !evaluate[bool](t, tab, `window.notReloaded === true`) {
			t.Fatal("the page reloaded to show the outcome")
		}
	})

	t.Run("retry a failed task", func(t *testing.T) {
		ts := newTestServer(t)
		id := ts.failedTask(t, "retry-me")
		tab := newTab(t, browser)
		do(t, tab,
			login(ts, ts.Write),
			chromedp.Navigate(fmt.Sprintf("%s/tasks/%d", ts.URL, id)),
			chromedp.WaitVisible(chromedp.CSS(`#status[data-status="failed"]`)),
			chromedp.Click(chromedp.ID("retry")),
			chromedp.WaitVisible(chromedp.CSS(`#status[data-status="pending"]`)),
			screenshot(t, "task-retried"),
		)
		if st := ts.taskStatus(t, id); st != db.StatusPending {
			t.Errorf("status %s, want pending", st)
		}
	})

	t.Run("a full task list: size and first paint", func(t *testing.T) {
		ts := newTestServer(t)
		ts.fullList(t)
		tab := newTab(t, browser)
		do(t, tab,
			login(ts, ts.Read),
			chromedp.Navigate(ts.URL+"/tasks"),
			chromedp.WaitVisible(chromedp.CSS("#rows tr")),
			screenshot(t, "tasks-full"),
		)
		// Measured and reported, never asserted (DESIGN.md: Testing): five
		// loads, as this machine's load varies.
		var paints, responses []float64
		var bytes float64
		for range 5 {
			do(t, tab, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#rows tr")))
			// The paint is recorded a moment after it happens.
			m, err := chromedp.Run(tab, chromedp.Poll[map[string]float64](`(() => {
				const nav = performance.getEntriesByType("navigation")[0];
				const fcp = performance.getEntriesByName("first-contentful-paint")[0];
				return fcp && {bytes: nav.decodedBodySize, response: nav.responseEnd - nav.requestStart, paint: fcp.startTime};
			})()`, chromedp.WithPollingTimeout(5*time.Second)))
			if err != nil {
				t.Fatalf("read the page's timings: %v", err)
			}
			bytes = m["bytes"]
			paints, responses = append(paints, m["paint"]), append(responses, m["response"])
		}
		slices.Sort(paints)
		slices.Sort(responses)
		t.Logf("task list of %d rows: %.0f bytes of HTML; response %.0f ms, first contentful paint %.0f ms (medians of 5; paints %.0f ms)",
			ListLimit, bytes, responses[2], paints[2], paints)
	})

	t.Run("stats and the agent transcript in dark mode", func(t *testing.T) {
		ts := newTestServer(t)
		ts.fullList(t)
		tab := newTab(t, browser)
		dark := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
			})
			return err
		})
		do(t, tab,
			dark,
			login(ts, ts.Read),
			chromedp.Navigate(ts.URL+"/stats"),
			chromedp.WaitVisible(chromedp.CSS("svg.chart rect.bar-completed")),
			screenshot(t, "stats-dark"),
			chromedp.Navigate(ts.URL+"/tasks?type=agent&status=completed"),
			chromedp.Click(chromedp.CSS("#rows tr td.name a")),
			chromedp.WaitVisible(`//li[contains(@class,"ev-model")]`),
			screenshot(t, "agent-dark"),
		)
		if bg := evaluate[string](t, tab, `getComputedStyle(document.documentElement).backgroundColor`); bg == "rgb(255, 255, 255)" {
			t.Errorf("dark mode: the background is %s", bg)
		}
	})
}
