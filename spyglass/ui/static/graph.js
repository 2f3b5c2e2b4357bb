// The metrics explorer (/graph): metric picker with search, label filters, the PromQL editor with
// the parser's error inline, an SVG line chart with legend, hover values and series toggling, and
// a table for instant queries. Data comes from the Prometheus API under /prometheus/api/v1.
// Every telemetry text goes into the page as text nodes, never as markup.
import { el, niceStep } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const API = "/prometheus/api/v1";
const COLORS = ["#3056d3", "#d92d20", "#039855", "#dc6803", "#7a5af8", "#0e9384", "#c11574", "#667085", "#b54708", "#2e90fa"];
const state = JSON.parse(document.getElementById("graph-data").textContent);
const form = document.getElementById("query-form");
const editor = document.getElementById("expr");
const exprError = document.getElementById("expr-error");
const resultError = document.getElementById("result-error");
const status = document.getElementById("status");
const chart = document.getElementById("chart");
const tooltip = document.getElementById("tooltip");
const legend = document.getElementById("legend");
// Time axis steps: whole minutes, hours and days, so ticks land on round clock times.
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080].map((m) => m * 60000);
let series = []; // [{label, color, points: [[ms, value]], hidden}]
let picked = null; // the metric whose labels the filter lists

// --- API -----------------------------------------------------------------------------------------

async function api(path, params) {
  const response = await fetch(`${API}${path}?${new URLSearchParams(params)}`);
  const body = await response.json();
  if (body.status !== "success") throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

/** Prometheus's text for a label set: name{a="1", b="2"}. */
export function seriesLabel(metric) {
  const name = metric.__name__ ?? "";
  const pairs = Object.keys(metric)
    .filter((k) => k !== "__name__")
    .sort()
    .map((k) => `${k}=${JSON.stringify(metric[k])}`);
  return pairs.length || !name ? `${name}{${pairs.join(", ")}}` : name;
}

function parseValue(text) {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return Number(text); // "NaN" -> NaN
}

function utc(ms, withDate = true) {
  const iso = new Date(ms).toISOString();
  return withDate ? `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC` : iso.slice(11, 16);
}

function formatNumber(v) {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
  return Math.abs(v) >= 1e6 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : String(Number(v.toPrecision(6)));
}

// --- metric picker and label filters ---------------------------------------------------------------

const search = document.getElementById("metric-search");
const list = document.getElementById("metric-list");
const count = document.getElementById("metric-count");
const allMetrics = list ? [...list.querySelectorAll("li")] : [];

search.addEventListener("input", () => {
  const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
  let shown = 0;
  for (const li of allMetrics) {
    const button = li.querySelector("button");
    const text = `${button.dataset.metric} ${button.title}`.toLowerCase();
    li.hidden = !words.every((w) => text.includes(w));
    if (!li.hidden) shown += 1;
  }
  if (allMetrics.length) count.textContent = words.length ? `${shown} of ${allMetrics.length} metrics` : `${allMetrics.length} metric${allMetrics.length === 1 ? "" : "s"}`;
});

const filterLabel = document.getElementById("filter-label");
const filterOp = document.getElementById("filter-op");
const filterValue = document.getElementById("filter-value");
const filterAdd = document.getElementById("filter-add");

function fillSelect(select, placeholder, values) {
  select.replaceChildren(el("option", { value: "" }, placeholder), ...values.map((v) => el("option", { value: v }, v)));
  select.disabled = values.length === 0;
}

async function pickMetric(name) {
  picked = name;
  editor.value = name;
  checkSyntax();
  fillSelect(filterValue, "value", []);
  filterAdd.disabled = true;
  const body = await api("/labels", { "match[]": name });
  fillSelect(filterLabel, "label", body.data.filter((l) => l !== "__name__"));
}

list?.addEventListener("click", (event) => {
  const button = event.target.closest("button.metric");
  if (button) pickMetric(button.dataset.metric).catch(showError);
});

filterLabel.addEventListener("change", async () => {
  filterAdd.disabled = true;
  if (!filterLabel.value) return fillSelect(filterValue, "value", []);
  const body = await api(`/label/${encodeURIComponent(filterLabel.value)}/values`, { "match[]": picked }).catch(showError);
  if (body) fillSelect(filterValue, "value", body.data);
});

filterValue.addEventListener("change", () => {
  filterAdd.disabled = !filterValue.value;
});

/** Add `label op "value"` to the picked metric's first selector in the query. */
export function addMatcher(expr, metric, matcher) {
  const escaped = metric.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const selector = new RegExp(`(^|[^a-zA-Z0-9_:])(${escaped})(\\{([^}]*)\\})?(?![a-zA-Z0-9_:])`);
  const m = selector.exec(expr);
  if (!m) return `${metric}{${matcher}}`;
  const inner = m[4] && m[4].trim() ? `${m[4].trim().replace(/,\s*$/, "")}, ${matcher}` : matcher;
  return `${expr.slice(0, m.index)}${m[1]}${metric}{${inner}}${expr.slice(m.index + m[0].length)}`;
}

filterAdd.addEventListener("click", () => {
  const value = filterOp.value.includes("~") ? filterValue.value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") : filterValue.value;
  editor.value = addMatcher(editor.value, picked, `${filterLabel.value}${filterOp.value}${JSON.stringify(value)}`);
  checkSyntax();
});

// --- editor: the parser's error inline -----------------------------------------------------------

let checkTimer = 0;
let checkSeq = 0;

async function checkSyntax() {
  const seq = ++checkSeq;
  const query = editor.value;
  if (!query.trim()) {
    exprError.textContent = "";
    editor.removeAttribute("aria-invalid");
    return;
  }
  const response = await fetch(`${API}/format_query?${new URLSearchParams({ query })}`);
  const body = await response.json();
  if (seq !== checkSeq) return;
  const bad = body.status !== "success";
  exprError.textContent = bad ? body.error.replace(/^invalid parameter "query": /, "") : "";
  editor.closest(".field").classList.toggle("invalid", bad);
  if (bad) editor.setAttribute("aria-invalid", "true");
  else editor.removeAttribute("aria-invalid");
}

editor.addEventListener("input", () => {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(() => checkSyntax().catch(showError), 250);
});

editor.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    form.requestSubmit();
  }
});

