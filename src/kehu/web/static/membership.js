/* kehu membership page: draws the bar charts of #kehu-membership-charts with the local Plotly (one bar per tier;
   grouped bars per month for tier changes and points). Each chart: {id, title, labels, series: [{name, values}],
   colors, x_title, y_title}. Nothing here needs eval, so the Content-Security-Policy holds. */
(function () {
  "use strict";

  var FONT = { family: "system-ui, -apple-system, 'PingFang SC', 'Microsoft YaHei', sans-serif", size: 12 };

  function readBlock(id) {
    var block = document.getElementById(id);
    if (!block) { return null; }
    try { return JSON.parse(block.textContent); } catch (e) { return null; }
  }

  function traces(chart) {
    var single = chart.series.length === 1;
    return chart.series.map(function (series, i) {
      return {
        type: "bar", name: series.name, x: chart.labels, y: series.values,
        marker: { color: single ? chart.colors : chart.colors[i % chart.colors.length] },
        hovertemplate: (single ? "%{x}" : series.name + " %{x}") + ": %{y:,}<extra></extra>"
      };
    });
  }

  function layout(chart) {
    var legend = chart.series.length > 1;
    return {
      margin: { t: legend ? 30 : 10, r: 10, b: 10, l: 10 }, autosize: true, barmode: "group", font: FONT,
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      showlegend: legend, legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
      xaxis: { automargin: true, type: "category", title: { text: chart.x_title || "" } },
      yaxis: { automargin: true, rangemode: "tozero", title: { text: chart.y_title || "" } }
    };
  }

  function draw() {
    var data = readBlock("kehu-membership-charts");
    if (typeof window.Plotly === "undefined" || !data || !data.charts) { return; }
    data.charts.forEach(function (chart) {
      var el = document.getElementById(chart.id);
      if (!el) { return; }
      window.Plotly.newPlot(el, traces(chart), layout(chart),
        { responsive: true, displaylogo: false, displayModeBar: false, locale: data.lang === "zh" ? "zh-CN" : "en" })
        .then(function () { el.setAttribute("data-rendered", "true"); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
