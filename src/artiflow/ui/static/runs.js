// The runs list: while a run shown is running, poll /api/runs (the same filters and page) every 2 s and
// update those rows' status and duration; say when new runs match (a reload shows them).
"use strict";

(function () {
  const data = pageData("runs-data");
  if (!data) return;
  const rows = new Map();
  for (const row of document.querySelectorAll("#runs tr.run-row")) {
    rows.set(row.dataset.flow + "/" + row.dataset.runId, row);
  }
  function anyRunning() {
    for (const row of rows.values()) if (row.dataset.status === "running") return true;
    return false;
  }
  function update(json) {
    for (const run of json.runs) {
      const row = rows.get(run.flow + "/" + run.run_id);
      if (!row) continue;
      row.dataset.status = run.status;
      const badge = row.querySelector(".run-status");
      badge.textContent = run.status;
      badge.className = "badge run-status " + run.status_class;
      row.querySelector(".run-duration").textContent = run.duration;
    }
    if (json.total !== data.total) document.getElementById("runs-new").classList.remove("hidden");
  }
  if (anyRunning()) poll(data.api, 2, update, anyRunning);
})();
