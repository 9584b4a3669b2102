/* kehu campaign and survey charts: reads the JSON block #kehu-campaign-charts and draws each chart with the local
   Plotly: "bars_ci" (a bar per arm or group with its 95% interval as an error bar) and "line_ci" (a value per month
   with its interval). No eval, no inline script: the Content-Security-Policy holds. On the new-campaign form it
   shows only the values of the chosen target kind. */
(function () {
  "use strict";

  var COLORS = ["#2b6cb0", "#a0aec0", "#2f855a", "#c05621", "#6b46c1", "#b7791f", "#2c7a7b", "#c53030"];
  var FONT = { family: "system-ui, -apple-system, 'PingFang SC', 'Microsoft YaHei', sans-serif", size: 12 };

  function readBlock(id) {
    var block = document.getElementById(id);
    if (!block) { return null; }
    try { return JSON.parse(block.textContent); } catch (e) { return null; }
  }

  function errors(chart) {
    var plus = [], minus = [];
    chart.values.forEach(function (v, i) {
      var lo = chart.low[i], hi = chart.high[i];
      plus.push(v === null || hi === null ? 0 : hi - v);
      minus.push(v === null || lo === null ? 0 : v - lo);
    });
    return { type: "data", symmetric: false, array: plus, arrayminus: minus, color: "#1a202c", thickness: 1.5,
             width: 8 };
  }

  function format(chart) {
    if (chart.percent) { return "%{y:.1%}"; }
    if (chart.money) { return "¥%{y:,.2f}"; }
    return "%{y:.1f}";
  }

  function trace(chart) {
    var hover = "%{x}: " + format(chart) + "<extra></extra>";
    if (chart.kind === "line_ci") {
      return { type: "scatter", mode: "lines+markers", x: chart.labels, y: chart.values, error_y: errors(chart),
               line: { color: COLORS[0] }, hovertemplate: hover };
    }
    return { type: "bar", x: chart.labels, y: chart.values, error_y: errors(chart),
             marker: { color: chart.labels.map(function (_, i) { return COLORS[i % COLORS.length]; }) },
             hovertemplate: hover };
  }

  function layout(chart) {
    var y = { automargin: true, title: { text: chart.y_title || "" }, zeroline: true };
    if (chart.percent) { y.tickformat = ".0%"; }
    if (chart.money) { y.tickprefix = "¥"; }
    if (chart.range) { y.range = chart.range; } else if (chart.kind !== "line_ci") { y.rangemode = "tozero"; }
    return { margin: { t: 10, r: 10, b: 10, l: 10 }, autosize: true, paper_bgcolor: "rgba(0,0,0,0)",
             plot_bgcolor: "rgba(0,0,0,0)", font: FONT, showlegend: false,
             xaxis: { automargin: true, type: "category", title: { text: chart.x_title || "" } }, yaxis: y };
  }

  function drawCharts() {
    var data = readBlock("kehu-campaign-charts");
    if (!data || !data.charts || typeof window.Plotly === "undefined") { return; }
    data.charts.forEach(function (chart) {
      var el = document.getElementById(chart.id);
      if (!el) { return; }
      window.Plotly.newPlot(el, [trace(chart)], layout(chart),
        { responsive: true, displaylogo: false, displayModeBar: false, locale: data.lang === "zh" ? "zh-CN" : "en" })
        .then(function () { el.setAttribute("data-rendered", "true"); });
    });
  }

  function targetForm() {
    var select = document.querySelector("[data-target-kind]");
    if (!select) { return; }
    function show() {
      document.querySelectorAll("[data-values-for]").forEach(function (box) {
        box.hidden = box.getAttribute("data-values-for") !== select.value;
      });
    }
    select.addEventListener("change", show);
    show();
  }

  function start() { drawCharts(); targetForm(); }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
