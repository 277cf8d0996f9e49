// 资金监管看板: draws the dashboard's charts with ECharts (static/vendor/echarts, our own copy) from the figures the
// page embeds as JSON (#dash-data) — the same numbers as the tables under each chart.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dash-data").textContent);
  var n = data.names;
  var charts = [];
  var narrow = function () { return window.innerWidth < 600; };
  var money = function (v) { return Number(v).toLocaleString("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 }); };
  var base = function () {
    return {
      animation: false,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: money },
      legend: { top: 0 },
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    };
  };
  function draw(id, option) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(option);
    charts.push(chart);
  }
  function moneyChart(id, d, horizontal) {
    var o = base();
    var cat = { type: "category", data: d.labels, axisLabel: { interval: 0, width: narrow() ? 90 : 160, overflow: "truncate" } };
    var short = function (v) {
      if (Math.abs(v) < 10000) { return String(v); }
      return n.yuan === "元" ? (v / 10000) + "万" : (v / 1000) + "k";
    };
    var val = { type: "value", name: n.yuan, axisLabel: { formatter: short } };
    if (horizontal) { o.xAxis = val; o.yAxis = cat; } else { o.xAxis = cat; o.yAxis = val; }
    o.series = [
      { name: n.paid, type: "bar", stack: "m", barMaxWidth: 40, data: d.paid, itemStyle: { color: "#2f7d4f" } },
      { name: n.pending, type: "bar", stack: "m", barMaxWidth: 40, data: d.pending, itemStyle: { color: "#d9a21b" } },
      { name: n.returned, type: "bar", stack: "m", barMaxWidth: 40, data: d.returned, itemStyle: { color: "#c0392b" } },
    ];
    draw(id, o);
  }
  function start() {
    moneyChart("chart-month", data.month, false);
    moneyChart("chart-policy", data.policy, true);
    moneyChart("chart-region", data.region, true);
    // the fund used as a share of its cap (a policy's budget dwarfs its payments on an amount axis)
    var b = base();
    var pct = function (v) { return v + "%"; };
    b.tooltip.valueFormatter = pct;
    b.xAxis = { type: "value", max: function (v) { return Math.max(100, v.max); }, axisLabel: { formatter: pct } };
    b.yAxis = { type: "category", data: data.budget.labels };
    b.series = [
      { name: n.used, type: "bar", stack: "b", barMaxWidth: 28, data: data.budget.pct, itemStyle: { color: "#1f5fa8" } },
      { name: n.left, type: "bar", stack: "b", barMaxWidth: 28, data: data.budget.pct.map(function (v) { return Math.max(0, Math.round((100 - v) * 10) / 10); }), itemStyle: { color: "#c9d6e8" } },
    ];
    draw("chart-budget", b);
    var f = base();
    f.tooltip.valueFormatter = undefined;
    f.xAxis = { type: "value", minInterval: 1 };
    f.yAxis = { type: "category", data: data.flags.labels, axisLabel: { width: narrow() ? 110 : 220, overflow: "truncate" } };
    f.series = data.flags.series.map(function (s) { return { name: s.name, type: "bar", stack: "f", barMaxWidth: 28, data: s.data }; });
    draw("chart-flags", f);
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
    document.documentElement.setAttribute("data-charts", String(charts.length));
  }
  if (window.echarts) { start(); } else { window.addEventListener("load", start); }
})();
