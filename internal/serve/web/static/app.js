// opsctl dashboard: makes the server-rendered pages live. Every page works
// without it. The task list follows status changes on the API's event
// stream and refetches its rows; a task page follows the task's stream and
// appends its events. The HTML always comes from the server's templates;
// nothing here builds markup from event data.
(function () {
  "use strict";

  // relTime mirrors relTime in dashboard_format.go.
  function relTime(ms) {
    var ahead = ms < 0, d = Math.abs(ms), n, unit;
    var r = function (u) { return Math.round(d / u); };
    if (r(1e3) < 60) { n = r(1e3); unit = "s"; }
    else if (r(6e4) < 60) { n = r(6e4); unit = "m"; }
    else if (r(36e5) < 48) { n = r(36e5); unit = "h"; }
    else { n = r(864e5); unit = "d"; }
    if (n === 0) return ahead ? "now" : "just now";
    return ahead ? "in " + n + unit : n + unit + " ago";
  }
  function tickTimes(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[data-rel]").forEach(function (t) {
      var at = Date.parse(t.getAttribute("datetime"));
      if (!isNaN(at)) t.textContent = relTime(now - at);
    });
  }
  setInterval(tickTimes, 15000);

  // later returns a function that runs fn soon: at most one run at a
  // time, runs at least gap ms apart, and calls made during a run ask for
  // one more run after it.
  function later(fn, gap) {
    var busy = false, pending = false, timer = null, last = 0;
    function run() {
      timer = null; busy = true; pending = false; last = Date.now();
      Promise.resolve().then(fn).catch(function () {}).then(function () {
        busy = false;
        if (pending) schedule();
      });
    }
    function schedule() {
      if (busy) { pending = true; return; }
      if (timer) return;
      timer = setTimeout(run, Math.max(0, last + gap - Date.now()));
    }
    return schedule;
  }

  // fetchDoc gets a dashboard page as a document; a session that ended
  // sends the browser to the login page.
  function fetchDoc(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (res) {
      if (res.redirected && new URL(res.url).pathname === "/login") {
        location.reload();
        throw new Error("logged out");
      }
      if (!res.ok) throw new Error(res.status + " " + res.statusText);
      return res.text();
    }).then(function (text) {
      return new DOMParser().parseFromString(text, "text/html");
    });
  }

  // focusKey names the focused element inside root, so that it can be
  // focused again once root's content has been replaced.
  function focusKey(root) {
    var a = document.activeElement;
    if (!a || a === document.body || !root.contains(a)) return null;
    if (a.id) return "#" + CSS.escape(a.id);
    if (a.getAttribute("href")) return a.tagName + '[href="' + CSS.escape(a.getAttribute("href")) + '"]';
    if (a.form && a.form.getAttribute("action")) return 'form[action="' + CSS.escape(a.form.getAttribute("action")) + '"] ' + a.tagName;
    return null;
  }

  function statusOf(el) {
    var st = el.querySelector(".st");
    return st ? st.className : "";
  }

  // patch makes the live region old look like neu. Children with a
  // data-key are matched by it, so that unchanged rows (and the focus in
  // them) stay; changed and new rows are marked for a moment.
  function patch(old, neu) {
    if (old.innerHTML === neu.innerHTML) return;
    var keyed = neu.firstElementChild && neu.firstElementChild.hasAttribute("data-key");
    var fk = focusKey(old);
    if (!keyed) {
      old.replaceChildren.apply(old, Array.from(neu.childNodes).map(function (n) { return document.importNode(n, true); }));
    } else {
      var byKey = {};
      Array.from(old.children).forEach(function (c) { byKey[c.getAttribute("data-key")] = c; });
      var prev = null;
      Array.from(neu.children).forEach(function (n) {
        var k = n.getAttribute("data-key"), o = byKey[k], node = o;
        delete byKey[k];
        if (!o || o.innerHTML !== n.innerHTML) {
          node = document.importNode(n, true);
          if (o) o.remove();
          // Mark a new row, or one whose status changed (not one whose
          // running time went on).
          if (o ? statusOf(o) !== statusOf(n) : old.children.length) node.classList.add("changed");
        }
        var at = prev ? prev.nextElementSibling : old.firstElementChild;
        if (node !== at) old.insertBefore(node, at);
        prev = node;
      });
      Object.keys(byKey).forEach(function (k) { byKey[k].remove(); });
    }
    if (fk && !old.contains(document.activeElement)) {
      var f = old.querySelector(fk);
      if (f) f.focus();
    }
  }

  // patchRegions patches each live region of the page from the one of
  // the same id in doc. Relative times on both sides are first set as of
  // now, so that they alone do not make a row look changed.
  function patchRegions(doc) {
    tickTimes(doc);
    doc.querySelectorAll("[data-live][id]").forEach(function (neu) {
      var old = document.getElementById(neu.id);
      if (!old) return;
      tickTimes(old);
      patch(old, neu);
    });
  }

  function setState(text) {
    var s = document.getElementById("live-state");
    if (s) s.textContent = text;
  }

  // The task list: refetch the page's rows and counts when a status
  // changes, at most once a second, and not while the tab is hidden (then
  // once it is shown again).
  var list = document.getElementById("list");
  if (list && list.dataset.follow && window.EventSource) {
    var dirty = false;
    var refresh = later(function () {
      if (document.hidden) { dirty = true; return; }
      dirty = false;
      return fetchDoc(location.href).then(patchRegions);
    }, 1000);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && dirty) refresh();
    });
    var es = new EventSource(list.dataset.follow);
    es.onmessage = refresh;
    // A submitted task writes no status event until a runner claims it,
    // so the newest page also looks again every 10 seconds.
    if (!new URLSearchParams(location.search).has("cursor")) setInterval(refresh, 10000);
  }

  // A task page: follow its events from the last one shown. Each message
  // fetches what the server renders after that event (with the summary,
  // buttons and attempts as they are now) and appends it.
  var events = document.getElementById("events");
  if (events && events.dataset.stream && window.EventSource) {
    var after = Number(events.dataset.after || 0), seen = after, full = false;
    var update = later(function () {
      var wantFull = full;
      full = false;
      return fetchDoc(events.dataset.liveUrl + "?after=" + after + (wantFull ? "&full=1" : "")).catch(function (err) {
        if (wantFull) full = true;
        throw err;
      }).then(function (doc) {
        patchRegions(doc);
        var fresh = doc.getElementById("new-events");
        if (!fresh) return;
        var atEnd = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 40;
        Array.from(fresh.children).forEach(function (li) {
          if (Number(li.dataset.id) <= after || document.getElementById(li.id)) return;
          var n = document.importNode(li, true);
          n.classList.add("new");
          events.appendChild(n);
        });
        after = Math.max(after, Number(fresh.dataset.after || 0));
        var none = document.getElementById("no-events");
        if (none && events.children.length) none.remove();
        if (atEnd && fresh.children.length) window.scrollTo(0, document.documentElement.scrollHeight);
        if (seen > after) update();
      });
    }, 200);
    var stream = new EventSource(events.dataset.stream + "?after=" + after);
    setState("Following live.");
    stream.onmessage = function (m) {
      var id = Number(m.lastEventId || 0);
      if (id > seen) seen = id;
      if (id <= after) return;
      // A status change also changes the summary, buttons and attempts.
      try { if (JSON.parse(m.data).kind === "status") full = true; } catch (e) { full = true; }
      update();
    };
    stream.addEventListener("end", function () {
      stream.close();
      setState("The task has finished.");
      full = true;
      update();
    });
    stream.onerror = function () {
      if (stream.readyState === EventSource.CLOSED) setState("Live updates stopped: reload the page to see new events.");
      else setState("Connection lost; reconnecting…");
    };
    stream.onopen = function () { setState("Following live."); };
  }
})();
