// The round page's workbench: search and filters over the timeline and the lists; the ranking and unallocated
// lists (sorted, grouped, paged) drawn from the page's payload; hand edits (drag, the move form, swaps, pin and
// unpin) judged live while dragging and saved through the API's own edit, check and pin routes.
// Visible words come from the page's dictionary (#page-texts), through Timeline.words.
(function () {
  "use strict";
  const CHECK_MS = 300;
  // A drag asks the API's check at most once per CHECK_MS and one request at a time, for the latest position.
  const PAGE_ROWS = 150;
  const TL = window.Timeline;
  const { words, word } = TL;
  const { call, number, el } = window.Page;

  const shown = document.getElementById("shown-version");
  const versionId = shown && shown.dataset.version ? Number(shown.dataset.version) : null;

  // Filters, lists and edits need the page's payload.
  if (TL.data) {
    const data = TL.data;
    const S = TL.strings;
    const TEXTS = TL.texts;
    const form = document.getElementById("filter-form");
    const summary = document.getElementById("filter-summary");
    const ranking = data.ranking || { rows: [], cutoff: null, ranOut: null, ranOutPerInstrument: [] };
    const unallocated = data.unallocated || [];
    const rankedCategory = new Map(ranking.rows.map((row) => [row[0], row[8]]));
    const groups = new Map((data.groups || []).map(([name, members]) => [S[name], members.map((c) => S[c])]));
    const filter = { q: "", facility: "", instrument: "", country: "", category: "" };

    function option(select, value, label) {
      const node = el("option", "", label);
      node.value = value;
      select.append(node);
    }
    if (form) {
      data.facilities.forEach((f, i) => option(form.elements.facility, String(i), S[f[1]] + " (" + S[f[0]] + ")"));
      data.instruments.forEach((instrument, i) => option(form.elements.instrument, String(i), S[instrument[0]]));
      for (const name of groups.keys()) option(form.elements.country, "g:" + name, name);
      const countries = new Set(data.proposals.map((p) => S[p[4][0]]).filter(Boolean));
      Array.from(countries).sort().forEach((country) => option(form.elements.country, "c:" + country, country));
      TL.categories.forEach((category, i) => option(form.elements.category, String(i), category.label));
      form.addEventListener("input", () => { read(); apply(); });
      form.addEventListener("reset", () => setTimeout(() => { read(); apply(); }, 0));
      form.addEventListener("submit", (event) => event.preventDefault());
    }
    function read() {
      for (const key of Object.keys(filter)) filter[key] = form.elements[key].value.trim();
      filter.q = filter.q.toLowerCase();
    }
    function active() { return Object.values(filter).some(Boolean); }

    // One test of a proposal against the filters, for blocks and both lists: `instruments` are the rows the
    // thing is on, `category` its category's index, `extra` more text the search may find (a request's code).
    function matches(proposalIndex, instruments, category, extra) {
      const p = data.proposals[proposalIndex];
      if (filter.q) {
        const text = (S[p[0]] + " " + S[p[1]] + " " + S[p[2]] + " " + (extra || "")).toLowerCase();
        if (!text.includes(filter.q)) return false;
      }
      if (filter.instrument && !instruments.includes(Number(filter.instrument))) return false;
      if (filter.facility && !instruments.some((i) => data.instruments[i][2] === Number(filter.facility))) return false;
      if (filter.country) {
        const country = S[p[4][0]];
        const wanted = filter.country.slice(2);
        if (filter.country.startsWith("c:") ? country !== wanted : !(groups.get(wanted) || []).includes(country)) return false;
      }
      if (filter.category && category !== Number(filter.category)) return false;
      return true;
    }

    // Lists
    const lists = {
      ranking: {
        rows: ranking.rows,
        key: "rank",
        descending: false,
        group: "",
        limit: PAGE_ROWS,
        values: {
          rank: (r) => r[1],
          proposal: (r) => S[data.proposals[r[0]][0]],
          pi: (r) => S[data.proposals[r[0]][2]],
          type: (r) => S[data.proposals[r[0]][5]],
          grade: (r) => (r[2] === null ? Infinity : r[2]),
          priority: (r) => (r[3] === null ? -Infinity : r[3]),
          allocated: (r) => r[5],
          shortfall: (r) => Math.max(0, r[4] - r[5]),
        },
        instruments: (r) => data.proposals[r[0]][6],
        test: (r) => matches(r[0], data.proposals[r[0]][6], r[8], ""),
        groupOf: {
          facility: (r) => facilityName(data.proposals[r[0]][6][0]),
          instrument: (r) => instrumentName(data.proposals[r[0]][6][0]),
          country: (r) => S[data.proposals[r[0]][4][0]],
        },
        draw: rankingRow,
        columns: 8,
      },
      unallocated: {
        rows: unallocated,
        key: "rank",
        descending: false,
        group: "",
        limit: PAGE_ROWS,
        values: {
          rank: (r) => (r[7] === null ? Infinity : r[7]),
          request: (r) => S[r[0]],
          pi: (r) => S[data.proposals[r[1]][2]],
          reason: (r) => S[r[2]],
          shortfall: (r) => r[4],
        },
        test: (r) => matches(r[1], r[5], rankedCategory.get(r[1]), S[r[0]]),
        groupOf: {
          reason: (r) => word(S[r[2]]),
          facility: (r) => facilityName(r[5][0]),
          instrument: (r) => instrumentName(r[5][0]),
          country: (r) => S[data.proposals[r[1]][4][0]],
        },
        draw: unallocatedRow,
        columns: 6,
      },
    };
    function facilityName(instrument) { return instrument === undefined ? TEXTS.none : S[data.facilities[data.instruments[instrument][2]][0]]; }
    function instrumentName(instrument) { return instrument === undefined ? TEXTS.none : S[data.instruments[instrument][0]]; }

    function proposalCell(proposalIndex, colour, request) {
      const p = TL.proposalOf(proposalIndex);
      const cell = el("td", "proposal-cell");
      const line = el("div", "one-line");
      if (colour) {
        const dot = el("span", "dot");
        dot.style.setProperty("--c", colour);
        line.append(dot);
      }
      line.append(el("span", "strong", request || p.code), " ");
      const title = el("span", "muted", p.title);
      title.title = p.title;
      line.append(title);
      cell.append(line);
      return cell;
    }
    function piCell(proposalIndex) {
      const p = TL.proposalOf(proposalIndex);
      const cell = el("td", "", p.pi);
      cell.append(" ", el("span", "muted small", p.countries[0] || ""));
      return cell;
    }
    function rankingRow(r) {
      const tr = el("tr", "ranked" + (r[6] !== -1 ? " excluded" : ""));
      tr.dataset.proposal = S[data.proposals[r[0]][0]];
      const colour = TL.categories[r[8]] ? TL.categories[r[8]].colour : null;
      const proposal = proposalCell(r[0], colour);
      if (r[7] !== -1) proposal.append(el("div", "muted small", S[r[7]]));
      const shifts = el("td", "num nowrap");
      if (r[5]) shifts.append(el("strong", "", String(r[5]))); else shifts.append("0");
      shifts.append(" / " + r[4]);
      tr.append(el("td", "num", String(r[1])), proposal, piCell(r[0]), el("td", "", S[data.proposals[r[0]][5]].replace(/_/g, " ")),
        el("td", "num", number(r[2], 2)), el("td", "num", number(r[3], 2)), shifts, el("td", "num", String(Math.max(0, r[4] - r[5]))));
      return tr;
    }
    function unallocatedRow(r) {
      const tr = el("tr", "unallocated-row");
      tr.dataset.request = S[r[0]];
      const reason = el("td");
      reason.append(el("span", "badge reason-" + S[r[2]], word(S[r[2]])));
      const why = el("td", "small", r[3] === -1 ? "" : S[r[3]]);
      if (r[6] && r[6].length) {
        const held = r[6].map(([request, priority]) => S[request] + " (" + number(priority, 2) + ")").join(", ");
        const more = r[8] - r[6].length;
        why.append(el("div", "competitors", words(more > 0 ? "competitorsMore" : "competitors", { list: held, more: more })));
      }
      tr.append(el("td", "num", r[7] === null ? "–" : String(r[7])), proposalCell(r[1], null, S[r[0]]), piCell(r[1]), reason, el("td", "num", String(r[4])), why);
      return tr;
    }
    function line(className, text, columns) {
      const tr = el("tr", className);
      const td = el("td");
      td.colSpan = columns;
      td.append(el("span", "", text));
      tr.append(td);
      return tr;
    }

    function drawList(name) {
      const list = lists[name];
      const table = document.querySelector("table[data-list='" + name + "']");
      if (!table) return 0;
      const value = list.values[list.key];
      let rows = list.rows.filter(list.test);
      const count = rows.length;
      rows = rows.slice().sort((a, b) => {
        const x = value(a), y = value(b);
        const order = x < y ? -1 : x > y ? 1 : 0;
        return list.descending ? -order : order;
      });
      const body = table.tBodies[0];
      body.replaceChildren();
      const byRank = name === "ranking" && list.key === "rank" && !list.descending && !list.group;
      const ranOut = filter.instrument
        ? (ranking.ranOutPerInstrument.find(([i]) => i === Number(filter.instrument)) || [null, ranking.ranOut])[1]
        : ranking.ranOut;
      let cutDone = false, ranDone = false;
      // Grouped, every group shows its first `limit` rows under its heading; else the list its first `limit`.
      const groups = new Map();
      for (const r of rows) {
        const g = list.group ? String(list.groupOf[list.group](r)) : "";
        if (!groups.has(g)) groups.set(g, []);
        groups.get(g).push(r);
      }
      const names = Array.from(groups.keys()).sort((a, b) => a.localeCompare(b));
      let left = 0;
      for (const g of names) {
        const members = groups.get(g);
        if (list.group) body.append(line("group", words("group", { name: g, n: members.length }), list.columns));
        left = Math.max(left, members.length - list.limit);
        for (const r of members.slice(0, list.limit)) {
          if (byRank && !ranDone && ranOut !== null && r[1] >= ranOut) {
            ranDone = true;
            const instrument = filter.instrument ? S[data.instruments[Number(filter.instrument)][0]] : null;
            body.append(line("ran-out", instrument ? words("ranOutHere", { instrument: instrument, rank: ranOut }) : words("ranOut", { rank: ranOut }), list.columns));
          }
          if (byRank && !cutDone && ranking.cutoff !== null && r[1] >= ranking.cutoff) {
            cutDone = true;
            body.append(line("cutoff", TEXTS.cutoff, list.columns));
          }
          body.append(list.draw(r));
        }
      }
      if (!rows.length) body.append(line("group", TEXTS.noRows, list.columns));
      const more = document.querySelector(".more[data-list='" + name + "']");
      if (more) {
        more.hidden = left <= 0;
        more.textContent = words(list.group ? "showMoreEach" : "showMore", { n: Math.min(PAGE_ROWS, left), left: left });
      }
      table.querySelectorAll("th").forEach((th) => {
        const button = th.querySelector("button");
        if (button && button.dataset.sort === list.key) th.setAttribute("aria-sort", list.descending ? "descending" : "ascending");
        else th.removeAttribute("aria-sort");
      });
      return count;
    }
    document.querySelectorAll("table.sortable").forEach((table) => {
      const list = lists[table.dataset.list];
      table.querySelectorAll("th button").forEach((button) => {
        button.addEventListener("click", () => {
          if (list.key === button.dataset.sort) list.descending = !list.descending;
          else { list.key = button.dataset.sort; list.descending = false; }
          drawList(table.dataset.list);
        });
      });
    });
    document.querySelectorAll(".group-by").forEach((select) => {
      select.addEventListener("change", () => { lists[select.dataset.list].group = select.value; drawList(select.dataset.list); });
    });
    document.querySelectorAll(".more").forEach((button) => {
      button.addEventListener("click", () => { lists[button.dataset.list].limit += PAGE_ROWS; drawList(button.dataset.list); });
    });
    const perInstrument = document.getElementById("ran-out-per-instrument");
    if (perInstrument) {
      for (const [instrument, rank] of ranking.ranOutPerInstrument) {
        perInstrument.append(el("li", "", words("ranOutInstrument", { instrument: S[data.instruments[instrument][0]], rank: rank })));
      }
      perInstrument.hidden = ranking.ranOutPerInstrument.length === 0;
    }

    function apply() {
      const timeline = data.timelines[0];
      TL.highlight(active() ? (block) => matches(block.proposalIndex, [block.row], timeline.blocks[block.index][5], block.request) : null);
      const blocks = timeline ? timeline.blocks.filter((b) => !active() || matches(b[4], [b[0]], b[5], S[b[3]])).length : 0;
      const ranked = drawList("ranking");
      const left = drawList("unallocated");
      if (summary) summary.textContent = words(active() ? "matches" : "noFilter", { blocks: blocks, ranked: ranked, unallocated: left });
    }
    if (form) read();
    apply();

    // Hand edits
    const message = document.getElementById("edit-message");
    const panel = document.getElementById("block-details");
    const moveForm = document.getElementById("move-form");
    const pinToggle = document.getElementById("pin-toggle");
    let chosen = null;
    let swapFrom = null;
    function say(text, error) {
      if (!message) return;
      message.hidden = false;
      message.classList.toggle("error", Boolean(error));
      message.replaceChildren(text);
    }
    const from = new URLSearchParams(window.location.search).get("from");
    if (from && message && versionId !== null) {
      const back = el("a", "", TEXTS.undo);
      back.href = "?version=" + encodeURIComponent(from);
      back.id = "undo-edit";
      say(back);
    }
    if (moveForm) {
      data.instruments.forEach((instrument) => option(moveForm.elements.instrument, S[instrument[0]], S[instrument[0]]));
      moveForm.addEventListener("submit", (event) => {
        event.preventDefault();
        if (!chosen) return;
        move([{
          request: chosen.request,
          instrument: moveForm.elements.instrument.value,
          start_shift: Number(moveForm.elements.start_shift.value),
          shifts: Number(moveForm.elements.shifts.value),
        }]);
      });
    }
    TL.on("select", (block, node, details) => {
      if (swapFrom && swapFrom.request !== block.request) {
        const from = swapFrom;
        swapFrom = null;
        move(TL.swapped(from, block));
        return;
      }
      if (!panel) return;
      chosen = block;
      panel.hidden = false;
      panel.querySelector("h3").textContent = block.proposal.code + " · " + block.request + " — " + block.proposal.title;
      const list = panel.querySelector("dl");
      list.replaceChildren();
      details(block, list);
      if (moveForm) {
        moveForm.elements.instrument.value = block.instrument;
        moveForm.elements.start_shift.value = block.start;
        moveForm.elements.shifts.value = block.shifts;
      }
      if (pinToggle) pinToggle.textContent = block.pinned ? TEXTS.unpin : TEXTS.pin;
    });
    if (pinToggle) {
      pinToggle.addEventListener("click", async () => {
        if (!chosen || versionId === null) return;
        pinToggle.disabled = true;
        const url = "/ui/schedules/" + versionId + "/allocations/" + encodeURIComponent(chosen.request) + "/pin";
        try {
          await call(chosen.pinned ? "DELETE" : "POST", url);
          say(words(chosen.pinned ? "unpinDone" : "pinDone", { request: chosen.request }));
          window.location.reload();
        } catch (error) {
          say(error.message, true);
          pinToggle.disabled = false;
        }
      });
    }
    function brokenRules(errors) {
      const list = el("ul", "broken-rules");
      errors.forEach((entry) => list.append(el("li", "", words("rule", { rule: entry.rule, message: entry.message }))));
      return list;
    }
    function refused(errors, fallback) {
      const text = el("span", "", words("moveRefused", { rules: errors.length ? "" : fallback }));
      if (errors.length) text.append(brokenRules(errors));
      say(text, true);
      TL.redraw();
    }
    // `changes`: the moves of one edit (one for a move or resize, two for a swap), saved as one draft or refused.
    async function move(changes) {
      if (versionId === null) return;
      const known = verdicts.get(JSON.stringify(changes));
      if (known && !known.keeps_every_rule) { refused(known.errors, ""); return; }
      say(TEXTS.checking);
      try {
        const draft = await call("POST", "/ui/schedules/" + versionId + "/edits", { moves: changes });
        say(words("moveSaved", { number: draft.number }));
        window.location.assign("?version=" + draft.id + "&from=" + versionId);
      } catch (error) {
        refused((error.data && error.data.errors) || [], error.message);
      }
    }

    // While a block is dragged: whether a drop here would keep every rule, by the API's check (nothing saved).
    const verdictNode = document.getElementById("drop-verdict");
    const verdicts = new Map();
    const live = { wanted: null, node: null, timer: null, busy: false, failed: "" };
    function showVerdict() {
      const known = live.wanted && verdicts.get(JSON.stringify(live.wanted));
      if (live.node) {
        live.node.classList.toggle("drop-ok", Boolean(known && known.keeps_every_rule));
        live.node.classList.toggle("drop-bad", Boolean(known && !known.keeps_every_rule));
      }
      if (!verdictNode) return;
      verdictNode.hidden = !live.wanted;
      if (!live.wanted) return;
      const swap = live.wanted.length > 1;
      verdictNode.classList.toggle("error", Boolean(known && !known.keeps_every_rule));
      if (!known) verdictNode.replaceChildren(live.failed || (swap ? TEXTS.swapChecking : TEXTS.dropChecking));
      else if (known.keeps_every_rule) verdictNode.replaceChildren(swap ? TEXTS.swapKeeps : TEXTS.dropKeeps);
      else verdictNode.replaceChildren(el("span", "", swap ? TEXTS.swapBreaks : TEXTS.dropBreaks), brokenRules(known.errors));
    }
    async function checkLatest() {
      live.timer = null;
      const changes = live.wanted;
      if (!changes || live.busy || verdicts.has(JSON.stringify(changes))) return;
      live.busy = true;
      try {
        verdicts.set(JSON.stringify(changes), await call("POST", "/ui/schedules/" + versionId + "/edits/check", { moves: changes }));
        live.failed = "";
      } catch (error) {
        live.failed = error.message;
      }
      live.busy = false;
      showVerdict();
      if (live.wanted !== changes) askSoon();
    }
    function askSoon() {
      if (!live.timer) live.timer = setTimeout(checkLatest, CHECK_MS);
    }
    if (versionId !== null) {
      TL.on("drag", (changes, node) => {
        live.wanted = changes;
        live.node = node;
        live.failed = "";
        showVerdict();
        if (changes) askSoon();
      });
      TL.on("move", (changes) => {
        live.wanted = null;
        showVerdict();
        move(changes);
      });
    }

    // A swap without a mouse: "Swap with…" in a block's details, then the other block (arrow keys and Enter).
    const swapStart = document.getElementById("swap-start");
    if (swapStart) {
      swapStart.addEventListener("click", () => {
        if (!chosen) return;
        swapFrom = chosen;
        say(words("swapChoose", { request: chosen.request }));
        const node = document.querySelector(".timeline .block[data-request='" + CSS.escape(chosen.request) + "']");
        if (node) TL.focusBlock(node);
      });
      document.addEventListener("keydown", (event) => {
        if (event.key !== "Escape" || !swapFrom) return;
        swapFrom = null;
        say(TEXTS.swapCancelled);
      });
    }

    const print = document.getElementById("print-timeline");
    if (print) print.addEventListener("click", (event) => { event.preventDefault(); window.print(); });
  }

})();
