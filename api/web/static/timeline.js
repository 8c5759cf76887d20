// Timeline tooltips: hover or focus a block to see it; click pins it open, Escape or a click elsewhere closes it.
(function () {
  "use strict";
  const tip = document.getElementById("tooltip");
  if (!tip) return;
  let pinned = null;
  let shown = null;

  function row(list, term, value) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    if (value instanceof Node) dd.append(value); else dd.textContent = value;
    list.append(dt, dd);
  }

  function show(block) {
    const d = block.dataset;
    const title = document.createElement("div");
    title.className = "tt-title";
    title.textContent = d.proposal + " · " + d.request;
    const sub = document.createElement("div");
    sub.className = "tt-sub";
    sub.textContent = d.title;
    const list = document.createElement("dl");
    const category = document.createElement("span");
    const swatch = document.createElement("span");
    swatch.className = "tt-swatch";
    swatch.style.setProperty("--c", block.style.getPropertyValue("--c"));
    category.append(swatch, d.categoryLabel);
    row(list, "Category", category);
    row(list, "PI", d.pi);
    row(list, "Team countries", d.countries);
    row(list, "Instrument", d.instrument);
    row(list, "Shifts", d.shifts + " (shifts " + d.startShift + "–" + (Number(d.startShift) + Number(d.shifts)) + ")");
    row(list, "From", d.start);
    row(list, "To", d.end);
    row(list, "Timezone", d.timezone);
    row(list, "Priority", d.priority);
    if (d.pinned === "yes") row(list, "Pinned", "kept exactly by re-solves");
    if (d.change) row(list, "Change", d.change);
    tip.replaceChildren(title, sub, list);
    tip.hidden = false;
    if (shown) shown.classList.remove("active");
    shown = block;
    block.classList.add("active");
    place(block);
  }

  function place(block) {
    const box = block.getBoundingClientRect();
    const width = tip.offsetWidth;
    const left = Math.min(Math.max(8, box.left + window.scrollX), window.scrollX + document.documentElement.clientWidth - width - 8);
    let top = box.bottom + window.scrollY + 6;
    if (box.bottom + tip.offsetHeight + 12 > window.innerHeight) top = box.top + window.scrollY - tip.offsetHeight - 6;
    tip.style.left = left + "px";
    tip.style.top = top + "px";
  }

  function hide() {
    tip.hidden = true;
    if (shown) shown.classList.remove("active");
    shown = null;
  }

  document.addEventListener("mouseover", (event) => {
    const block = event.target.closest(".block");
    if (block && !pinned) show(block);
  });
  document.addEventListener("mouseout", (event) => {
    const block = event.target.closest(".block");
    if (block && !pinned && !block.contains(event.relatedTarget)) hide();
  });
  document.addEventListener("focusin", (event) => {
    const block = event.target.closest(".block");
    if (block && !pinned) show(block);
  });
  document.addEventListener("click", (event) => {
    const block = event.target.closest(".block");
    if (block) {
      pinned = pinned === block ? null : block;
      if (pinned) show(block); else hide();
    } else if (pinned) {
      pinned = null;
      hide();
    }
  });
  document.addEventListener("keydown", (event) => {
    const block = event.target.closest && event.target.closest(".block");
    if (event.key === "Escape") { pinned = null; hide(); }
    else if (block && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); block.click(); }
  });
})();
