// The round page's actions: start a solve, watch its progress live, cancel it, publish or sign off a draft.
(function () {
  "use strict";
  // Litestar's CSRF check: the CSRF cookie's value, echoed in a header a page on another site cannot set.
  const CSRF = (document.cookie.match(/(?:^|;\s*)(?:__Host-)?beamtime_csrf=([^;]*)/) || [])[1] || "";
  const HEADERS = { "Content-Type": "application/json", "X-CSRF-Token": CSRF };
  const POLL_MS = 500;
  const FINISHED = ["done", "failed", "cancelled"];

  async function call(method, url, body) {
    const response = await fetch(url, {
      method: method,
      headers: HEADERS,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (ignored) { data = null; }
    if (!response.ok) {
      const error = new Error((data && (data.detail || data.title)) || response.statusText);
      error.status = response.status;
      error.data = data;
      throw error;
    }
    return data;
  }

  function number(value, digits) {
    if (value === null || value === undefined) return "–";
    return value.toLocaleString("en-GB", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

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
    const start = form.querySelector("button[type=submit]");
    let watching = null;
    let points = [];

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
      element("text", { x: left + 30, y: 12 }, "objective");
      element("line", { class: "bound", x1: left + 100, y1: 8, x2: left + 118, y2: 8 });
      element("text", { x: left + 122, y: 12 }, "bound");
    }

    function seconds(run) {
      const until = run.finished_at || run.heartbeat_at;
      return run.started_at && until ? Math.max(0, (Date.parse(until) - Date.parse(run.started_at)) / 1000) : 0;
    }

    function update(run) {
      state.textContent = run.state;
      state.className = "badge state-" + run.state;
      const latest = run.result || run.progress;
      if (latest) {
        const at = seconds(run);
        if (!points.length || at >= points[points.length - 1].seconds) {
          points.push({ seconds: at, objective: latest.objective, bound: latest.bound });
        }
        const gap = latest.bound ? (100 * (latest.bound - latest.objective)) / latest.bound : null;
        figures.textContent = number(at, 1) + " s · objective " + number(latest.objective, 1) +
          " · bound " + number(latest.bound, 1) + (gap === null ? "" : " · gap " + number(gap, 1) + "%");
      } else {
        figures.textContent = run.state === "queued" ? "waiting for a worker…" : "starting the solver…";
      }
      draw();
      const finished = FINISHED.includes(run.state);
      cancel.hidden = finished;
      if (finished) {
        result.hidden = false;
        result.replaceChildren();
        const version = run.result && run.result.schedule_version_id;
        if (version) {
          const link = document.createElement("a");
          link.href = "?version=" + version;
          link.className = "button primary small";
          link.id = "solve-open-version";
          link.textContent = "Open the new draft";
          result.append(run.state === "cancelled" ? "Cancelled; the best schedule so far is kept. " : "Finished (" + run.result.status + "). ", link);
        } else {
          result.textContent = run.error || "The solve ended without a schedule.";
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
      const limit = Number(new FormData(form).get("time_limit"));
      try {
        const run = await call("POST", panel.dataset.startUrl, { time_limit: limit });
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

  // Publishing: the first click arms the button, the second publishes.
  document.querySelectorAll("[data-publish]").forEach((button) => {
    const message = document.querySelector(".action-message");
    let armed = null;
    button.addEventListener("click", async () => {
      if (!armed) {
        button.classList.add("armed");
        button.textContent = "Click again to publish version " + button.dataset.number;
        armed = setTimeout(() => { armed = null; button.classList.remove("armed"); button.textContent = "Publish version " + button.dataset.number; }, 6000);
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
          ? "Someone published since this page was loaded (the round is at revision " + error.data.current_revision + "). Reload the page to see it."
          : error.message;
        button.disabled = false;
        armed = null;
        button.classList.remove("armed");
        button.textContent = "Publish version " + button.dataset.number;
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
