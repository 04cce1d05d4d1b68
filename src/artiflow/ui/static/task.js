// artiflow UI: the task page (logs tailing live, metric charts) and the lineage graph (task and lineage pages).
// Values come from JSON blocks and the logs API and are shown with textContent only.
"use strict";

const LOG_POLL_SECONDS = 1.5;
const SYMBOLS_UP_TO = 200;      // a line with more points is drawn without point markers
const ZOOM_FROM = 2000;         // a line with more points gets a zoom slider

// -- logs -------------------------------------------------------------------------------------------
function logUrl(live, stream, offset) {
  const query = new URLSearchParams({stream: stream, offset: String(offset)});
  if (live.attempt !== null && live.attempt !== undefined) query.set("attempt", String(live.attempt));
  return live.logs_url + "?" + query.toString();
}

function showSize(stream, bytes) {
  const node = document.getElementById(stream + "-size");
  if (!node) return;
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  node.textContent = unit === 0 ? value + " B" : value.toFixed(1) + " " + units[unit];
}

// Add a slice of the logs API to its <pre>; true when the log will not grow any more.
function appendLog(pre, json) {
  if (json.text) pre.appendChild(document.createTextNode(json.text));
  pre.dataset.offset = String(json.offset);
  showSize(pre.dataset.stream, json.size);
  const note = document.getElementById(pre.dataset.stream + "-note");
  if (note && (json.stored || json.done)) note.textContent = json.offset < json.size ? "Showing " + json.offset + " of " + json.size + " bytes." : "";
  return json.done;
}

function tailLogs(live) {
  for (const pre of document.querySelectorAll("pre.log")) {
    let busy = false, timer = null;
    const tick = async () => {
      if (busy) return;
      busy = true;
      try {
        const response = await fetch(logUrl(live, pre.dataset.stream, pre.dataset.offset), {credentials: "same-origin"});
        if (response.ok) {
          const json = await response.json();
          if (appendLog(pre, json)) clearInterval(timer);
          else if (json.offset < json.size) setTimeout(tick, 0);  // more is stored already: fetch it at once
        }
      } catch (err) { /* the server restarted: the next tick tries again */ }
      busy = false;
    };
    timer = setInterval(tick, LOG_POLL_SECONDS * 1000);
    tick();
  }
}

function moreLogs(live) {
  for (const button of document.querySelectorAll("button.log-more")) {
    button.addEventListener("click", async () => {
      const pre = document.getElementById("log-" + button.dataset.stream);
      const response = await fetch(logUrl(live, pre.dataset.stream, pre.dataset.offset), {credentials: "same-origin"});
      if (!response.ok) return;
      const json = await response.json();
      appendLog(pre, json);
      if (json.offset >= json.size) button.remove();
    });
  }
}

// -- metric charts -----------------------------------------------------------------------------------
// A series' points as [x, y] pairs: x its steps, or the point's index when it logged without steps.
function pairs(s) {
  return s.y.map((y, i) => [s.x ? s.x[i] : i, y]);
}

function lineSeries(series, count) {
  return series.map((s) => ({
    type: "line", name: "attempt " + s.attempt, data: pairs(s), showSymbol: s.y.length <= SYMBOLS_UP_TO,
    sampling: "lttb", connectNulls: false, animation: s.y.length <= SYMBOLS_UP_TO,
    progressive: 20000, progressiveThreshold: 50000,
    lineStyle: count > 1 && s !== series[series.length - 1] ? {type: "dashed"} : {},
  }));
}

function drawMetric(div, chart) {
  const instance = echarts.init(div, null, {renderer: "canvas"});
  const longest = Math.max(...chart.series.map((s) => s.y.length));
  const axisName = chart.series.every((s) => s.axis === "step") ? "step" : "point";
  instance.setOption({
    animation: longest <= SYMBOLS_UP_TO,
    tooltip: {trigger: "axis"},
    legend: chart.series.length > 1 ? {top: 0} : {show: false},
    grid: {left: 60, right: 24, top: chart.series.length > 1 ? 32 : 16, bottom: longest > ZOOM_FROM ? 64 : 32},
    xAxis: {type: "value", name: axisName, nameLocation: "middle", nameGap: 24, scale: true},
    yAxis: {type: "value", scale: true},
    dataZoom: longest > ZOOM_FROM ? [{type: "inside"}, {type: "slider"}] : [],
    series: lineSeries(chart.series, chart.series.length),
  });
  return instance;
}

function drawMetrics() {
  const charts = pageData("task-charts") || [];
  const byName = new Map(charts.map((c) => [c.name, c]));
  for (const div of document.querySelectorAll("div.chart[data-metric]")) {
    const chart = byName.get(div.dataset.metric);
    if (chart) drawSized(div, () => drawMetric(div, chart));
  }
}

// -- lineage -----------------------------------------------------------------------------------------
const KINDS = ["task", "artifact", "parameter"];

// The graph's height is set when the page is ready, before ECharts comes, so drawing it shifts nothing below it.
function sizeLineage() {
  const div = document.getElementById("lineage-graph");
  const data = pageData("task-lineage");
  if (!div || !data || data.nodes.length < 2) return null;
  const rows = Math.max(...data.nodes.map((n) => n.y)) / 60 + 1;
  div.style.height = Math.min(Math.max(240, rows * 60 + 60), 1200) + "px";
  return data;
}

function drawLineage(data) {
  const div = document.getElementById("lineage-graph");
  if (div && data) drawSized(div, () => lineageChart(div, data));
}

function lineageChart(div, data) {
  const instance = echarts.init(div);
  instance.setOption({
    tooltip: {formatter: (p) => (p.dataType === "node" ? p.data.id : p.data.kind + (p.data.via ? " (" + p.data.via + ")" : ""))},
    legend: {data: KINDS, top: 0},
    series: [{
      type: "graph", layout: "none", roam: true, categories: KINDS.map((k) => ({name: k})),
      edgeSymbol: ["none", "arrow"], edgeSymbolSize: 8, label: {show: true, position: "bottom"},
      data: data.nodes.map((n) => ({
        id: n.id, name: n.id, x: n.x, y: n.y, category: KINDS.indexOf(n.kind), url: n.url, value: n.kind,
        symbol: n.kind === "task" ? "rect" : "roundRect", symbolSize: n.id === data.subject ? [30, 30] : [18, 18],
        label: {formatter: n.label},
      })),
      links: data.edges.map((e) => ({source: e.source, target: e.target, kind: e.kind, via: e.via,
                                     lineStyle: {type: e.via === "client" ? "dashed" : "solid"}})),
      lineStyle: {color: "source", opacity: 0.7},
    }],
  });
  instance.on("click", (p) => {
    if (p.dataType === "node" && p.data.url && p.data.url.startsWith("/")) window.location.href = p.data.url;
  });
  return instance;
}

document.addEventListener("DOMContentLoaded", () => {
  const live = pageData("task-live");
  if (live && !live.done) tailLogs(live);
  if (live) moreLogs(live);
  const lineage = sizeLineage();
  if (document.querySelector("div.chart[data-metric], #lineage-graph")) {
    withECharts(() => {
      drawMetrics();
      drawLineage(lineage);
    });
  }
});