// --- tabs ------------------------------------------------------------------------------------------

for (const tab of document.querySelectorAll("[role=tab]")) {
  tab.addEventListener("click", () => {
    state.tab = tab.dataset.tab;
    document.getElementById("tab").value = state.tab;
    for (const t of document.querySelectorAll("[role=tab]")) t.setAttribute("aria-selected", String(t === tab));
    document.getElementById("graph-view").hidden = state.tab !== "0";
    document.getElementById("table-view").hidden = state.tab !== "1";
    const params = new URLSearchParams(location.search);
    params.set("g0.tab", state.tab);
    history.replaceState(null, "", `${location.pathname}?${params}`);
    run();
  });
}

function showError(error) {
  resultError.textContent = error.message;
  resultError.hidden = false;
  status.textContent = "";
}

// --- running the query -------------------------------------------------------------------------------

async function run() {
  if (!state.run) return;
  resultError.hidden = true;
  status.textContent = "Loading…";
  const started = performance.now();
  try {
    if (state.tab === "1") {
      const body = await api("/query", { query: state.expr, time: state.end / 1000 });
      renderTable(body.data);
      status.textContent = `${rowCount(body.data)} result${rowCount(body.data) === 1 ? "" : "s"} at ${utc(state.end)} · ${Math.round(performance.now() - started)} ms${warn(body)}`;
    } else {
      const body = await api("/query_range", { query: state.expr, start: state.start / 1000, end: state.end / 1000, step: state.step / 1000 });
      series = body.data.result.map((s, i) => ({
        label: seriesLabel(s.metric),
        color: COLORS[i % COLORS.length],
        points: s.values.map(([t, v]) => [Math.round(t * 1000), parseValue(v)]),
        hidden: false,
      }));
      if (body.data.resultType !== "matrix") series = [];
      renderLegend();
      draw();
      status.textContent = `${series.length} series · step ${state.step / 1000}s · ${Math.round(performance.now() - started)} ms${warn(body)}`;
    }
  } catch (error) {
    showError(error);
  }
}

function warn(body) {
  return body.warnings?.length ? ` · ${body.warnings.join("; ")}` : "";
}

function rowCount(data) {
  return data.resultType === "vector" ? data.result.length : 1;
}

function renderTable(data) {
  const body = document.querySelector("#result-table tbody");
  let rows;
  if (data.resultType === "vector") {
    rows = data.result.map((s) => [seriesLabel(s.metric), s.value[1]]);
  } else if (data.resultType === "matrix") {
    rows = data.result.map((s) => [seriesLabel(s.metric), s.values.map(([t, v]) => `${v} @${t}`).join("\n")]);
  } else {
    rows = [[data.resultType, data.result[1]]];
  }
  if (!rows.length) rows = [["No data at this time", ""]];
  body.replaceChildren(...rows.map(([label, value]) => el("tr", {}, el("td", { class: "series-label" }, label), el("td", { class: "num value" }, value))));
}

// --- legend and chart ----------------------------------------------------------------------------------

function renderLegend() {
  legend.replaceChildren(
    ...series.map((s, i) =>
      el(
        "li",
        {},
        el("button", { type: "button", class: "legend-item", "data-index": i, "aria-pressed": "true" }, el("span", { class: "swatch", style: `background:${s.color}` }), s.label),
      ),
    ),
  );
  if (!series.length) legend.replaceChildren(el("li", { class: "muted" }, "No data points in this time range."));
}

