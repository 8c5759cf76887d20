// The round page's solves and publishing: a solve started and watched live (objective, bound and gap in words,
// the run in the table at once); publishing with a summary of who gains, loses or moves; a shared round's
// sign-offs. Visible words come from the page's dictionary (#page-texts), through Timeline.words.
(function () {
  "use strict";
  const POLL_MS = 500;
  const FINISHED = ["done", "failed", "cancelled"];
  const { words, word } = window.Timeline;
  const { call, number, el } = window.Page;

  // Solves
  const panel = document.getElementById("solve-panel");
  if (panel) {
    const form = document.getElementById("solve-form");
    const live = document.getElementById("solve-live");
    const state = document.getElementById("solve-state");
    const figures = document.getElementById("solve-figures");
    const chart = document.getElementById("solve-chart");
    const result = document.getElementById("solve-result");
    const cancel = document.getElementById("solve-cancel");
    const runs = document.getElementById("runs");
    const start = form.querySelector("button[type=submit]");
    const limitKey = "beamtime.time-limit." + panel.dataset.round;
    const limit = form.elements.time_limit;
    let watching = null;
    let points = [];
    if (window.localStorage.getItem(limitKey)) limit.value = window.localStorage.getItem(limitKey);
    limit.addEventListener("change", () => window.localStorage.setItem(limitKey, limit.value));

    function draw() {
      const svg = "http://www.w3.org/2000/svg";
      const width = 480, height = 160, left = 62, right = 10, top = 18, bottom = 22;
      chart.replaceChildren();
      if (!points.length) return;
      const values = points.flatMap((p) => (p.bound === null ? [p.objective] : [p.objective, p.bound]));
      let low = Math.min(...values), high = Math.max(...values);
      const pad = (high - low) * 0.08 || Math.max(Math.abs(high) * 0.01, 1);
      low -= pad;
      high += pad;
      const span = Math.max(points[points.length - 1].seconds, 1);
      const x = (t) => left + (t / span) * (width - left - right);
      const y = (v) => top + (1 - (v - low) / (high - low)) * (height - top - bottom);
      function element(name, attributes, text) {
        const node = document.createElementNS(svg, name);
        for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
        if (text !== undefined) node.textContent = text;
        chart.append(node);
      }
      // Values hold until the search reports a better one: steps, not slopes.
      function steps(key) {
        const known = points.filter((p) => p[key] !== null);
        return known.map((p, i) => (i ? x(p.seconds) + "," + y(known[i - 1][key]) + " " : "") + x(p.seconds) + "," + y(p[key])).join(" ");
      }
      element("line", { class: "axis", x1: left, y1: top, x2: left, y2: height - bottom });
      element("line", { class: "axis", x1: left, y1: height - bottom, x2: width - right, y2: height - bottom });
      element("text", { x: left - 6, y: top + 4, "text-anchor": "end" }, number(high, 0));
      element("text", { x: left - 6, y: height - bottom, "text-anchor": "end" }, number(low, 0));
      element("text", { x: left, y: height - 6 }, "0 s");
      element("text", { x: width - right, y: height - 6, "text-anchor": "end" }, number(span, 1) + " s");
      element("polyline", { class: "bound", points: steps("bound") });
      element("polyline", { class: "objective", points: steps("objective") });
      for (const key of ["bound", "objective"]) {
        const known = points.filter((p) => p[key] !== null);
        known.forEach((p, i) => {
          if (i === 0 || p[key] !== known[i - 1][key] || i === known.length - 1) {
            element("circle", { class: key + "-dot", cx: x(p.seconds), cy: y(p[key]), r: 3 });
          }
        });
      }
      element("line", { class: "objective", x1: left + 8, y1: 8, x2: left + 26, y2: 8 });
      element("text", { x: left + 30, y: 12 }, words("objective"));
      element("line", { class: "bound", x1: left + 100, y1: 8, x2: left + 118, y2: 8 });
      element("text", { x: left + 122, y: 12 }, words("bound"));
    }

    function seconds(run) {
      const until = run.finished_at || run.heartbeat_at;
      return run.started_at && until ? Math.max(0, (Date.parse(until) - Date.parse(run.started_at)) / 1000) : 0;
    }

    function gapWords(latest, status) {
      if (status === "optimal") return words("gapOptimal", {});
      if (latest.bound === null || latest.bound === undefined || !latest.bound) return words("gapUnknown", {});
      return words("gapAtMost", { gap: number((100 * (latest.bound - latest.objective)) / latest.bound, 1) });
    }

    // The run's row in the runs table, added at once and kept up to date while the run is watched.
    function runRow(run) {
      runs.hidden = false;
      let row = runs.querySelector("tr[data-run='" + run.id + "']");
      if (!row) {
        row = el("tr");
        row.dataset.run = run.id;
        runs.tBodies[0].prepend(row);
      }
      const latest = run.result || run.progress;
      const badge = el("span", "badge state-" + run.state, word(run.state));
      const stateCell = el("td");
      stateCell.append(badge);
      const version = el("td");
      if (run.result && run.result.same_as_version_id) version.append(el("span", "small", words("noChangeShort", {})));
      else if (run.result && run.result.schedule_version_id) {
        const link = el("a", "", words("openVersion", {}));
        link.href = "?version=" + run.result.schedule_version_id;
        version.append(link);
      } else if (run.error) version.append(el("span", "muted small", words("error", {})));
      const first = el("td", "", "#" + run.id + " ");
      first.append(el("span", "muted small", word(run.kind)));
      row.replaceChildren(first, stateCell, el("td", "nowrap", new Date(run.started_at || run.created_at).toLocaleString(document.documentElement.lang)),
        el("td", "num", words("limitSeconds", { n: number(run.settings.time_limit, 0) })), el("td", "num", latest ? number(latest.objective, 1) : "–"),
        el("td", "num", latest ? number(latest.bound, 1) : "–"), version);
    }

    function update(run) {
      state.textContent = word(run.state);
      state.className = "badge state-" + run.state;
      runRow(run);
      const latest = run.result || run.progress;
      if (latest) {
        const at = seconds(run);
        if (!points.length || at >= points[points.length - 1].seconds) {
          points.push({ seconds: at, objective: latest.objective, bound: latest.bound });
        }
        figures.textContent = words("liveFigures", {
          seconds: number(at, 1), objective: number(latest.objective, 1), bound: number(latest.bound, 1),
          gap: gapWords(latest, run.result ? run.result.status : null),
        });
      } else {
        figures.textContent = run.state === "queued" ? words("waiting") : words("starting");
      }
      draw();
      const finished = FINISHED.includes(run.state);
      cancel.hidden = finished;
      if (finished) {
        result.hidden = false;
        result.replaceChildren();
        const version = run.result && run.result.schedule_version_id;
        if (run.result && run.result.same_as_version_id) {
          result.textContent = words("noChange", {});
        } else if (version) {
          const link = el("a", "button primary small", words("openDraft", {}));
          link.href = "?version=" + version;
          link.id = "solve-open-version";
          result.append(run.state === "cancelled" ? words("cancelledKept", {}) + " " : words("finished", { status: word(run.result.status) }) + " ", link);
        } else {
          result.textContent = run.error || words("noSchedule", {});
        }
      }
      return finished;
    }

    async function watch(runId) {
      watching = runId;
      points = [];
      live.hidden = false;
      result.hidden = true;
      start.disabled = true;
      while (watching === runId) {
        let run;
        try {
          run = await call("GET", "/ui/solves/" + runId);
        } catch (error) {
          figures.textContent = error.message;
          break;
        }
        if (update(run)) break;
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      start.disabled = false;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      window.localStorage.setItem(limitKey, limit.value);
      try {
        const run = await call("POST", panel.dataset.startUrl, { time_limit: Number(limit.value) });
        runRow(run);
        watch(run.id);
      } catch (error) {
        live.hidden = false;
        figures.textContent = error.message;
      }
    });
    cancel.addEventListener("click", async () => {
      if (watching === null) return;
      cancel.disabled = true;
      try { await call("DELETE", "/ui/solves/" + watching); } catch (error) { figures.textContent = error.message; }
      cancel.disabled = false;
    });
    if (panel.dataset.liveRun) watch(Number(panel.dataset.liveRun));
  }

  // Publishing: the first click shows who gains, loses or moves against the published version and arms the
  // button; the second publishes.
  document.querySelectorAll("[data-publish]").forEach((button) => {
    const message = document.querySelector(".action-message");
    const summary = document.getElementById("publish-summary");
    let armed = null;
    function disarm() {
      armed = null;
      button.classList.remove("armed");
      button.textContent = words("publishVersion", { number: button.dataset.number });
    }
    async function changes() {
      if (!button.dataset.published) return words("firstPublication", {});
      const diff = await call("GET", "/ui/schedules/" + button.dataset.published + "/diff/" + button.dataset.publish);
      const totals = new Map();
      const add = (proposal, before, after) => {
        const entry = totals.get(proposal) || { before: 0, after: 0 };
        entry.before += before;
        entry.after += after;
        totals.set(proposal, entry);
      };
      for (const kind of ["moved", "resized", "dropped", "added"]) {
        for (const change of diff[kind]) add(change.proposal, change.before ? change.before.shifts : 0, change.after ? change.after.shifts : 0);
      }
      let gain = 0, lose = 0, moves = 0;
      for (const entry of totals.values()) {
        if (entry.after > entry.before) gain++; else if (entry.after < entry.before) lose++; else moves++;
      }
      return words("publishSummary", { gain: gain, lose: lose, move: moves, notified: totals.size, unchanged: diff.unchanged });
    }
    button.addEventListener("click", async () => {
      if (!armed) {
        button.classList.add("armed");
        button.textContent = words("publishAgain", { number: button.dataset.number });
        armed = setTimeout(disarm, 15000);
        if (summary) {
          summary.hidden = false;
          try { summary.textContent = await changes(); } catch (error) { summary.textContent = error.message; }
        }
        return;
      }
      clearTimeout(armed);
      button.disabled = true;
      try {
        await call("POST", "/ui/schedules/" + button.dataset.publish + "/publish", { expected_revision: Number(button.dataset.revision) });
        window.location.assign("?version=" + button.dataset.publish);
      } catch (error) {
        message.hidden = false;
        message.classList.add("error");
        message.textContent = error.status === 409 && error.data && error.data.current_revision !== undefined
          ? words("publishedSince", { revision: error.data.current_revision })
          : error.message;
        button.disabled = false;
        disarm();
      }
    });
  });

  // Signing off a shared round's draft for the viewer's facilities: the page reloads to show who signed.
  document.querySelectorAll("[data-sign-off]").forEach((button) => {
    const message = document.querySelector(".action-message");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await call("POST", "/ui/schedules/" + button.dataset.signOff + "/sign-off");
        window.location.reload();
      } catch (error) {
        message.hidden = false;
        message.classList.add("error");
        message.textContent = error.message;
        button.disabled = false;
      }
    });
  });
})();
