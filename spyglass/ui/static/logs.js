// The logs page: log lines that expand to every field, "Load more" through the API's cursor,
// the volume histogram (SVG bars stacked by severity; drag across it to narrow the time range),
// severity facets, and the live tail (EventSource on /api/v1/logs/tail) with pause and resume.
// Every telemetry text goes into the page as text nodes, never as markup.
import { attrTable, el, niceStep, wireAttributes, wireCopyButtons } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const SEVERITIES = ["trace", "debug", "info", "warn", "error", "fatal", "unspecified"];
const data = JSON.parse(document.getElementById("logs-data").textContent);
const lines = document.getElementById("loglines");
const params = new URLSearchParams(location.search);
let shown = 0;

// --- one log line ------------------------------------------------------------------------------

function severityName(r) {
  return r.severity || "unspecified";
}

function nsToMs(ns) {
  return Number(BigInt(String(ns)) / 1000000n);
}

function clock(ns) {
  if (ns === null || ns === undefined || String(ns) === "0") return "—";
  return new Date(nsToMs(ns)).toISOString().replace("T", " ").replace("Z", " UTC");
}

function bodyText(r) {
  return r.body_text ?? "";
}

function field(label, ...value) {
  return el("div", { class: "field-line" }, el("dt", {}, label), el("dd", {}, ...value));
}

function copyButton(label, text) {
  return el("button", { type: "button", class: "copy small", "data-copy": text, "aria-label": `Copy ${label}` }, "Copy");
}

function section(title, ...content) {
  return el("section", { class: "detail-section", "data-section": title.toLowerCase() }, el("h3", {}, title), ...content);
}


function renderFields(r) {
  const bodyType = r.body?.type ?? "empty";
  const structured = bodyType === "kvlist" || bodyType === "array";
  const ids = [];
  if (r.trace_id) {
    const href = `/traces/${r.trace_id}${r.span_id ? `#span=${r.span_id}` : ""}`;
    ids.push(field("Trace id", el("a", { href, class: "trace-link" }, r.trace_id), " ", copyButton("trace id", r.trace_id)));
  }
  if (r.span_id) ids.push(field("Span id", el("code", {}, r.span_id), " ", copyButton("span id", r.span_id)));
  const scope = r.scope;
  const more = [
    field("Time", clock(r.time_ns)),
    field("Observed", clock(r.observed_time_ns)),
    field("Severity", `${r.severity_text || "(no text)"} · number ${r.severity_number ?? 0}`),
    field("Service", r.service_name || "(unknown)"),
    r.event_name ? field("Event name", r.event_name) : null,
    r.flags ? field("Flags", `0x${Number(r.flags).toString(16)}`) : null,
    r.dropped_attributes_count ? field("Dropped attributes", String(r.dropped_attributes_count)) : null,
    ...ids,
  ];
  return el(
    "div",
    { class: "log-fields" },
    el("dl", { class: "facts-list" }, ...more.filter(Boolean)),
    section(
      "Body",
      el("p", { class: "muted" }, `type ${bodyType}`),
      structured ? attrTable(bodyType === "kvlist" ? r.body.value : r.body.value.map((v, i) => ({ key: String(i), ...v })), "attrs body-table") : null,
      el("pre", { class: "log-body" }, bodyText(r)),
    ),
    section("Attributes", attrTable(r.attributes || [])),
    section("Resource", attrTable(r.resource.attributes), r.resource.schema_url ? el("p", { class: "muted" }, `schema ${r.resource.schema_url}`) : null),
    section("Scope", el("p", {}, scope.name || "(unnamed)", scope.version ? ` ${scope.version}` : ""), attrTable(scope.attributes || [])),
  );
}

function logLine(r) {
  const sev = severityName(r);
  const summary = el(
    "button",
    { type: "button", class: "log-summary", "aria-expanded": "false" },
    el("span", { class: "log-time" }, clock(r.time_ns).slice(0, 23)),
    el("span", { class: `sev-badge sev-${sev}` }, r.severity_text || sev),
    el("span", { class: "log-service" }, r.service_name || ""),
    el("span", { class: "log-body-line" }, bodyText(r)),
  );
  const line = el("div", { class: `logline sev-${sev}`, role: "listitem" }, summary);
  if (r.trace_id) line.dataset.traceId = r.trace_id;
  if (r.span_id) line.dataset.spanId = r.span_id;
  summary.addEventListener("click", () => {
    const open = summary.getAttribute("aria-expanded") === "true";
    summary.setAttribute("aria-expanded", String(!open));
    line.classList.toggle("open", !open);
    if (open) line.querySelector(".log-fields")?.remove();
    else line.append(renderFields(r));
  });
  return line;
}