legend.addEventListener("click", (event) => {
  const button = event.target.closest("button.legend-item");
  if (!button) return;
  const s = series[Number(button.dataset.index)];
  s.hidden = !s.hidden;
  button.setAttribute("aria-pressed", String(!s.hidden));
  button.classList.toggle("off", s.hidden);
  draw();
});

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

const M = { left: 64, right: 12, top: 10, bottom: 24 };
let geometry = null;

function draw() {
  const width = chart.clientWidth || 800;
  const height = chart.clientHeight || 300;
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  chart.replaceChildren();
  const visible = series.filter((s) => !s.hidden);
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of visible) {
    for (const [, v] of s.points) {
      if (Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
  }
  if (lo === Infinity) [lo, hi] = [0, 1];
  if (lo === hi) [lo, hi] = [lo - (Math.abs(lo) / 10 || 1), hi + (Math.abs(hi) / 10 || 1)];
  const yStep = niceStep(hi - lo, 5);
  lo = Math.floor(lo / yStep) * yStep;
  hi = Math.ceil(hi / yStep) * yStep;
  const x = (t) => M.left + ((t - state.start) / Math.max(1, state.end - state.start)) * (width - M.left - M.right);
  const y = (v) => M.top + (1 - (v - lo) / (hi - lo)) * (height - M.top - M.bottom);
  geometry = { x, width, height };
  for (let v = lo; v <= hi + yStep / 2; v += yStep) {
    chart.append(svg("line", { class: "grid", x1: M.left, x2: width - M.right, y1: y(v), y2: y(v) }));
    chart.append(svg("text", { x: M.left - 6, y: y(v) + 4, "text-anchor": "end" }, formatNumber(Number(v.toPrecision(12)))));
  }
  const xStep = TIME_STEPS.find((d) => d >= (state.end - state.start) / 8) ?? niceStep(state.end - state.start, 8);
  for (let t = Math.ceil(state.start / xStep) * xStep; t <= state.end; t += xStep) {
    chart.append(svg("line", { class: "grid", x1: x(t), x2: x(t), y1: M.top, y2: height - M.bottom }));
    const label = xStep >= 86400000 ? new Date(t).toISOString().slice(5, 10) : utc(t, false);
    chart.append(svg("text", { x: x(t), y: height - 6, "text-anchor": "middle" }, label));
  }
  for (const s of visible) {
    let d = "";
    let previous = null;
    for (const [t, v] of s.points) {
      if (!Number.isFinite(v)) {
        previous = null;
        continue;
      }
      d += `${previous === null || t - previous > state.step * 1.5 ? "M" : "L"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      previous = t;
    }
    chart.append(svg("path", { class: "line", d, stroke: s.color, "data-series": s.label }));
  }
  chart.append(svg("line", { class: "cursor", id: "cursor", x1: 0, x2: 0, y1: M.top, y2: height - M.bottom, visibility: "hidden" }));
}

chart.addEventListener("mousemove", (event) => {
  if (!geometry || !series.length) return;
  const box = chart.getBoundingClientRect();
  const px = ((event.clientX - box.left) / box.width) * geometry.width;
  const frac = (px - M.left) / (geometry.width - M.left - M.right);
  if (frac < 0 || frac > 1) return hideTooltip();
  const t = state.start + Math.round((frac * (state.end - state.start)) / state.step) * state.step;
  const rows = [];
  for (const s of series) {
    if (s.hidden) continue;
    const point = s.points.find(([pt]) => pt === t);
    if (point) rows.push(el("div", { class: "tip-row" }, el("span", { class: "swatch", style: `background:${s.color}` }), `${s.label}: `, el("strong", {}, formatNumber(point[1]))));
  }
  const cursor = document.getElementById("cursor");
  cursor.setAttribute("x1", geometry.x(t));
  cursor.setAttribute("x2", geometry.x(t));
  cursor.setAttribute("visibility", "visible");
  tooltip.replaceChildren(el("div", { class: "tip-time" }, utc(t)), ...(rows.length ? rows : [el("div", { class: "muted" }, "no value")]));
  tooltip.hidden = false;
  const left = event.clientX - box.left + 14;
  tooltip.style.left = `${Math.min(left, box.width - tooltip.offsetWidth - 4)}px`;
  tooltip.style.top = `${event.clientY - box.top + 10}px`;
});

function hideTooltip() {
  tooltip.hidden = true;
  document.getElementById("cursor")?.setAttribute("visibility", "hidden");
}

chart.addEventListener("mouseleave", hideTooltip);
window.addEventListener("resize", () => series.length && draw());

run();
