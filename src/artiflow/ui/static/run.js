// The run page: the timeline (ECharts, every attempt a bar), and while the run runs, its status, duration and
// the DAG's step states and counts, polled from /api/run/... every 2 s. Text is set with textContent only.
"use strict";

const STATUS_COLOURS = {succeeded: "#2e8b57", failed: "#c0392b", running: "#2f6fd6", cached: "#8e6bbf",
                        caught: "#d68910", killed: "#7b241c"};
const ROWS_SHOWN = 40;

const TIMELINE_EVERY = 5;  // while the run runs, its timeline is redrawn every 5th poll (10 s): it is the costly part

// The API sends columns (attempt i: row[i], attempt[i], statuses[status[i]], start_ms[i], end_ms[i]); the series
// holds one plain array per attempt, [row, start s, end s, attempt, status], and each bar's colour is looked up by
// its index: no per-bar objects, so 10,000 bars cost little to build.
function timelineItems(data) {
  const items = new Array(data.row.length);
  for (let i = 0; i < items.length; i++) {
    const end = data.end_ms[i] === null ? data.now_ms : data.end_ms[i];
    items[i] = [data.row[i], data.start_ms[i] / 1000, end / 1000, data.attempt[i], data.statuses[data.status[i]]];
  }
  return items;
}

// The timeline's height for its rows (a task each), set as soon as the page runs from the task count the page
// gives, so drawing it later shifts nothing below it (a click aimed at a task link would land elsewhere).
function sizeTimeline(div, rows) {
  div.style.height = Math.max(160, Math.min(rows, ROWS_SHOWN) * 18 + 110) + "px";
}

function drawTimeline(div, data) {
  const chart = echarts.getInstanceByDom(div) || echarts.init(div, null, {renderer: "canvas"});
  const items = timelineItems(data);
  const colours = data.statuses.map((status) => STATUS_COLOURS[status] || "#9aa1ad");
  const rows = data.rows.length;
  sizeTimeline(div, rows);
  chart.resize();
  const enc = echarts.format.encodeHTML;
  chart.setOption({
    animation: false,
    grid: {left: 150, right: 60, top: 20, bottom: 60},
    tooltip: {formatter: (p) => {
      const [row, start, end, attempt] = p.value;
      return enc(data.rows[row]) + " · attempt " + enc(String(attempt)) + "<br>" + enc(p.value[4]) + " · " +
        enc((end - start).toFixed(3)) + " s (from " + enc(start.toFixed(3)) + " s)";
    }},
    xAxis: {type: "value", name: "s", min: 0, axisLabel: {formatter: (v) => v + " s"}},
    yAxis: {type: "category", data: data.rows, inverse: true, axisLabel: {fontSize: 10}},
    dataZoom: [
      {type: "slider", xAxisIndex: 0, filterMode: "weakFilter", bottom: 10},
      {type: "inside", xAxisIndex: 0, filterMode: "weakFilter"},
      {type: "slider", yAxisIndex: 0, right: 10, width: 16, startValue: 0, endValue: Math.min(rows, ROWS_SHOWN) - 1,
       zoomLock: false, filterMode: "weakFilter"},
      {type: "inside", yAxisIndex: 0, zoomOnMouseWheel: false, moveOnMouseWheel: true, moveOnMouseMove: false},
    ],
    series: [{
      type: "custom", name: "attempts", encode: {x: [1, 2], y: 0}, data: items, progressive: 4000,
      dimensions: ["row", "start", "end", "attempt", {name: "status", type: "ordinal"}],
      renderItem: (params, api) => {
        const start = api.coord([api.value(1), api.value(0)]);
        const end = api.coord([api.value(2), api.value(0)]);
        const height = api.size([0, 1])[1] * 0.7;
        const shape = echarts.graphic.clipRectByRect(
          {x: start[0], y: start[1] - height / 2, width: Math.max(end[0] - start[0], 2), height: height},
          {x: params.coordSys.x, y: params.coordSys.y, width: params.coordSys.width, height: params.coordSys.height});
        return shape && {type: "rect", transition: [], shape: shape, style: {fill: colours[data.status[params.dataIndex]]}};
      },
    }],
  }, {replaceMerge: ["series"]});
  const note = document.getElementById("timeline-note");
  if (data.truncated && note) note.textContent = "Only the first " + items.length + " attempts are drawn.";
  return chart;
}

// The timeline is below the fold: it is fetched and drawn once it comes near the screen, from a moment after the
// page has loaded (and redrawn while the run runs only when it is on screen, or once it comes back), so a run page
// opened or passed through costs neither ECharts nor the attempts of a 10,000-task run until they are looked at.
const timeline = {url: null, shown: false, stale: true};

function loadTimeline() {
  const div = document.getElementById("timeline");
  if (!div || !timeline.shown) { timeline.stale = true; return; }
  timeline.stale = false;
  withECharts(async () => {
    const response = await fetch(timeline.url, {headers: {"Accept": "application/json"}, credentials: "same-origin"});
    if (response.ok) {
      const data = await response.json();
      if (pageLeaving) return;
      if (echarts.getInstanceByDom(div)) drawTimeline(div, data);   // drawn again: it follows its size already
      else drawSized(div, () => drawTimeline(div, data));
    }
  });
}

