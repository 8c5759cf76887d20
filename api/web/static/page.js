// What the round page's scripts share: calls to the API with Litestar's CSRF header, numbers in the page's
// language, and element building.
(function () {
  "use strict";
  // Litestar's CSRF check: the CSRF cookie's value, echoed in a header a page on another site cannot set.
  const CSRF = (document.cookie.match(/(?:^|;\s*)(?:__Host-)?beamtime_csrf=([^;]*)/) || [])[1] || "";
  const HEADERS = { "Content-Type": "application/json", "X-CSRF-Token": CSRF };

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

  // One formatter per number of digits: toLocaleString makes a new one per call, which the lists' rows felt.
  const numberFormats = {};
  function number(value, digits) {
    if (value === null || value === undefined) return "–";
    if (!numberFormats[digits]) {
      numberFormats[digits] = new Intl.NumberFormat(document.documentElement.lang, { minimumFractionDigits: digits, maximumFractionDigits: digits });
    }
    return numberFormats[digits].format(value);
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  window.Page = { call: call, number: number, el: el };
})();
