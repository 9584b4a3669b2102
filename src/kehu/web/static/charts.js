/* kehu dashboard charts: reads the JSON block #kehu-charts and draws each chart with the local Plotly. */
(function () {
  "use strict";

  var PALETTE = ["#2b6cb0", "#2f855a", "#c05621", "#6b46c1", "#b7791f", "#2c7a7b", "#c53030", "#4a5568",
                 "#d53f8c", "#718096", "#38a169"];

  function readData() {
    var block = document.getElementById("kehu-charts");
    if (!block) { return null; }
    try { return JSON.parse(block.textContent); } catch (e) { return null; }
  }

  function layoutFor(chart) {
    var layout = {
      margin: { t: 10, r: 10, b: 10, l: 10 },
      autosize: true,
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { family: "system-ui, -apple-system, 'PingFang SC', 'Microsoft YaHei', sans-serif", size: 12 },
      showlegend: chart.kind === "pie"
    };
    if (chart.kind !== "pie") {
      layout.xaxis = { automargin: true, title: { text: chart.x_title || "" } };
      layout.yaxis = { automargin: true, rangemode: "tozero", title: { text: chart.y_title || "" } };
      if (chart.y_log) { layout.yaxis.type = "log"; delete layout.yaxis.rangemode; }
    } else {
      layout.legend = { orientation: "h" };
    }
    return layout;
  }

  function traceFor(chart) {
    if (chart.kind === "pie") {
      return { type: "pie", labels: chart.labels, values: chart.values, hole: 0.45, sort: false,
               marker: { colors: PALETTE }, textinfo: "percent", hoverinfo: "label+value+percent" };
    }
    if (chart.kind === "line") {
      return { type: "scatter", mode: "lines+markers", x: chart.labels, y: chart.values,
               line: { color: PALETTE[0] }, hovertemplate: "%{x}: ¥%{y:,.2f}<extra></extra>" };
    }
    return { type: "bar", x: chart.labels, y: chart.values,
             marker: { color: chart.single_color ? PALETTE[0] : PALETTE },
             hovertemplate: "%{x}: %{y}<extra></extra>" };
  }

  /* A chart with "param" and "codes" opens the customer list filtered by the clicked bar or slice. */
  function linkClicks(el, chart, data) {
    if (!chart.param || !chart.codes || !el.on) { return; }
    var param = chart.param;
    el.on("plotly_click", function (event) {
      var point = event && event.points && event.points[0];
      if (!point) { return; }
      var index = point.pointNumber !== undefined ? point.pointNumber : point.pointIndex;
      var code = chart.codes[index];
      if (!code) { return; }
      var query = new URLSearchParams();
      query.set(param, code);
      if (data.as_of) { query.set("as_of", data.as_of); }
      window.location.href = data.customers_url + "?" + query.toString();
    });
  }

  function draw() {
    var data = readData();
    if (!data || typeof window.Plotly === "undefined") { return; }
    data.charts.forEach(function (chart) {
      var el = document.getElementById(chart.id);
      if (!el) { return; }
      window.Plotly.newPlot(el, [traceFor(chart)], layoutFor(chart),
        { responsive: true, displaylogo: false, displayModeBar: false, locale: data.lang === "zh" ? "zh-CN" : "en" })
        .then(function () { el.setAttribute("data-rendered", "true"); linkClicks(el, chart, data); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