const TIMELINE_AFTER_MS = 250;  // watched from this long after the load event: a page only passed through costs nothing

function watchTimeline(url) {
  const div = document.getElementById("timeline");
  if (!div) return;
  sizeTimeline(div, Number(div.dataset.rows) || 0);
  timeline.url = url;
  const observe = () => new IntersectionObserver((entries) => {
    timeline.shown = entries[entries.length - 1].isIntersecting;
    if (timeline.shown && timeline.stale) loadTimeline();
  }, {rootMargin: "300px 0px"}).observe(div);
  const later = () => setTimeout(observe, TIMELINE_AFTER_MS);
  if (document.readyState === "complete") later(); else window.addEventListener("load", later);
}

function updateRun(json) {
  const badge = document.getElementById("run-status");
  badge.textContent = json.status;
  badge.className = "badge " + json.status_class;
  for (const node of document.querySelectorAll(".run-status-text")) node.textContent = json.status;
  document.getElementById("run-duration").textContent = json.duration;
  for (const node of document.querySelectorAll("#dag .dag-node")) {
    const step = json.steps[node.dataset.step];
    if (!step) continue;
    node.dataset.state = step.state;
    node.querySelector(".dag-counts").textContent = step.counts;
  }
  for (const section of document.querySelectorAll("section.step")) {
    const step = json.steps[section.dataset.step];
    if (!step) continue;
    const state = section.querySelector(".step-state");
    state.textContent = step.state;
    state.className = "badge step-state " + step.state;
    section.querySelector(".step-counts").textContent = step.counts;
  }
}

// While the run runs, a step's table (its first page of tasks) is rebuilt from /api/run/.../step/S when the step's
// counts change, and every table once more when the run ends.
const TASK_COLUMNS = ["Task", "Status", "Attempts", "Foreach", "Started", "Duration", "Cached from"];

function cell(content, attrs) {
  const td = el("td", null, attrs);
  if (content !== null && content !== undefined) td.append(content);
  return td;
}

function taskRow(row) {
  const tr = el("tr", null, {"class": "task-row", "data-task-id": row.id, "data-status": row.status});
  const foreach = cell(row.foreach, {"class": "task-foreach"});
  if (row.value !== null) foreach.append(" ", el("span", "= " + row.value, {"class": "task-value mono"}));
  const from = row.from_url ? el("a", row.from, {href: row.from_url}) : row.from;
  tr.append(cell(el("a", row.id, {href: row.url})), cell(el("span", row.status, {"class": "badge " + row.status_class})),
            cell(String(row.attempts), {"class": "task-attempts"}), foreach, cell(row.started), cell(row.duration),
            cell(from, {"class": "task-from"}));
  return tr;
}

function taskTable(json) {
  const table = el("table", null, {id: "tasks-" + json.step, "class": "tasks", "data-step": json.step});
  const head = el("tr");
  for (const name of TASK_COLUMNS) head.append(el("th", name));
  const body = el("tbody");
  for (const row of json.tasks) body.append(taskRow(row));
  table.append(el("thead"), body);
  table.tHead.append(head);
  return table;
}

function showTasks(section, json, base) {
  const shown = [json.tasks.length ? taskTable(json) : el("p", "No tasks yet.", {"class": "muted"})];
  if (json.total > json.per_page) {
    const link = el("a", "more tasks: " + json.total.toLocaleString("en-US") + " in all, page 2 →",
                    {href: base + "/step/" + encodeURIComponent(json.step) + "?page=2"});
    const more = el("p", null, {"class": "more"});
    more.append(link);
    shown.push(more);
  }
  const heading = section.querySelector("h3");
  while (heading.nextSibling) heading.nextSibling.remove();
  heading.after(...shown);
}

async function refreshTasks(data, step) {
  const section = document.querySelector("section.step[data-step=\"" + CSS.escape(step) + "\"]");
  if (!section || pageLeaving) return;
  const response = await fetch(data.steps + encodeURIComponent(step), {headers: {"Accept": "application/json"},
                                                                        credentials: "same-origin"});
  if (response.ok && !pageLeaving) showTasks(section, await response.json(), location.pathname);
}

(function () {
  const data = pageData("run-data");
  if (!data) return;
  watchTimeline(data.timeline);
  if (!data.running) return;
  let ticks = 0;
  const counted = {};   // each step's counts as its table shows them
  for (const section of document.querySelectorAll("section.step")) {
    counted[section.dataset.step] = section.querySelector(".step-counts").textContent;
  }
  poll(data.api, 2, (json) => {
    updateRun(json);
    ticks += 1;
    if (ticks % TIMELINE_EVERY === 0 || !json.running) loadTimeline();
    for (const [step, summary] of Object.entries(json.steps)) {
      if (counted[step] !== summary.counts || !json.running) refreshTasks(data, step);
      counted[step] = summary.counts;
    }
  }, (json) => json.running);
})();