function showCount() {
  const count = document.getElementById("line-count");
  if (count) count.textContent = `${shown} line${shown === 1 ? "" : "s"}`;
}

function append(records) {
  lines.append(...records.map(logLine));
  shown += records.length;
  showCount();
}

// --- load more ---------------------------------------------------------------------------------

function apiQuery(extra = {}) {
  const q = new URLSearchParams(params);
  q.delete("cursor");
  // The page's resolved time range, so "now" does not move between pages.
  q.set("start", data.start_ns);
  q.set("end", data.end_ns);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q;
}

function wireLoadMore() {
  const button = document.getElementById("load-more");
  if (!button) return;
  let cursor = data.next_cursor;
  button.hidden = !cursor;
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Loading…";
    try {
      const r = await fetch(`/api/v1/logs?${apiQuery({ cursor })}`);
      if (!r.ok) throw new Error(`the server answered ${r.status}`);
      const page = await r.json();
      append(page.records);
      cursor = page.next_cursor;
      button.hidden = !cursor;
      button.textContent = "Load more";
    } catch (error) {
      button.textContent = `Load more (failed: ${error.message}; try again)`;
    } finally {
      button.disabled = false;
    }
  });
}

// --- severity facets ---------------------------------------------------------------------------

function wireFacets() {
  for (const facet of document.querySelectorAll("#facets .facet")) {
    const q = new URLSearchParams(params);
    q.delete("cursor");
    if (facet.classList.contains("active")) q.delete("severity");
    else q.set("severity", facet.dataset.severity);
    facet.href = `/logs?${q}`;
  }
}

// --- histogram ---------------------------------------------------------------------------------

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

function utcClock(ms, span) {
  const iso = new Date(ms).toISOString();
  return span > 2 * 86400e3 ? iso.slice(5, 16).replace("T", " ") : iso.slice(11, 16);
}

function drawHistogram() {
  const box = document.getElementById("histogram");
  const h = data.histogram;
  if (!box || !h) return;
  const width = Math.max(box.clientWidth || box.parentElement.clientWidth, 280);
  const height = 120;
  const m = { left: 48, right: 10, top: 8, bottom: 20 };
  box.setAttribute("viewBox", `0 0 ${width} ${height}`);
  box.replaceChildren();
  const t0 = nsToMs(h.start_ns);
  const t1 = nsToMs(h.end_ns);
  const span = Math.max(t1 - t0, 1);
  const x = (t) => m.left + ((t - t0) / span) * (width - m.left - m.right);
  const max = Math.max(1, ...h.buckets.map((b) => b.total));
  const y = (n) => height - m.bottom - (n / max) * (height - m.top - m.bottom);
  const axes = svg("g", { class: "axes" });
  const yStep = Math.max(1, Math.round(niceStep(max, 3)));
  for (let n = 0; n <= max; n += yStep) {
    axes.append(svg("line", { x1: m.left, x2: width - m.right, y1: y(n), y2: y(n), class: "grid" }));
    const label = svg("text", { x: m.left - 5, y: y(n) + 4, "text-anchor": "end" });
    label.textContent = String(n);
    axes.append(label);
  }
  const xStep = niceStep(span, Math.max(2, Math.floor(width / 110)));
  for (let t = Math.ceil(t0 / xStep) * xStep; t <= t1; t += xStep) {
    const label = svg("text", { x: x(t), y: height - 5, "text-anchor": "middle" });
    label.textContent = utcClock(t, span);
    axes.append(label);
  }
  box.append(axes);
  const bars = svg("g", { class: "bars" });
  for (const b of h.buckets) {
    const bx = x(nsToMs(b.start_ns));
    const bw = Math.max(1, x(nsToMs(b.start_ns) + h.bucket_ns / 1e6) - bx - 1);
    let level = 0;
    for (const sev of SEVERITIES) {
      const n = b.counts[sev] || 0;
      if (!n) continue;
      const rect = svg("rect", { x: bx, width: bw, y: y(level + n), height: y(level) - y(level + n), class: `bar sev-${sev}` });
      const title = svg("title");
      title.textContent = `${utcClock(nsToMs(b.start_ns), span)}: ${n} ${sev} (${b.total} in all)`;
      rect.append(title);
      bars.append(rect);
      level += n;
    }
  }
  box.append(bars);
  const brush = svg("rect", { class: "brush", x: 0, y: m.top, width: 0, height: height - m.top - m.bottom, visibility: "hidden" });
  box.append(brush);

  // Drag across the chart to narrow the time range: the URL gets the new start and end.
  const toMs = (clientX) => {
    const r = box.getBoundingClientRect();
    const px = ((clientX - r.left) / r.width) * width;
    return t0 + ((Math.min(Math.max(px, m.left), width - m.right) - m.left) / (width - m.left - m.right)) * span;
  };
  let from = null;
  box.onpointerdown = (e) => {
    from = toMs(e.clientX);
    box.setPointerCapture(e.pointerId);
  };
  box.onpointermove = (e) => {
    if (from === null) return;
    const to = toMs(e.clientX);
    brush.setAttribute("x", x(Math.min(from, to)));
    brush.setAttribute("width", Math.abs(x(to) - x(from)));
    brush.setAttribute("visibility", "visible");
  };
  box.onpointerup = (e) => {
    if (from === null) return;
    const to = toMs(e.clientX);
    const [a, b] = [Math.min(from, to), Math.max(from, to)];
    from = null;
    brush.setAttribute("visibility", "hidden");
    if (x(b) - x(a) < 4) return; // a click, not a drag
    const q = new URLSearchParams(params);
    q.delete("cursor");
    q.set("start", String(BigInt(Math.floor(a)) * 1000000n));
    q.set("end", String(BigInt(Math.ceil(b)) * 1000000n));
    location.assign(`/logs?${q}`);
  };
}

