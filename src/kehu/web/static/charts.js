/* kehu dashboard charts: reads the JSON blocks #kehu-charts and #kehu-dashboard-charts and draws each chart with
   the local Plotly (bar, pie, line, heatmap, treemap, funnel, sankey: none of them needs eval, so the page's
   Content-Security-Policy holds). A chart with "links" (or "param" and "codes") opens the customer list filtered
   by the clicked bar, slice, cell or tile. */
(function () {
  "use strict";

  var PALETTE = ["#2b6cb0", "#2f855a", "#c05621", "#6b46c1", "#b7791f", "#2c7a7b", "#c53030", "#4a5568",
                 "#d53f8c", "#718096", "#38a169"];
  var FONT = { family: "system-ui, -apple-system, 'PingFang SC', 'Microsoft YaHei', sans-serif", size: 12 };

  function readBlock(id) {
    var block = document.getElementById(id);
    if (!block) { return null; }
    try { return JSON.parse(block.textContent); } catch (e) { return null; }
  }

  function narrow() { return window.innerWidth < 640; }

  function money(chart) { return chart.money ? "¥%{value:,.2f}" : "%{value:,}"; }

  function layoutFor(chart) {
    var layout = {
      margin: { t: 10, r: 10, b: 10, l: 10 },
      autosize: true,
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: FONT,
      showlegend: chart.kind === "pie"
    };
    if (chart.kind === "pie") {
      layout.legend = { orientation: "h" };
    } else if (chart.kind === "bar" || chart.kind === "line" || chart.kind === "heatmap") {
      layout.xaxis = { automargin: true, title: { text: chart.x_title || "" } };
      layout.yaxis = { automargin: true, title: { text: chart.y_title || "" } };
      if (chart.kind === "heatmap") {
        layout.xaxis.type = "category";
        layout.yaxis.type = "category";
        layout.xaxis.side = "bottom";
        if (chart.reverse_y) { layout.yaxis.autorange = "reversed"; }
      } else if (chart.orientation === "h") {
        layout.xaxis.rangemode = "tozero";
      } else {
        layout.yaxis.rangemode = "tozero";
        if (chart.y_log) { layout.yaxis.type = "log"; delete layout.yaxis.rangemode; }
      }
    } else if (chart.kind === "funnel") {
      layout.yaxis = { automargin: true };
      layout.margin.l = 10;
    } else if (chart.kind === "sankey") {
      layout.margin = { t: 24, r: 10, b: 10, l: 10 };
      layout.annotations = [
        { text: chart.dates[0], x: 0, y: 1.06, xref: "paper", yref: "paper", xanchor: "left", showarrow: false },
        { text: chart.dates[1], x: 1, y: 1.06, xref: "paper", yref: "paper", xanchor: "right", showarrow: false }
      ];
    } else if (chart.kind === "treemap") {
      layout.margin = { t: 0, r: 0, b: 0, l: 0 };
    }
    return layout;
  }

  function sankeyTrace(variant) {
    var linkColors = variant.source.map(function (s) { return hexToRgba(variant.colors[s], 0.35); });
    return { type: "sankey", orientation: "h", arrangement: "snap", valueformat: ",d",
             node: { label: variant.labels, color: variant.colors, customdata: variant.hover, pad: 12,
                     thickness: 14, line: { width: 0 }, hovertemplate: "%{customdata}: %{value:,}<extra></extra>" },
             link: { source: variant.source, target: variant.target, value: variant.value, color: linkColors,
                     hovertemplate: "%{source.label} → %{target.label}: %{value:,}<extra></extra>" } };
  }

  function hexToRgba(hex, alpha) {
    var m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || "");
    if (!m) { return "rgba(160,174,192," + alpha + ")"; }
    return "rgba(" + parseInt(m[1], 16) + "," + parseInt(m[2], 16) + "," + parseInt(m[3], 16) + "," + alpha + ")";
  }

  function traceFor(chart) {
    switch (chart.kind) {
      case "pie":
        return { type: "pie", labels: chart.labels, values: chart.values, hole: 0.45, sort: false,
                 marker: { colors: PALETTE }, textinfo: "percent",
                 hovertemplate: "%{label}: " + money(chart) + " (%{percent})<extra></extra>" };
      case "line":
        return { type: "scatter", mode: "lines+markers", x: chart.labels, y: chart.values,
                 line: { color: PALETTE[0] }, hovertemplate: "%{x}: ¥%{y:,.2f}<extra></extra>" };
      case "heatmap":
        return { type: "heatmap", x: chart.x, y: chart.y, z: chart.z, text: chart.text, xgap: 2, ygap: 2,
                 colorscale: chart.colorscale || "Blues", reversescale: typeof chart.colorscale === "string",
                 zmin: chart.zmin, hoverongaps: false, hovertemplate: "%{text}<extra></extra>",
                 texttemplate: chart.show_values ? "%{z:,}" : (chart.percent && !narrow() ? "%{z:.0%}" : ""),
                 textfont: { size: narrow() ? 10 : 11 },
                 showscale: !chart.show_values,
                 colorbar: { thickness: 10, tickformat: chart.percent ? ".0%" : ",d", outlinewidth: 0 } };
      case "treemap":
        return { type: "treemap", ids: chart.ids, labels: chart.labels, parents: chart.parents,
                 values: chart.values, branchvalues: "total", text: chart.text, textinfo: "label+value",
                 hovertemplate: "%{text}<extra></extra>", maxdepth: 2, pathbar: { visible: false },
                 marker: { colors: chart.colors, line: { color: "#fff", width: 1 } } };
      case "funnel":
        return { type: "funnel", y: chart.labels, x: chart.values, textinfo: "value+percent total",
                 marker: { color: chart.colors || PALETTE[0] }, hovertemplate: "%{y}: %{x:,}<extra></extra>" };
      case "sankey":
        return sankeyTrace(chart.variants[chart.current]);
      default:
        if (chart.orientation === "h") {
          return { type: "bar", orientation: "h", y: chart.labels, x: chart.values,
                   marker: { color: PALETTE[0] }, hovertemplate: "%{y}: %{x:,}<extra></extra>" };
        }
        return { type: "bar", x: chart.labels, y: chart.values,
                 marker: { color: chart.single_color ? PALETTE[0] : PALETTE },
                 hovertemplate: "%{x}: " + (chart.money ? "¥%{y:,.2f}" : "%{y:,}") + "<extra></extra>" };
    }
  }

  /* The link of a clicked point: links[y][x] for a heatmap, links[i] otherwise; else param + codes[i]. */
  function linkOf(chart, point, data) {
    if (chart.links) {
      if (chart.kind === "heatmap") {
        var row = chart.links[chart.y.indexOf(point.y)];
        return row ? row[chart.x.indexOf(point.x)] : null;
      }
      if (chart.kind === "treemap") {
        return chart.links[chart.ids.indexOf(point.id)] || null;
      }
      return chart.links[point.pointNumber !== undefined ? point.pointNumber : point.pointIndex] || null;
    }
    if (!chart.param || !chart.codes) { return null; }
    var index = point.pointNumber !== undefined ? point.pointNumber : point.pointIndex;
    var code = chart.codes[index];
    if (!code) { return null; }
    var query = new URLSearchParams();
    query.set(chart.param, code);
    if (data.as_of) { query.set("as_of", data.as_of); }
    return data.customers_url + "?" + query.toString();
  }

  function linkClicks(el, chart, data) {
    if (!el.on || !(chart.links || (chart.param && chart.codes))) { return; }
    if (chart.kind === "treemap") {
      /* A click on a tile follows its link instead of zooming into it. */
      el.on("plotly_treemapclick", function (event) {
        var point = event && event.points && event.points[0];
        var href = point && linkOf(chart, point, data);
        if (href) { window.location.href = href; }
        return false;
      });
      return;
    }
    el.on("plotly_click", function (event) {
      var point = event && event.points && event.points[0];
      var href = point && linkOf(chart, point, data);
      if (href) { window.location.href = href; }
    });
  }

  /* Radio buttons that switch a chart between variants (the Sankey's groups and stages). */
  function linkToggle(el, chart) {
    var box = document.querySelector("[data-toggle-for='" + chart.id + "']");
    if (!box || !chart.variants) { return; }
    box.hidden = false;
    box.addEventListener("change", function (event) {
      var value = event.target && event.target.value;
      if (!chart.variants[value]) { return; }
      chart.current = value;
      window.Plotly.react(el, [traceFor(chart)], layoutFor(chart)).then(function () {
        el.setAttribute("data-variant", value);
      });
    });
  }

  function drawAll(data) {
    if (!data || !data.charts) { return; }
    data.charts.forEach(function (chart) {
      var el = document.getElementById(chart.id);
      if (!el) { return; }
      window.Plotly.newPlot(el, [traceFor(chart)], layoutFor(chart),
        { responsive: true, displaylogo: false, displayModeBar: false, locale: data.lang === "zh" ? "zh-CN" : "en" })
        .then(function () {
          el.setAttribute("data-rendered", "true");
          if (chart.variants) { el.setAttribute("data-variant", chart.current); }
          linkClicks(el, chart, data);
          linkToggle(el, chart);
        });
    });
  }

  function draw() {
    if (typeof window.Plotly === "undefined") { return; }
    drawAll(readBlock("kehu-charts"));
    drawAll(readBlock("kehu-dashboard-charts"));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
