// 驾驶舱 and the policy funnel: draws their charts with ECharts (static/vendor/echarts, our own copy) from the
// figures the page embeds as JSON (#dash-data) — the same numbers as the tables under each chart.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dash-data").textContent);
  var n = data.names;
  var charts = [];
  var narrow = function () { return window.innerWidth < 600; };
  var money = function (v) { return Number(v).toLocaleString("zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 }); };
  var short = function (v) {
    if (Math.abs(v) < 10000) { return String(v); }
    return n.yuan === "元" ? (v / 10000) + "万" : (v / 1000) + "k";
  };
  var base = function () {
    return {
      animation: false,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
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
  function reach(id, d) {
    var o = base();
    o.xAxis = [{ type: "value", name: n.yuan, axisLabel: { formatter: short } }];
    o.yAxis = { type: "category", data: d.labels, axisLabel: { width: narrow() ? 90 : 200, overflow: "truncate" } };
    o.series = [
      { name: n.paid, type: "bar", barMaxWidth: 22, data: d.paid, itemStyle: { color: "#2f7d4f" }, tooltip: { valueFormatter: money } },
      { name: n.payees, type: "bar", barMaxWidth: 22, xAxisIndex: 1, data: d.payees, itemStyle: { color: "#1f5fa8" } },
    ];
    o.xAxis.push({ type: "value", name: n.payees, minInterval: 1, position: "top", splitLine: { show: false } });
    o.grid.top = 56;
    o.legend.top = 0;
    draw(id, o);
  }
  function start() {
    if (data.day) {
      var o = base();
      o.tooltip.valueFormatter = money;
      o.xAxis = { type: "category", data: data.day.labels };
      o.yAxis = { type: "value", name: n.yuan, axisLabel: { formatter: short } };
      o.series = [
        { name: n.paid, type: "line", data: data.day.paid, itemStyle: { color: "#2f7d4f" }, areaStyle: { opacity: 0.15 } },
        { name: n.pending, type: "line", data: data.day.pending, itemStyle: { color: "#d9a21b" } },
        { name: n.returned, type: "line", data: data.day.returned, itemStyle: { color: "#c0392b" } },
      ];
      draw("chart-day", o);
      reach("chart-industry", data.industry);
      reach("chart-district", data.district);
    }
    if (data.funnel) {
      draw("chart-funnel", {
        animation: false,
        tooltip: { trigger: "item" },
        series: [{
          type: "funnel", sort: "none", left: "10%", width: "80%", minSize: "20%", gap: 2,
          label: { show: true, position: "inside", formatter: "{b}: {c}" },
          data: data.funnel.stages.map(function (s, i) { return { name: n[s], value: data.funnel.n[i] }; }),
        }],
      });
      // each part as a share of the fund's cap (a cap dwarfs its payments on an amount axis)
      var p = data.projection;
      var share = function (list) { return list.map(function (v, i) { return p.cap[i] ? Math.round(1000 * v / p.cap[i]) / 10 : 0; }); };
      var pct = function (v) { return v + "%"; };
      var b = base();
      b.tooltip.valueFormatter = pct;
      b.xAxis = { type: "value", max: function (v) { return Math.max(100, v.max); }, axisLabel: { formatter: pct } };
      b.yAxis = { type: "category", data: p.labels, axisLabel: { width: narrow() ? 90 : 200, overflow: "truncate" } };
      b.grid.top = narrow() ? 60 : 36;
      b.series = [
        { name: n.paid_f, type: "bar", stack: "b", barMaxWidth: 28, data: share(p.paid), itemStyle: { color: "#2f7d4f" } },
        { name: n.transit, type: "bar", stack: "b", barMaxWidth: 28, data: share(p.transit), itemStyle: { color: "#d9a21b" } },
        { name: n.committed, type: "bar", stack: "b", barMaxWidth: 28, data: share(p.committed), itemStyle: { color: "#1f5fa8" } },
        { name: n.pipeline, type: "bar", stack: "b", barMaxWidth: 28, data: share(p.pipeline), itemStyle: { color: "#8e6bbf" } },
        { name: n.remaining, type: "bar", stack: "b", barMaxWidth: 28, data: share(p.remaining), itemStyle: { color: "#c9d6e8" } },
      ];
      draw("chart-projection", b);
    }
    // who the chosen policy reaches: entitled and paid (yuan) by group, the subjects on the top axis
    Object.keys(data.who || {}).forEach(function (name) {
      var d = data.who[name];
      if (!d.labels.length) { return; }
      var o = base();
      o.xAxis = [
        { type: "value", name: n.yuan, splitNumber: narrow() ? 2 : 4, axisLabel: { formatter: short, hideOverlap: true } },
        { type: "value", name: n.people, minInterval: 1, position: "top", splitLine: { show: false }, axisLabel: { hideOverlap: true } },
      ];
      o.yAxis = { type: "category", data: d.labels, inverse: true, axisLabel: { width: narrow() ? 80 : 130, overflow: "truncate" } };
      o.grid.top = 56;
      o.series = [
        { name: n.entitled_f, type: "bar", barMaxWidth: 16, data: d.entitled, itemStyle: { color: "#1f5fa8" }, tooltip: { valueFormatter: money } },
        { name: n.paid_f, type: "bar", barMaxWidth: 16, data: d.paid, itemStyle: { color: "#2f7d4f" }, tooltip: { valueFormatter: money } },
        { name: n.people, type: "scatter", xAxisIndex: 1, data: d.n, symbolSize: 9, itemStyle: { color: "#d9a21b" } },
      ];
      draw("chart-" + name, o);
    });
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
    document.documentElement.setAttribute("data-charts", String(charts.length));
  }
  if (window.echarts) { start(); } else { window.addEventListener("load", start); }
})();
