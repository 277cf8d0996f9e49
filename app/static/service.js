// 服务看板: draws the service dashboard's charts with ECharts (static/vendor/echarts, our own copy) from the figures
// the page embeds as JSON (#dash-data) — the same numbers as the tables under each chart.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dash-data").textContent);
  var n = data.names;
  var charts = [];
  var narrow = function () { return window.innerWidth < 600; };
  var COLORS = {
    sent: "#2f7d4f", failed: "#c0392b", deferred: "#d9a21b", in_progress: "#1f5fa8", skipped: "#9aa5b1", unread: "#c9b8e3", read: "#8e6bbf",
    overdue: "#c0392b", due_soon: "#d9a21b", later: "#2f7d4f", no_deadline: "#9aa5b1",
  };
  var base = function () {
    return {
      animation: false,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0, type: narrow() ? "scroll" : "plain" },
      grid: { left: 8, right: 16, top: narrow() ? 48 : 36, bottom: 8, containLabel: true },
    };
  };
  function draw(id, option) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(option);
    charts.push(chart);
  }
  // categories top-down in the tables' order (a category axis runs bottom-up by default)
  function stacked(id, d) {
    var o = base();
    o.xAxis = { type: "value", minInterval: 1 };
    o.yAxis = { type: "category", inverse: true, data: d.labels, axisLabel: { width: narrow() ? 80 : 160, overflow: "truncate" } };
    o.series = d.series.map(function (s) {
      return { name: s.name, type: "bar", stack: "s", barMaxWidth: 28, data: s.data, itemStyle: { color: COLORS[s.key] } };
    });
    draw(id, o);
  }
  function start() {
    stacked("chart-channels", data.channels);
    stacked("chart-deadlines", data.deadlines);
    var p = base();
    p.xAxis = { type: "category", data: data.processing.labels };
    p.yAxis = { type: "value", name: n.days };
    p.series = [
      { name: "p50", type: "bar", barMaxWidth: 40, data: data.processing.p50, itemStyle: { color: "#1f5fa8" } },
      { name: "p95", type: "bar", barMaxWidth: 40, data: data.processing.p95, itemStyle: { color: "#d9a21b" } },
    ];
    draw("chart-processing", p);
    var t = base();
    t.xAxis = { type: "category", data: data.trend.labels };
    t.yAxis = { type: "value", minInterval: 1 };
    t.series = [
      { name: n.inbox, type: "line", data: data.trend.inbox, itemStyle: { color: "#8e6bbf" } },
      { name: n.sent, type: "line", data: data.trend.sent, itemStyle: { color: "#2f7d4f" }, areaStyle: { opacity: 0.15 } },
      { name: n.failed, type: "line", data: data.trend.failed, itemStyle: { color: "#c0392b" } },
    ];
    draw("chart-trend", t);
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
    document.documentElement.setAttribute("data-charts", String(charts.length));
  }
  if (window.echarts) { start(); } else { window.addEventListener("load", start); }
})();
