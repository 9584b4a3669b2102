/* kehu — an import run's page: poll its progress (JSON) and update the page; reload it when the run ends.
 *
 * The page marks the box with data-progress-url while the run is going; the words come from the JSON block
 * #import-labels. Without JavaScript the page has a Refresh link instead. No inline script (CSP).
 */
(function () {
  "use strict";
  var box = document.querySelector("[data-progress-url]");
  if (!box) { return; }
  var url = box.getAttribute("data-progress-url");
  var labels = {};
  var block = document.getElementById("import-labels");
  if (block) {
    try { labels = JSON.parse(block.textContent || "{}"); } catch (e) { labels = {}; }
  }
  var delay = 1000;
  var failures = 0;

  function word(group, key) {
    return (labels[group] && labels[group][key]) || key;
  }

  function show(state) {
    var bar = box.querySelector("progress");
    if (bar && state.percent !== null && state.percent !== undefined) {
      bar.value = state.percent;
      bar.textContent = state.percent + "%";
    }
    var stage = box.querySelector("[data-role='stage']");
    if (stage && state.stage) { stage.textContent = word("stage", state.stage); }
    var status = box.querySelector("[data-role='status']");
    if (status) { status.textContent = word("status", state.status); }
    box.setAttribute("data-status", state.status);
    document.querySelectorAll("[data-counter]").forEach(function (el) {
      var key = el.getAttribute("data-counter");
      if (typeof state[key] === "number") { el.textContent = state[key].toLocaleString("en-US"); }
    });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (state) {
        failures = 0;
        show(state);
        if (state.finished) {
          window.location.reload();
        } else {
          window.setTimeout(poll, delay);
        }
      })
      .catch(function () {
        failures += 1;
        if (failures < 20) { window.setTimeout(poll, delay * Math.min(failures + 1, 10)); }
      });
  }

  window.setTimeout(poll, 300);
})();
