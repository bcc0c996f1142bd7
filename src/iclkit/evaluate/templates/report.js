// The per-example browser: filter (errors, gold, predicted, free text), paginate, expand a row to its prompt.
const RUNS = JSON.parse(document.getElementById("browser-data").textContent);
const state = { run: 0, errors: false, gold: "", pred: "", query: "", page: 0, open: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function promptOf(run, ex) {
  if (ex.prompt !== undefined) return ex.prompt;
  const head = run.instruction ? run.instruction + run.separator : "";
  return head + ex.demo_ids.map((d) => run.demos[d] + run.separator).join("") + ex.query;
}

function matches(run, ex) {
  if (state.errors && ex.pred === ex.gold) return false;
  if (state.gold && ex.gold !== state.gold) return false;
  if (state.pred && ex.pred !== state.pred) return false;
  if (!state.query) return true;
  const hay = [ex.id, ex.demo_ids.join(" "), ex.query !== undefined ? ex.query : ex.prompt].join("\n");
  return hay.toLowerCase().includes(state.query);
}

function fillSelect(select, labels) {
  select.length = 1;
  for (const label of labels) select.appendChild(el("option", { value: label }, label));
}

function detail(run, ex) {
  const cell = el("td", { colspan: "6" });
  if (ex.prompt !== undefined) {
    cell.appendChild(el("p", { class: "meta" }, "The demonstration texts could not be separated from the stored prompt; it is shown whole."));
    const part = el("div", { class: "prompt-part query" });
    part.appendChild(el("span", { class: "tag" }, "prompt"));
    part.appendChild(document.createTextNode(ex.prompt));
    cell.appendChild(part);
  } else {
    if (run.instruction) {
      const part = el("div", { class: "prompt-part" });
      part.appendChild(el("span", { class: "tag" }, "instruction"));
      part.appendChild(document.createTextNode(run.instruction));
      cell.appendChild(part);
    }
    ex.demo_ids.forEach((d, i) => {
      const part = el("div", { class: "prompt-part demo" });
      part.appendChild(el("span", { class: "tag" }, `demonstration ${i + 1} · id ${d}`));
      part.appendChild(document.createTextNode(run.demos[d]));
      cell.appendChild(part);
    });
    const part = el("div", { class: "prompt-part query" });
    part.appendChild(el("span", { class: "tag" }, `query · id ${ex.id} (scored with each label's answer)`));
    part.appendChild(document.createTextNode(ex.query));
    cell.appendChild(part);
  }
  cell.appendChild(el("p", { class: "meta" }, `${ex.demo_ids.length} of ${ex.n_req} requested demonstrations used: ${ex.demo_ids.join(", ") || "none"}`));
  cell.appendChild(scoreTable(run, ex));
  const row = el("tr", { class: "detail" });
  row.appendChild(cell);
  return row;
}

function scoreTable(run, ex) {
  const table = el("table", { class: "small scores" });
  const head = el("tr");
  for (const h of ["label", "score (log-prob)", "probability", ...(ex.cal_scores ? ["calibrated score"] : [])]) head.appendChild(el("th", {}, h));
  table.appendChild(head);
  const top = Math.max(...ex.scores);
  const z = ex.scores.reduce((s, v) => s + Math.exp(v - top), 0);
  run.labels.forEach((label, i) => {
    const tr = el("tr");
    tr.appendChild(el("td", label === ex.pred ? { class: "best" } : {}, label + (label === ex.gold ? "  (gold)" : "")));
    tr.appendChild(el("td", { class: "num" + (label === ex.pred ? " best" : "") }, ex.scores[i].toFixed(4)));
    tr.appendChild(el("td", { class: "num" }, (Math.exp(ex.scores[i] - top) / z).toFixed(3)));
    if (ex.cal_scores) tr.appendChild(el("td", { class: "num" + (label === ex.cal ? " best" : "") }, ex.cal_scores[i].toFixed(4)));
    table.appendChild(tr);
  });
  return table;
}

function render() {
  const run = RUNS[state.run];
  const rows = run.examples.filter((ex) => matches(run, ex));
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  state.page = Math.min(state.page, pages - 1);
  const body = document.querySelector("#examples-table tbody");
  body.replaceChildren();
  const start = state.page * PAGE_SIZE;
  for (const ex of rows.slice(start, start + PAGE_SIZE)) {
    const tr = el("tr", { class: "example-row " + (ex.pred === ex.gold ? "correct" : "error"), "data-id": ex.id });
    tr.appendChild(el("td", {}, ex.id));
    tr.appendChild(el("td", {}, ex.gold));
    tr.appendChild(el("td", { class: "pred" }, (ex.pred === ex.gold ? "✓ " : "✗ ") + ex.pred));
    if (run.calibrated) tr.appendChild(el("td", { class: ex.cal === ex.gold ? "cal ok" : "cal bad" }, ex.cal));
    tr.appendChild(el("td", { class: "num" }, String(ex.demo_ids.length)));
    tr.appendChild(el("td", { class: "text" }, ex.query !== undefined ? ex.query : ex.prompt.slice(-300)));
    tr.addEventListener("click", () => { state.open = state.open === ex.id ? null : ex.id; render(); });
    body.appendChild(tr);
    if (state.open === ex.id) body.appendChild(detail(run, ex));
  }
  $("cal-head").style.display = run.calibrated ? "" : "none";
  const shown = rows.length ? `${start + 1}–${Math.min(start + PAGE_SIZE, rows.length)}` : "0";
  const capped = run.total > run.examples.length ? ` (first ${run.examples.length} of ${run.total} embedded)` : "";
  $("row-count").textContent = `showing ${shown} of ${rows.length} matching examples; ${run.examples.length} in this run${capped}`;
  $("page-info").textContent = `page ${state.page + 1} of ${pages}`;
  $("prev-page").disabled = state.page === 0;
  $("next-page").disabled = state.page >= pages - 1;
}

function selectRun(index) {
  state.run = index; state.page = 0; state.open = null; state.gold = ""; state.pred = "";
  fillSelect($("gold-filter"), RUNS[index].labels);
  fillSelect($("pred-filter"), RUNS[index].labels);
  render();
}

RUNS.forEach((run, i) => $("run-select").appendChild(el("option", { value: String(i) }, run.name)));
$("run-select").addEventListener("change", (e) => selectRun(Number(e.target.value)));
$("errors-only").addEventListener("change", (e) => { state.errors = e.target.checked; state.page = 0; render(); });
$("gold-filter").addEventListener("change", (e) => { state.gold = e.target.value; state.page = 0; render(); });
$("pred-filter").addEventListener("change", (e) => { state.pred = e.target.value; state.page = 0; render(); });
$("search").addEventListener("input", (e) => { state.query = e.target.value.trim().toLowerCase(); state.page = 0; render(); });
$("prev-page").addEventListener("click", () => { state.page -= 1; render(); });
$("next-page").addEventListener("click", () => { state.page += 1; render(); });
selectRun(0);
