// The round's timelines, drawn from the page's one JSON payload (#page-data, api.web.views.timeline.Payload):
// zoom by week, month, quarter or the whole round; one Tab stop per timeline with arrow keys between blocks;
// a tooltip on hover or focus; dragging a block moves or resizes it, or with Shift onto another block swaps the
// two (the round page's script checks the drop live and saves it).
// Payload rows are arrays, texts indices into `strings`:
//   facilities [code, name, country, timezone]; instruments [code, name, facility, usable shifts];
//   proposals [code, title, PI, PI's surname, [countries], type, [instruments]]; categories [key, label, colour];
//   timelines[i] {label, blocks [instrument, first shift, shifts, request, proposal, category, priority, flags],
//   changeovers [instrument, start, end], idle [per instrument: idle shifts per week]};
//   windows [instrument, start, end, kind, label]; round {start (ms), shiftHours, shifts, weeks, months, week}.
(function () {
  "use strict";
  const source = document.getElementById("page-data");
  const textSource = document.getElementById("page-texts");
  const TEXTS = textSource ? JSON.parse(textSource.textContent) : {};
  // {name} is a value; {name:count} a count with its noun in the plural form the page's language gives it
  // (TEXTS.plurals[count][category], the categories of Intl.PluralRules, the forms from the catalogue).
  const pluralRules = new Intl.PluralRules(document.documentElement.lang || "en-GB");
  function counted(count, n) {
    const forms = (TEXTS.plurals && TEXTS.plurals[count]) || {};
    return (forms[pluralRules.select(n)] || forms.other || forms.many || "{n}").replace("{n}", String(n));
  }
  function words(key, values) {
    return (TEXTS[key] || key).replace(/\{(\w+)(?::(\w+))?\}/g, (whole, name, count) => {
      if (!values || !(name in values)) return whole;
      return count ? counted(count, values[name]) : String(values[name]);
    });
  }
  // A value of the domain's enumerations (a run's state, a change's kind) in the page's language.
  function word(value) {
    return (TEXTS.words && TEXTS.words[value]) || String(value).replace(/_/g, " ");
  }
  if (!source) {
    window.Timeline = { data: null, texts: TEXTS, words: words, word: word };
    return;
  }
  const data = JSON.parse(source.textContent);
  const S = data.strings;
  const CHANGES = ["moved", "resized", "dropped", "added"];
  const PINNED = 1;
  const HOUR = 3600 * 1000;
  const LABEL_MIN_PX = 26;
  const EDGE_PX = 7;
  const DRAG_PX = 4;

  const round = data.round;
  const firstZone = data.facilities.length ? S[data.facilities[0][3]] : "UTC";
  const dayShifts = Math.max(1, Math.round(24 / round.shiftHours));
  const months = round.months.map(([start, end, label]) => [start, end, S[label]]);
  const quarters = [];
  for (let i = 0; i < months.length; i += 3) {
    const last = months[Math.min(i + 2, months.length - 1)];
    quarters.push([months[i][0], last[1], words("quarter", { from: months[i][2], to: last[2] })]);
  }

  function moment(shift) { return new Date(round.start + shift * round.shiftHours * HOUR); }
  const formats = {};
  function format(date, zone, kind) {
    const key = zone + kind;
    if (!formats[key]) {
      const options = {
        day: { weekday: "short", day: "2-digit", month: "short" },
        date: { day: "2-digit", month: "short" },
        dayNumber: { day: "numeric" },
        full: { weekday: "short", day: "2-digit", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" },
      }[kind];
      formats[key] = new Intl.DateTimeFormat(document.documentElement.lang, Object.assign({ timeZone: zone }, options));
    }
    return formats[key].format(date);
  }

  // Text on a block is dark or white, whichever keeps AA contrast on the category's colour.
  function luminance(hex) {
    const channels = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
      .map((c) => (c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4)));
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2];
  }
  const categories = data.categories.map(([key, label, colour]) => {
    const light = luminance(S[colour]);
    return { key: S[key], label: S[label], colour: S[colour], ink: (light + 0.05) / 0.05 > 1.05 / (light + 0.05) ? "#0f172a" : "#ffffff" };
  });

  function proposalOf(index) {
    const row = data.proposals[index];
    return { code: S[row[0]], title: S[row[1]], pi: S[row[2]], surname: S[row[3]], countries: row[4].map((c) => S[c]), type: S[row[5]], instruments: row[6] };
  }

  function blockOf(timeline, index) {
    const b = timeline.blocks[index];
    const instrument = data.instruments[b[0]];
    const facility = data.facilities[instrument[2]];
    return {
      index: index,
      row: b[0],
      start: b[1],
      shifts: b[2],
      request: S[b[3]],
      proposalIndex: b[4],
      proposal: proposalOf(b[4]),
      category: categories[b[5]],
      priority: b[6],
      pinned: (b[7] & PINNED) !== 0,
      change: b[7] >> 1 ? CHANGES[(b[7] >> 1) - 1] : null,
      instrument: S[instrument[0]],
      zone: S[facility[3]],
    };
  }

  // A shift's full time, formatted once per zone: a facility round's ~2,000 blocks start and end at fewer shifts.
  const fullTimes = new Map();
  function fullTime(shift, zone) {
    const key = zone + " " + shift;
    if (!fullTimes.has(key)) fullTimes.set(key, format(moment(shift), zone, "full"));
    return fullTimes.get(key);
  }

  function blockWords(block) {
    const from = fullTime(block.start, block.zone);
    const to = fullTime(block.start + block.shifts, block.zone);
    return words("blockLabel", {
      proposal: block.proposal.code, request: block.request, pi: block.proposal.pi || "–",
      countries: block.proposal.countries.join(", "), shifts: block.shifts, instrument: block.instrument,
      start: from, end: to, pinned: block.pinned ? TEXTS.pinnedSuffix : "",
    });
  }

  // Zoom: one state for every timeline of the page.
  const zoom = { level: round.week ? "week" : "round", index: round.week ? round.week - 1 : 0 };
  function periods(level) {
    if (level === "week") return round.weeks.map(([s, e], i) => [s, e, words("weekOf", { n: i + 1, from: format(moment(s), firstZone, "date"), to: format(moment(e - 1), firstZone, "date") })]);
    if (level === "month") return months;
    if (level === "quarter") return quarters;
    return [[0, round.shifts, words("wholeRound", { from: format(moment(0), firstZone, "date"), to: format(moment(round.shifts - 1), firstZone, "date") })]];
  }
  function view() {
    const list = periods(zoom.level);
    zoom.index = Math.max(0, Math.min(zoom.index, list.length - 1));
    return list[zoom.index];
  }

  function ticks(first, end) {
    const length = end - first;
    const days = Math.ceil(length / dayShifts);
    const out = [];
    for (let shift = first - (first % dayShifts); shift < end; shift += dayShifts) {
      if (shift < first) continue;
      const dayNumber = Math.floor(shift / dayShifts);
      const weekStart = dayNumber % 7 === 0;
      let label = "";
      if (days <= 8) label = format(moment(shift), firstZone, "day");
      else if (days <= 40) label = weekStart ? format(moment(shift), firstZone, "date") : format(moment(shift), firstZone, "dayNumber");
      else if (weekStart && (days <= 120 || dayNumber % 14 === 0)) label = format(moment(shift), firstZone, "date");
      if (days > 120 && !weekStart) continue;
      out.push({ left: (100 * (shift - first)) / length, label: label, major: weekStart || days <= 8 });
    }
    if (days <= 8) {
      for (let shift = first; shift < end; shift++) if (shift % dayShifts) out.push({ left: (100 * (shift - first)) / length, label: "", major: false });
    }
    return out;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function place(node, start, end, first, stop) {
    const length = stop - first;
    const left = Math.max(start, first) - first;
    node.style.left = (100 * left) / length + "%";
    node.style.width = (100 * (Math.min(end, stop) - first - left)) / length + "%";
  }

  const containers = Array.from(document.querySelectorAll(".timeline[data-timeline]"));
  const state = containers.map(() => ({ current: null }));
  let highlight = null;
  const listeners = { select: [], move: [], drag: [], drawn: [] };

  function idleWords(timelineData, row, first, end) {
    const weeks = [];
    let total = 0;
    round.weeks.forEach(([s, e], w) => {
      if (s < end && e > first) {
        total += timelineData.idle[row][w];
        weeks.push("W" + (w + 1) + " " + timelineData.idle[row][w]);
      }
    });
    return { total: total, title: words("idleTitle", { n: total, weeks: weeks.join(", ") }) };
  }

  function draw(container, number) {
    const timelineData = data.timelines[number];
    const [first, end] = view();
    const compare = container.closest(".compare") !== null;
    container.replaceChildren();
    const head = el("div", "tl-head");
    head.setAttribute("aria-hidden", "true");
    head.append(el("div", "tl-corner", TEXTS.instrument));
    const axis = el("div", "tl-axis");
    const grid = el("div", "tl-gridlines");
    grid.setAttribute("aria-hidden", "true");
    for (const tick of ticks(first, end)) {
      if (tick.label) {
        const label = el("span", "tl-tick" + (tick.major ? "" : " minor"), tick.label);
        label.style.left = tick.left + "%";
        axis.append(label);
      }
      const line = el("span", "tl-line" + (tick.major ? " major" : ""));
      line.style.left = tick.left + "%";
      grid.append(line);
    }
    head.append(axis);
    const body = el("div", "tl-body");
    body.append(grid);
    const rows = [];
    data.instruments.forEach((instrument, index) => {
      const row = el("div", "tl-row");
      row.dataset.instrument = S[instrument[0]];
      row.dataset.row = index;
      const label = el("div", "tl-label");
      const code = el("span", "tl-code", S[instrument[0]]);
      const name = el("span", "tl-name", S[instrument[1]]);
      name.title = S[instrument[1]];
      const idle = idleWords(timelineData, index, first, end);
      const idleBadge = el("span", "tl-idle", words("idle", { n: idle.total }));
      idleBadge.title = idle.title;
      idleBadge.dataset.idle = idle.total;
      label.append(code, name, idleBadge);
      const track = el("div", "tl-track");
      row.append(label, track);
      rows.push({ row: row, track: track, blocks: [] });
    });
    for (const [row, start, stop, kind, text] of data.windows) {
      if (start >= end || stop <= first) continue;
      const band = el("div", "band window kind-" + S[kind]);
      band.title = S[text];
      band.dataset.kind = S[kind];
      band.dataset.startShift = start;
      band.dataset.endShift = stop;
      place(band, start, stop, first, end);
      rows[row].track.append(band);
    }
    for (const [row, start, stop] of timelineData.changeovers) {
      if (start >= end || stop <= first) continue;
      const band = el("div", "band changeover");
      band.dataset.startShift = start;
      band.dataset.endShift = stop;
      place(band, start, stop, first, end);
      rows[row].track.append(band);
    }
    // Tracks are measured once the rows are in the page: labels go only on blocks wide enough for them.
    const pending = [];
    timelineData.blocks.forEach((b, index) => {
      if (b[1] >= end || b[1] + b[2] <= first) return;
      const block = blockOf(timelineData, index);
      const node = el("div", "block" + (block.pinned ? " pinned" : ""));
      node.tabIndex = -1;
      node.setAttribute("role", "button");
      node.setAttribute("aria-label", blockWords(block));
      node.style.setProperty("--c", block.category.colour);
      node.style.color = block.category.ink;
      node.dataset.index = index;
      node.dataset.request = block.request;
      node.dataset.proposal = block.proposal.code;
      node.dataset.instrument = block.instrument;
      node.dataset.startShift = block.start;
      node.dataset.shifts = block.shifts;
      node.dataset.category = block.category.key;
      if (block.change) node.dataset.change = block.change;
      if (highlight && !highlight(block)) node.classList.add("dim");
      else if (highlight) node.classList.add("match");
      place(node, block.start, block.start + block.shifts, first, end);
      rows[block.row].track.append(node);
      rows[block.row].blocks.push(node);
      pending.push([node, block, compare && !block.change]);
    });
    let facility = -1;
    data.instruments.forEach((instrument, index) => {
      if (instrument[2] !== facility) {
        facility = instrument[2];
        const f = data.facilities[facility];
        const header = el("div", "tl-facility");
        header.append(el("span", "strong", S[f[1]]), el("span", "tl-facility-facts", S[f[0]] + " · " + S[f[2]] + " · " + S[f[3]]));
        body.append(header);
      }
      body.append(rows[index].row);
    });
    container.append(head, body);
    const width = rows.length ? rows[0].track.clientWidth : 0;
    for (const [node, block, faded] of pending) {
      if (faded || node.classList.contains("dim")) continue;
      const px = (width * Math.min(block.shifts, end - first)) / (end - first);
      const fuller = block.proposal.surname ? block.proposal.surname + " · " + block.proposal.countries[0] : block.proposal.code;
      const text = px >= fuller.length * 6.2 + 10 ? fuller : px >= block.proposal.code.length * 6.2 + 10 ? block.proposal.code : px >= LABEL_MIN_PX && block.proposal.surname ? block.proposal.surname.slice(0, Math.floor((px - 10) / 6.5)) : "";
      if (text) node.append(el("span", "block-text", text));
    }
    const keep = state[number].current;
    const all = rows.flatMap((r) => r.blocks);
    const chosen = (keep && all.find((node) => node.dataset.request === keep)) || all[0];
    if (chosen) chosen.tabIndex = 0;
    state[number].rows = rows.filter((r) => r.blocks.length);
    state[number].width = width;
    state[number].view = [first, end];
    listeners.drawn.forEach((listener) => listener(number, all));
  }

  function redraw() {
    const [, , label] = view();
    document.querySelectorAll(".zoom-period").forEach((node) => { node.textContent = label; });
    document.querySelectorAll(".zoom-level").forEach((button) => { button.setAttribute("aria-pressed", String(button.dataset.zoom === zoom.level)); });
    containers.forEach((container, number) => draw(container, Number(container.dataset.timeline) || number));
  }

  document.querySelectorAll(".zoom-level").forEach((button) => {
    button.addEventListener("click", () => {
      const [first] = view();
      zoom.level = button.dataset.zoom;
      // Keep the start of what was shown in view.
      const list = periods(zoom.level);
      const found = list.findIndex(([s, e]) => first >= s && first < e);
      zoom.index = found < 0 ? 0 : found;
      hideTip();
      redraw();
    });
  });
  document.querySelectorAll(".zoom-step").forEach((button) => {
    button.addEventListener("click", () => {
      zoom.index += Number(button.dataset.step);
      hideTip();
      redraw();
    });
  });

  // Tooltip
  const tip = document.getElementById("tooltip");
  let tipFor = null;
  function timelineOf(node) { return data.timelines[Number(node.closest(".timeline").dataset.timeline)]; }
  function row(list, term, value) {
    const dt = el("dt", "", term);
    const dd = el("dd");
    if (value instanceof Node) dd.append(value); else dd.textContent = value;
    list.append(dt, dd);
  }
  function details(block, list) {
    const category = el("span");
    const swatch = el("span", "tt-swatch");
    swatch.style.setProperty("--c", block.category.colour);
    category.append(swatch, block.category.label);
    row(list, TEXTS.category, category);
    row(list, TEXTS.pi, block.proposal.pi);
    row(list, TEXTS.countries, block.proposal.countries.join(", "));
    row(list, TEXTS.instrument, block.instrument);
    row(list, TEXTS.shifts, words("shiftRange", { shifts: block.shifts, first: block.start, last: block.start + block.shifts }));
    row(list, TEXTS.from, fullTime(block.start, block.zone));
    row(list, TEXTS.to, fullTime(block.start + block.shifts, block.zone));
    row(list, TEXTS.timezone, block.zone);
    row(list, TEXTS.priority, block.priority ? block.priority.toFixed(3) : TEXTS.notShown);
    if (block.pinned) row(list, TEXTS.pinned, TEXTS.pinnedWords);
    if (block.change) row(list, TEXTS.change, word(block.change));
  }
  function showTip(node) {
    if (!tip) return;
    const block = blockOf(timelineOf(node), Number(node.dataset.index));
    const list = el("dl");
    details(block, list);
    tip.replaceChildren(el("div", "tt-title", block.proposal.code + " · " + block.request), el("div", "tt-sub", block.proposal.title), list);
    tip.hidden = false;
    if (tipFor) tipFor.classList.remove("active");
    tipFor = node;
    node.classList.add("active");
    const box = node.getBoundingClientRect();
    const left = Math.min(Math.max(8, box.left + window.scrollX), window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 8);
    let top = box.bottom + window.scrollY + 6;
    if (box.bottom + tip.offsetHeight + 12 > window.innerHeight) top = box.top + window.scrollY - tip.offsetHeight - 6;
    tip.style.left = left + "px";
    tip.style.top = top + "px";
  }
  function hideTip() {
    if (tip) tip.hidden = true;
    if (tipFor) tipFor.classList.remove("active");
    tipFor = null;
  }

  // Roving focus: one Tab stop per timeline, arrow keys between blocks.
  function focusBlock(node) {
    const container = node.closest(".timeline");
    container.querySelectorAll(".block[tabindex='0']").forEach((other) => { other.tabIndex = -1; });
    node.tabIndex = 0;
    state[Number(container.dataset.timeline)].current = node.dataset.request;
    node.focus();
  }
  function neighbour(node, key) {
    const number = Number(node.closest(".timeline").dataset.timeline);
    const rows = state[number].rows;
    const at = rows.findIndex((r) => r.blocks.includes(node));
    const blocks = rows[at].blocks;
    const position = blocks.indexOf(node);
    if (key === "ArrowRight") return blocks[position + 1];
    if (key === "ArrowLeft") return blocks[position - 1];
    if (key === "Home") return blocks[0];
    if (key === "End") return blocks[blocks.length - 1];
    const other = rows[at + (key === "ArrowDown" ? 1 : -1)];
    if (!other) return undefined;
    const start = Number(node.dataset.startShift);
    return other.blocks.reduce((best, candidate) =>
      Math.abs(Number(candidate.dataset.startShift) - start) < Math.abs(Number(best.dataset.startShift) - start) ? candidate : best);
  }
  function select(node) {
    const number = Number(node.closest(".timeline").dataset.timeline);
    const block = blockOf(data.timelines[number], Number(node.dataset.index));
    listeners.select.forEach((listener) => listener(block, node, details));
  }

  document.addEventListener("keydown", (event) => {
    const node = event.target.closest && event.target.closest(".block");
    if (event.key === "Escape") { hideTip(); return; }
    if (!node) return;
    if (["ArrowRight", "ArrowLeft", "ArrowUp", "ArrowDown", "Home", "End"].includes(event.key)) {
      event.preventDefault();
      const next = neighbour(node, event.key);
      if (next) focusBlock(next);
    } else if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      select(node);
    }
  });
  document.addEventListener("focusin", (event) => {
    const node = event.target.closest && event.target.closest(".block");
    if (node) showTip(node);
  });
  document.addEventListener("focusout", (event) => {
    if (event.target.closest && event.target.closest(".block")) hideTip();
  });
  document.addEventListener("mouseover", (event) => {
    const node = event.target.closest && event.target.closest(".block");
    if (node && !drag) showTip(node);
  });
  document.addEventListener("mouseout", (event) => {
    const node = event.target.closest && event.target.closest(".block");
    if (node && !node.contains(event.relatedTarget) && document.activeElement !== node) hideTip();
  });

  // Dragging: the body moves a block (along its instrument or to another), the right edge resizes it; with Shift
  // held over another block, the two swap. While dragging, "drag" listeners hear the changes a drop would make
  // (each time they change), "move" listeners the changes dropped: a list of {request, instrument, start_shift, shifts}.
  let drag = null;
  let dropped = false;
  function blockOfNode(node) { return blockOf(timelineOf(node), Number(node.dataset.index)); }
  // Two blocks exchange places as one change: on one instrument they exchange their order within the span they
  // cover (so blocks of other lengths keep the gap between them), across instruments each takes the other's start.
  function swapped(a, b) {
    if (a.instrument !== b.instrument) {
      return [
        { request: a.request, instrument: b.instrument, start_shift: b.start, shifts: a.shifts },
        { request: b.request, instrument: a.instrument, start_shift: a.start, shifts: b.shifts },
      ];
    }
    const [first, second] = a.start <= b.start ? [a, b] : [b, a];
    return [
      { request: second.request, instrument: a.instrument, start_shift: first.start, shifts: second.shifts },
      { request: first.request, instrument: a.instrument, start_shift: second.start + second.shifts - first.shifts, shifts: first.shifts },
    ];
  }
  function swapTarget(event) {
    if (!event.shiftKey || drag.mode !== "move") return null;
    const timeline = drag.node.closest(".timeline");
    return document.elementsFromPoint(event.clientX, event.clientY)
      .find((node) => node !== drag.node && node.classList.contains("block") && node.closest(".timeline") === timeline) || null;
  }
  function markSwapTarget(node) {
    if (drag.swapWith === node) return;
    if (drag.swapWith) drag.swapWith.classList.remove("swap-target");
    drag.swapWith = node;
    if (node) node.classList.add("swap-target");
  }
  document.addEventListener("pointerdown", (event) => {
    const node = event.target.closest && event.target.closest(".block");
    if (!node || event.button !== 0 || listeners.move.length === 0) return;
    const box = node.getBoundingClientRect();
    const number = Number(node.closest(".timeline").dataset.timeline);
    drag = {
      node: node, number: number, x: event.clientX, moved: false,
      mode: box.right - event.clientX <= EDGE_PX ? "resize" : "move",
      start: Number(node.dataset.startShift), shifts: Number(node.dataset.shifts),
      instrument: node.dataset.instrument, changes: null, key: "", swapWith: null,
    };
    node.setPointerCapture(event.pointerId);
  });
  document.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x;
    if (!drag.moved && Math.abs(dx) < DRAG_PX && !rowAt(event)) return;
    const [first, end] = state[drag.number].view;
    const delta = Math.round((dx / state[drag.number].width) * (end - first));
    const target = rowAt(event) || drag.node.closest(".tl-row");
    const start = drag.mode === "move" ? Math.max(0, Math.min(round.shifts - drag.shifts, drag.start + delta)) : drag.start;
    const shifts = drag.mode === "resize" ? Math.max(1, Math.min(round.shifts - drag.start, drag.shifts + delta)) : drag.shifts;
    const instrument = drag.mode === "move" ? target.dataset.instrument : drag.instrument;
    const other = swapTarget(event);
    if (!drag.moved && !other && start === drag.start && shifts === drag.shifts && instrument === drag.instrument) return;
    drag.moved = true;
    hideTip();
    drag.node.classList.add("dragging");
    if (drag.mode === "move" && target.querySelector(".tl-track") !== drag.node.parentElement) target.querySelector(".tl-track").append(drag.node);
    place(drag.node, start, start + shifts, first, end);
    markSwapTarget(other);
    drag.changes = other
      ? swapped(blockOfNode(drag.node), blockOfNode(other))
      : [{ request: drag.node.dataset.request, instrument: instrument, start_shift: start, shifts: shifts }];
    const key = JSON.stringify(drag.changes);
    if (key !== drag.key) {
      drag.key = key;
      listeners.drag.forEach((listener) => listener(drag.changes, drag.node));
    }
  });
  function rowAt(event) {
    const under = document.elementFromPoint(event.clientX, event.clientY);
    const found = under && under.closest(".tl-row");
    return found && found.closest(".timeline") === drag.node.closest(".timeline") ? found : null;
  }
  document.addEventListener("pointerup", () => {
    if (!drag) return;
    const done = drag;
    markSwapTarget(null);
    drag = null;
    done.node.classList.remove("dragging");
    if (!done.moved || !done.changes) return;
    dropped = true;
    const [change] = done.changes;
    const unchanged = done.changes.length === 1 && change.instrument === done.instrument && change.start_shift === done.start && change.shifts === done.shifts;
    if (unchanged) { listeners.drag.forEach((listener) => listener(null, done.node)); redraw(); return; }
    listeners.move.forEach((listener) => listener(done.changes, done.node));
  });
  document.addEventListener("click", (event) => {
    const node = event.target.closest && event.target.closest(".block");
    if (dropped) { dropped = false; return; }
    if (node) { focusBlock(node); select(node); }
  });

  window.Timeline = {
    data: data,
    texts: TEXTS,
    words: words,
    word: word,
    strings: S,
    categories: categories,
    proposalOf: proposalOf,
    redraw: redraw,
    /** Dims the blocks for which `predicate(block)` is false; null shows every block plainly (no redraw when
     * nothing was highlighted either: the round page clears the highlight as it starts). */
    highlight: function (predicate) {
      if (predicate === null && highlight === null) return;
      highlight = predicate;
      redraw();
    },
    on: function (kind, listener) { listeners[kind].push(listener); },
    focusBlock: focusBlock,
    swapped: swapped,
  };
  redraw();
  // When the page first answers input: what the dashboard benchmark and the browser tests wait for.
  document.documentElement.dataset.drawn = String(Math.round(performance.now()));
})();