// --- live tail ---------------------------------------------------------------------------------

function wireTail() {
  const toggle = document.getElementById("tail-toggle");
  const pause = document.getElementById("tail-pause");
  const status = document.getElementById("tail-status");
  let source = null;
  let paused = false;
  let held = [];
  let received = 0;

  const say = (text) => { status.textContent = text; };
  const show = (records) => {
    document.getElementById("empty-state")?.remove();
    lines.prepend(...records.reverse().map(logLine));
    shown += records.length;
    showCount();
  };
  const start = () => {
    const q = new URLSearchParams(params);
    for (const k of ["start", "end", "cursor", "limit"]) q.delete(k);
    source = new EventSource(`/api/v1/logs/tail?${q}`);
    source.onopen = () => say(paused ? "Paused" : "Live: new matching logs appear at the top");
    source.onmessage = (event) => {
      const record = JSON.parse(event.data);
      received += 1;
      lines.dataset.tailReceived = String(received);
      if (paused) {
        held.push(record);
        say(`Paused · ${held.length} new held back`);
      } else show([record]);
    };
    source.onerror = () => say("Reconnecting…");
    toggle.textContent = "Stop live tail";
    toggle.setAttribute("aria-pressed", "true");
    pause.hidden = false;
    lines.dataset.tail = "live";
    if (location.hash !== "#tail") history.replaceState(null, "", "#tail");
  };
  const stop = () => {
    source?.close();
    source = null;
    paused = false;
    if (held.length) show(held);
    held = [];
    toggle.textContent = "Live tail";
    toggle.setAttribute("aria-pressed", "false");
    pause.hidden = true;
    pause.textContent = "Pause";
    delete lines.dataset.tail;
    say("");
    if (location.hash === "#tail") history.replaceState(null, "", location.pathname + location.search);
  };
  toggle.addEventListener("click", () => (source ? stop() : start()));
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    lines.dataset.tail = paused ? "paused" : "live";
    if (!paused && held.length) {
      show(held);
      held = [];
    }
    say(paused ? "Paused: new logs are held back until you resume" : "Live: new matching logs appear at the top");
  });
  window.addEventListener("pagehide", () => source?.close());
  if (location.hash === "#tail") start();
}

// Empty fields stay out of the URL, so a shared link carries only the query that was asked.
document.getElementById("search-form").addEventListener("submit", (event) => {
  for (const input of event.target.querySelectorAll("input, select")) {
    if (input.name && input.value === "") input.disabled = true;
  }
  setTimeout(() => { for (const input of event.target.querySelectorAll(":disabled")) input.disabled = false; }, 0);
});

wireAttributes();
if (lines) {
  // Not on a 400 page, which has only the form.
  wireCopyButtons();
  wireFacets();
  append(data.records);
  wireLoadMore();
  drawHistogram();
  wireTail();
  lines.dataset.ready = "true";
}
let resizeTimer = 0;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(drawHistogram, 100);
});
