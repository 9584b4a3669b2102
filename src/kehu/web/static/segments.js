/* kehu — segment pages.
 *
 * The builder's live count: as the rule is typed (debounced), ask GET /segments/preview for the number of customers
 * it selects and a masked sample of 20, and show them; a rule error shows its message and marks the offending text
 * under the box. The words come from the JSON block #seg-labels. Without JavaScript the builder's "Check" button
 * does the same on the server.
 *
 * A segment's page: its size per snapshot as bars on a category axis (one bar per snapshot date, however far
 * apart), from the JSON block #seg-charts, with the local Plotly. No inline script (CSP).
 */
(function () {
  "use strict";
  var sizes = document.getElementById("seg-charts");
  if (sizes && typeof window.Plotly !== "undefined") {
    var data = null;
    try { data = JSON.parse(sizes.textContent || "null"); } catch (e) { data = null; }
    var el = data && document.getElementById(data.id);
    if (el) {
      var trace = { type: "bar", x: data.labels, y: data.values, marker: { color: "#2b6cb0" },
                    hovertemplate: "%{x}: %{y:,}<extra></extra>" };
      var layout = { margin: { t: 10, r: 10, b: 10, l: 10 }, autosize: true, paper_bgcolor: "rgba(0,0,0,0)",
                     plot_bgcolor: "rgba(0,0,0,0)", showlegend: false,
                     font: { family: "system-ui, -apple-system, 'PingFang SC', 'Microsoft YaHei', sans-serif", size: 12 },
                     xaxis: { type: "category", automargin: true },
                     yaxis: { automargin: true, rangemode: "tozero", title: { text: data.y_title || "" } } };
      window.Plotly.newPlot(el, [trace], layout, { responsive: true, displaylogo: false, displayModeBar: false,
                                                  locale: data.lang === "zh" ? "zh-CN" : "en" })
        .then(function () { el.setAttribute("data-rendered", "true"); });
    }
  }

  var box = document.getElementById("seg-rule");
  var panel = document.querySelector("[data-preview]");
  if (!box || !panel || !box.getAttribute("data-preview-url")) { return; }
  var url = box.getAttribute("data-preview-url");
  var asOf = document.getElementById("seg-as-of");
  var summary = panel.querySelector("[data-role='summary']");
  var sampleWrap = panel.querySelector("[data-role='sample-wrap']");
  var sample = panel.querySelector("[data-role='sample']");
  var errorBox = document.getElementById("seg-rule-error");
  var message = errorBox ? errorBox.querySelector("[data-role='message']") : null;
  var mark = errorBox ? errorBox.querySelector("[data-role='mark']") : null;
  var labels = {};
  var block = document.getElementById("seg-labels");
  if (block) {
    try { labels = JSON.parse(block.textContent || "{}"); } catch (e) { labels = {}; }
  }
  var DELAY = 350;
  var timer = null;
  var sequence = 0;
  var controller = null;
  var lastAsked = null;

  function word(key) { return labels[key] || ""; }

  function clearError() {
    if (!errorBox) { return; }
    errorBox.hidden = true;
    box.removeAttribute("aria-invalid");
    if (message) { message.textContent = ""; }
    if (mark) { mark.textContent = ""; mark.hidden = true; }
  }

  /* The rule with the offending part in <mark>, built from text nodes only (never HTML from the server). */
  function showError(error, rule) {
    if (!errorBox) { return; }
    errorBox.hidden = false;
    box.setAttribute("aria-invalid", "true");
    if (message) { message.textContent = error.message || word("failed"); }
    if (!mark) { return; }
    mark.textContent = "";
    if (typeof error.js_start !== "number") { mark.hidden = true; return; }
    var start = error.js_start;
    var end = Math.max(error.js_end, start);
    var hit = document.createElement("mark");
    hit.textContent = rule.slice(start, end) || " ";
    mark.appendChild(document.createTextNode(rule.slice(0, start)));
    mark.appendChild(hit);
    mark.appendChild(document.createTextNode(rule.slice(end)));
    mark.hidden = false;
    mark.setAttribute("data-start", String(start));
    mark.setAttribute("data-end", String(end));
  }

  function cell(tag, text) {
    var el = document.createElement(tag);
    el.textContent = text;
    return el;
  }

  function showSample(rows) {
    if (!sample) { return; }
    while (sample.firstChild) { sample.removeChild(sample.firstChild); }
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-customer", r.external_id);
      var head = document.createElement("th");
      head.setAttribute("scope", "row");
      if (r.href) {
        var a = cell("a", r.external_id);
        a.setAttribute("href", r.href);
        head.appendChild(a);
      } else {
        head.textContent = r.external_id;
      }
      tr.appendChild(head);
      var name = cell("td", r.name);
      name.setAttribute("data-field", "name");
      tr.appendChild(name);
      tr.appendChild(cell("td", r.province + (r.city ? " · " + r.city : "")));
      tr.appendChild(cell("td", r.rfm_class));
      tr.appendChild(cell("td", r.stage));
      var money = cell("td", r.monetary);
      money.className = "num";
      tr.appendChild(money);
      sample.appendChild(tr);
    });
    if (sampleWrap) { sampleWrap.hidden = rows.length === 0; }
  }

  function setState(state) { panel.setAttribute("data-state", state); }

  function ask() {
    var rule = box.value;
    var when = asOf ? asOf.value : "";
    var key = rule + "\u0000" + when;
    if (key === lastAsked) { return; }
    lastAsked = key;
    if (!rule.trim()) {
      clearError();
      showSample([]);
      if (summary) { summary.textContent = word("empty"); summary.setAttribute("data-count", ""); }
      setState("idle");
      return;
    }
    sequence += 1;
    var mine = sequence;
    if (controller) { controller.abort(); }
    controller = typeof AbortController === "function" ? new AbortController() : null;
    var query = new URLSearchParams();
    query.set("rule", rule);
    if (when) { query.set("as_of", when); }
    setState("loading");
    if (summary) { summary.setAttribute("aria-busy", "true"); }
    fetch(url + "?" + query.toString(), {
      credentials: "same-origin", headers: { "Accept": "application/json" }, cache: "no-store",
      signal: controller ? controller.signal : undefined
    })
      .then(function (response) {
        return response.json().then(function (body) { return { status: response.status, body: body }; });
      })
      .then(function (answer) {
        if (mine !== sequence) { return; }  /* a newer request is on its way */
        if (summary) { summary.removeAttribute("aria-busy"); }
        var body = answer.body || {};
        if (body.ok) {
          clearError();
          if (summary) {
            summary.textContent = body.summary;
            summary.setAttribute("data-count", String(body.count));
          }
          showSample(body.sample || []);
          setState("ready");
        } else {
          showError(body.error || {}, rule);
          if (summary) { summary.textContent = word("empty"); summary.setAttribute("data-count", ""); }
          showSample([]);
          setState("error");
        }
      })
      .catch(function (e) {
        if (e && e.name === "AbortError") { return; }
        if (mine !== sequence) { return; }
        if (summary) { summary.removeAttribute("aria-busy"); summary.textContent = word("failed"); }
        lastAsked = null;
        setState("failed");
      });
  }

  function later() {
    if (timer) { window.clearTimeout(timer); }
    timer = window.setTimeout(ask, DELAY);
  }

  box.addEventListener("input", later);
  if (asOf) { asOf.addEventListener("change", ask); }
  /* A page that was re-rendered by the server already shows the count: ask only once the rule changes. */
  if (panel.getAttribute("data-state") === "idle" && box.value.trim()) { ask(); } else { lastAsked = box.value + "\u0000" + (asOf ? asOf.value : ""); }
})();
