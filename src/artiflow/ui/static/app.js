// artiflow UI: what every page shares. Pages keep their data in <script type="application/json"> blocks
// (read with pageData) and show values with textContent only, never as markup.
"use strict";

function pageData(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

// Call `update(json)` with `url`'s JSON every `seconds` while `keepGoing(json)` says so (live pages).
function poll(url, seconds, update, keepGoing) {
  let stopped = false;
  async function tick() {
    if (stopped) return;
    try {
      const response = await fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"});
      if (response.ok) {
        const json = await response.json();
        update(json);
        if (keepGoing && !keepGoing(json)) { stopped = true; return; }
      }
    } catch (err) { /* the server is restarting or gone: try again later */ }
    setTimeout(tick, seconds * 1000);
  }
  setTimeout(tick, seconds * 1000);
  return () => { stopped = true; };
}

// A DOM element with text content (never parsed as HTML) and optional attributes.
function el(tag, text, attrs) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  return node;
}

// ECharts (1 MB of script) is fetched once the page has loaded, so the page's own content shows first; `ready`
// is called with it then (at once when it is there already). Charts fill in a moment after the page.
const ECHARTS_SRC = "/static/vendor/echarts/echarts.min.js";
let echartsWaiting = null;

let pageLeaving = false;  // the page is being left: charts are disposed and nothing more is drawn
window.addEventListener("pagehide", () => {
  pageLeaving = true;
  if (window.echarts) for (const div of document.querySelectorAll("[_echarts_instance_]")) echarts.dispose(div);
});
window.addEventListener("pageshow", (event) => { if (event.persisted) location.reload(); });  // back: drawn anew

function withECharts(ready) {
  const call = (lib) => { if (!pageLeaving) ready(lib); };
  if (window.echarts) { call(window.echarts); return; }
  if (echartsWaiting === null) {
    echartsWaiting = [];
    const fetchIt = () => {
      const script = el("script", null, {src: ECHARTS_SRC});
      script.onload = () => { for (const waiting of echartsWaiting) waiting(window.echarts); echartsWaiting = []; };
      document.head.appendChild(script);
    };
    if (document.readyState === "complete") fetchIt(); else window.addEventListener("load", fetchIt);
  }
  echartsWaiting.push(call);
}

// A chart follows its element's size, and is never laid out in an element of no width or height: an ECharts graph
// cannot invert a view of zero size and throws (a window resized to nothing, as a whole-page screenshot can do for a
// moment). `draw` waits until the element has a size; then the chart it returns is resized with the element.
function hasSize(div) {
  return div.clientWidth > 0 && div.clientHeight > 0;
}

function drawSized(div, draw) {
  let chart = null;
  const observer = new ResizeObserver(() => {
    if (pageLeaving || !hasSize(div)) return;
    if (chart === null) chart = draw();
    else if (!chart.isDisposed()) chart.resize();
  });
  observer.observe(div);   // it reports the element's size at once, then every change
}
