// The trace page: waterfall, details panel, critical path, minimap zoom and find-in-trace.
// Data comes from <script id="trace-data">: the waterfall columns of every span (no attributes),
// with span times as nanosecond offsets from the trace's first start, so they fit a JavaScript
// number exactly. A span's full details come from /api/v1/traces/{trace}/spans/{span} when it is
// selected; find-in-trace matches names, services and ids here and asks the server about
// attributes. Rows are built as one HTML string (every telemetry text escaped) and inserted at
// once: 10,000 spans in one pass instead of 10,000 element trees.
import { attrTable, el, formatDuration, niceStep, wireCopyButtons } from "./format.js";

const data = JSON.parse(document.getElementById("trace-data").textContent);
const spans = columnsToSpans(data.spans);
const byId = new Map(spans.map((s) => [s.span_id, s]));
const rowsBox = document.getElementById("rows");
const waterfall = document.getElementById("waterfall");
const details = document.getElementById("details");
const traceId = data.summary.trace_id;
let traceEnd = 1;
for (const s of spans) if (s.end > traceEnd) traceEnd = s.end;
let view = [0, traceEnd];
let selected = null;
const loaded = new Map(); // span id -> its details from the API (a promise while in flight)
const spanLogs = new Map(); // span id -> its first log records from the API (a promise)

function columnsToSpans(c) {
  const out = new Array(c.id.length);
  for (let i = 0; i < c.id.length; i++) {
    out[i] = {
      span_id: c.id[i],
      parent_span_id: c.parent[i],
      service: data.services[c.service[i]],
      name: c.name[i],
      start: c.start[i],
      end: c.start[i] + c.duration[i],
      duration_ns: c.duration[i],
      status: data.statuses[c.status[i]] ?? String(c.status[i]),
      kind: data.kinds[c.kind[i]] ?? String(c.kind[i]),
      events: c.events[i].map(([offset, name]) => ({ offset, name })),
      links: c.links[i],
      match: false,
    };
  }
  return out;
}

const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
/** Text for HTML, in element content and in quoted attribute values alike. */
const esc = (text) => String(text).replace(/[&<>"']/g, (c) => ESC[c]);

// --- tree --------------------------------------------------------------------------------------

/** Children under their parents, ordered by start; spans whose parent is missing become roots. */
function buildTree() {
  for (const s of spans) {
    s.children = [];
    s.collapsed = false;
    s.orphan = false;
  }
  const roots = [];
  for (const s of spans) {
    const parent = s.parent_span_id ? byId.get(s.parent_span_id) : undefined;
    if (parent && parent !== s) parent.children.push(s);
    else {
      s.orphan = Boolean(s.parent_span_id);
      roots.push(s);
    }
  }
  const byStart = (a, b) => a.start - b.start || a.end - b.end;
  for (const s of spans) s.children.sort(byStart);
  roots.sort(byStart);
  // Depth-first order; `last` is the index of a span's last descendant, so a subtree is a range.
  const order = [];
  const seen = new Set();
  const visit = (root) => {
    const stack = [[root, 0]];
    while (stack.length) {
      const [span, depth] = stack.pop();
      if (seen.has(span)) continue; // a parent cycle in bad data: show each span once
      seen.add(span);
      span.depth = depth;
      span.index = order.length;
      order.push(span);
      for (let i = span.children.length - 1; i >= 0; i--) stack.push([span.children[i], depth + 1]);
    }
  };
  roots.forEach(visit);
  for (const s of spans) {
    if (!seen.has(s)) { s.orphan = true; roots.push(s); visit(s); }
  }
  for (let i = order.length - 1; i >= 0; i--) {
    const s = order[i];
    s.last = s.children.reduce((m, c) => (seen.has(c) && c.index > s.index ? Math.max(m, c.last) : m), s.index);
  }
  return { roots, order };
}

// --- critical path -----------------------------------------------------------------------------

/**
 * The chain of span segments that determines when the trace ends. From a span's end, walk its
 * children by end time, latest first: the last child to finish before the cursor is on the path
 * (recursively), and the cursor moves back to that child's start; the gaps are the span's own
 * time. Children are clamped into their parent first, so clock skew cannot extend the path.
 */
function criticalPath(root) {
  const segments = new Map();
  const add = (span, start, end) => {
    if (end <= start) return;
    if (!segments.has(span.span_id)) segments.set(span.span_id, []);
    segments.get(span.span_id).push([start, end]);
  };
  const walk = (span, start, end) => {
    const kids = span.children
      .map((c) => ({ span: c, start: Math.max(c.start, start), end: Math.min(c.end, end) }))
      .filter((c) => c.start <= c.end)
      .sort((a, b) => b.end - a.end);
    let cursor = end;
    for (const child of kids) {
      if (child.end > cursor) continue;
      add(span, child.end, cursor);
      walk(child.span, child.start, child.end);
      segments.get(child.span.span_id) || segments.set(child.span.span_id, []);
      cursor = child.start;
      if (cursor <= start) break;
    }
    add(span, start, cursor);
  };
  walk(root, root.start, root.end);
  segments.get(root.span_id) || segments.set(root.span_id, []);
  return segments;
}

function mainRoot(roots) {
  const real = roots.filter((r) => !r.orphan);
  const pool = real.length ? real : roots;
  return pool.reduce((best, r) => (r.end - r.start > best.end - best.start ? r : best), pool[0]);
}

// --- rows --------------------------------------------------------------------------------------

const { roots, order } = buildTree();
const critical = spans.length ? criticalPath(mainRoot(roots)) : new Map();

const pct = (v) => `${(v * 100).toFixed(4)}%`;
const clamp01 = (v) => Math.min(1, Math.max(0, v));

/** One row as HTML, for the current view window (bars, segments and marks clamped into it). */
function rowHTML(span, v0, w) {
  const color = esc(data.colors[span.service] || "#888");
  const isError = span.status === "error";
  const segs = critical.get(span.span_id);
  const classes = ["row"];
  if (isError) classes.push("error");
  if (segs) classes.push("critical");
  if (span.orphan) classes.push("orphan");
  if (span.match) classes.push("match");
  if (span === selected) classes.push("selected");
  if (span.end < v0 || span.start > v0 + w) classes.push("outside");
  const name = esc(span.name);
  const parts = [
    `<div class="${classes.join(" ")}" data-span-id="${esc(span.span_id)}" data-depth="${span.depth}" data-critical="${segs ? "true" : "false"}" tabindex="0"`,
    span === selected ? ' aria-selected="true"' : "",
    span.hidden ? " hidden" : "",
    `><div class="name-col" style="padding-left: ${0.3 + span.depth * 0.9}rem">`,
    span.children.length ? toggleHTML(span) : '<span class="toggle-spacer"></span>',
    `<span class="swatch" style="background: ${color}"></span><span class="svc">${esc(span.service)}</span> <span class="op">${name}</span>`,
    isError ? '<span class="err-icon" title="error">!</span>' : "",
    span.orphan ? `<span class="tag" title="parent ${esc(span.parent_span_id)} is not in this trace">parent missing</span>` : "",
  ];
  const left = clamp01((span.start - v0) / w);
  const right = clamp01((span.end - v0) / w);
  parts.push(`</div><div class="lane"><div class="bar" style="background: ${color}; left: ${pct(left)}; width: ${pct(right - left)}"></div>`);
  for (const [s0, s1] of segs || []) {
    const a = clamp01((s0 - v0) / w);
    const b = clamp01((s1 - v0) / w);
    parts.push(`<div class="cp-seg" style="left: ${pct(a)}; width: ${pct(b - a)}"></div>`);
  }
  for (const event of span.events) {
    const title = esc(`${event.name} at +${formatDuration(event.offset)}`);
    parts.push(`<span class="event-mark" title="${title}" style="left: ${pct(clamp01((event.offset - v0) / w))}"></span>`);
  }
  // The duration after the bar, else before it, else inside its right end: never cut off by the lane.
  const where = right <= 0.85 ? "after" : left >= 0.15 ? "before" : "inside";
  const lpos = where === "after" ? pct(right) : "auto";
  const rpos = where === "before" ? pct(1 - left) : where === "inside" ? pct(1 - right) : "auto";
  parts.push(`<span class="bar-label${where === "inside" ? " inside" : ""}" style="left: ${lpos}; right: ${rpos}">${esc(formatDuration(span.duration_ns))}</span></div></div>`);
  return parts.join("");
}

function toggleText(span) {
  const hidden = span.last - span.index;
  return {
    text: span.collapsed ? "▸" : "▾",
    expanded: String(!span.collapsed),
    label: `${span.collapsed ? "Expand" : "Collapse"} ${span.name}`,
    title: span.collapsed ? `${hidden} span${hidden === 1 ? "" : "s"} hidden` : "",
  };
}

function toggleHTML(span) {
  const t = toggleText(span);
  return `<button type="button" class="toggle" aria-expanded="${t.expanded}" aria-label="${esc(t.label)}" title="${esc(t.title)}">${t.text}</button>`;
}

// Up to VIRTUAL_MIN spans every row is in the page; beyond, only the rows near the viewport are
// (VIRTUAL_MARGIN above and below it), inside padding that keeps the page's height and scroll
// position as if all were there. Rows have one height, measured from a rendered row (exactly:
// a fraction of a pixel off, times thousands of rows, misplaces the page's height and scroll). The
// rows are all laid out there (the `virtual` class turns off `content-visibility: auto`, whose
// placeholder height for rows off screen differs from a laid-out row's).
const VIRTUAL_MIN = 1000;
const VIRTUAL_MARGIN = 60;
const virtual = order.length > VIRTUAL_MIN;
if (virtual) rowsBox.classList.add("virtual");
let shown = order; // virtual mode: the spans not hidden inside a collapsed parent
let rowHeight = 25;
let windowRange = [0, 0];
let renderedSpans = [];

function insertRows(list, first, last) {
  const [v0, v1] = view;
  const w = v1 - v0;
  const html = new Array(last - first);
  for (let i = first; i < last; i++) html[i - first] = rowHTML(list[i], v0, w);
  for (const span of renderedSpans) span.row = null;
  rowsBox.innerHTML = html.join("");
  renderedSpans = list.slice(first, last);
  let row = rowsBox.firstElementChild;
  for (const span of renderedSpans) {
    row.span = span;
    span.row = row;
    row = row.nextElementSibling;
  }
}

/** Virtual mode: render the rows around the viewport (again if `force`, else only when it moved). */
function renderWindow(force = false) {
  const top = rowsBox.getBoundingClientRect().top; // where row 0 is (the padding stands in for rows)
  const first = Math.max(0, Math.min(shown.length, Math.floor(-top / rowHeight) - VIRTUAL_MARGIN));
  const last = Math.min(shown.length, first + Math.ceil(window.innerHeight / rowHeight) + 2 * VIRTUAL_MARGIN);
  if (!force && first === windowRange[0] && last === windowRange[1]) return;
  windowRange = [first, last];
  insertRows(shown, first, last);
  rowsBox.style.paddingTop = `${first * rowHeight}px`;
  rowsBox.style.paddingBottom = `${(shown.length - last) * rowHeight}px`;
}

/** (Re)build the rows in one pass for the current view, then the ruler and the minimap window. */
function place() {
  const [v0, v1] = view;
  if (!virtual) {
    insertRows(order, 0, order.length);
    if (!order.length) rowsBox.append(el("p", { class: "empty" }, "This trace has no spans."));
  } else {
    shown = order.filter((s) => !s.hidden);
    renderWindow(true);
    const measured = rowsBox.firstElementChild ? rowsBox.firstElementChild.getBoundingClientRect().height : 0;
    if (measured && measured !== rowHeight) {
      rowHeight = measured;
      renderWindow(true);
    }
  }
  drawRuler();
  drawWindow();
  waterfall.dataset.viewStart = String(Math.round(v0));
  waterfall.dataset.viewEnd = String(Math.round(v1));
  document.getElementById("reset-zoom").disabled = v0 === 0 && v1 === traceEnd;
}

/** Bring a span's row into the page and scroll it into view. */
function reveal(span) {
  if (virtual && !span.row) {
    const index = shown.indexOf(span);
    const boxTop = rowsBox.getBoundingClientRect().top + window.scrollY;
    window.scrollTo({ top: boxTop + index * rowHeight - window.innerHeight / 2 });
    renderWindow(true);
  }
  span.row?.scrollIntoView({ block: "nearest" });
}

function drawRuler() {
  const ruler = document.getElementById("ruler");
  const [v0, v1] = view;
  const step = niceStep(v1 - v0, 6);
  const ticks = [];
  for (let t = Math.ceil(v0 / step) * step; t <= v1 + 1e-6; t += step) {
    const tick = el("span", { class: "tick", style: `left: ${pct((t - v0) / (v1 - v0))}` }, formatDuration(t));
    ticks.push(tick);
  }
  ruler.replaceChildren(...ticks);
}

/** Hide the descendants of collapsed spans: walk the order, skipping collapsed subtrees. */
function applyCollapse() {
  let i = 0;
  while (i < order.length) {
    const span = order[i];
    span.hidden = false;
    if (span.collapsed) {
      for (let j = i + 1; j <= span.last; j++) order[j].hidden = true;
      i = span.last + 1;
    } else {
      i += 1;
    }
  }
  if (virtual) {
    place();
    return;
  }
  for (const span of order) {
    span.row.hidden = span.hidden;
    if (span.children.length) {
      const toggle = span.row.firstElementChild.firstElementChild;
      const t = toggleText(span);
      toggle.textContent = t.text;
      toggle.setAttribute("aria-expanded", t.expanded);
      toggle.setAttribute("aria-label", t.label);
      toggle.title = t.title;
    }
  }
}

// --- details -----------------------------------------------------------------------------------

function idLine(label, id, href) {
  return el(
    "div",
    { class: "id-line" },
    el("dt", {}, label),
    el("dd", {}, href ? el("a", { href }, id) : el("code", {}, id), " ", el("button", { type: "button", class: "copy small", "data-copy": id, "aria-label": `Copy ${label}` }, "Copy")),
  );
}

function section(title, ...content) {
  return el("section", { class: "detail-section" }, el("h3", {}, title), ...content);
}

function linkHref(link) {
  return link.trace_id === traceId ? `#span=${link.span_id}` : `/traces/${link.trace_id}#span=${link.span_id}`;
}

/**
 * A span's details from the API. Attribute doubles keep the text they were sent as ("1.0", not
 * 1): the reviver takes a number's source text where the browser offers it (Chromium 114+).
 */
function loadDetails(span) {
  let entry = loaded.get(span.span_id);
  if (!entry) {
    entry = fetch(`/api/v1/traces/${traceId}/spans/${span.span_id}`)
      .then((r) => (r.ok ? r.text() : Promise.reject(new Error(`the server answered ${r.status}`))))
      .then((text) =>
        JSON.parse(text, (key, value, context) => (key === "value" && typeof value === "number" && context?.source ? context.source : value)),
      );
    entry.catch(() => loaded.delete(span.span_id)); // try again on the next selection
    loaded.set(span.span_id, entry);
  }
  return entry;
}

// --- the span's logs ----------------------------------------------------------------------------

const LOG_LIMIT = 20;

function logsQuery(span) {
  const q = new URLSearchParams({ trace_id: traceId });
  if (span) q.set("span_id", span.span_id);
  q.set("start", details.dataset.logsStart);
  q.set("end", details.dataset.logsEnd);
  return q;
}

function loadSpanLogs(span) {
  let entry = spanLogs.get(span.span_id);
  if (!entry) {
    const q = logsQuery(span);
    q.set("limit", String(LOG_LIMIT));
    entry = fetch(`/api/v1/logs?${q}`).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`the server answered ${r.status}`))));
    entry.catch(() => spanLogs.delete(span.span_id));
    spanLogs.set(span.span_id, entry);
  }
  return entry;
}

function logClock(ns) {
  const n = BigInt(ns);
  const ms = Number(n / 1000000n);
  return `${new Date(ms).toISOString().slice(11, 23)}`;
}


function spanLogsSection(span) {
  const box = el("div", { id: "span-logs" }, el("p", { class: "muted loading" }, "Loading this span's logs…"));
  loadSpanLogs(span).then(
    (page) => {
      const records = page.records || [];
      if (!records.length) {
        box.replaceChildren(el("p", { class: "muted" }, "No logs carry this span's id."));
        return;
      }
      const items = records.map((r) =>
        el(
          "li",
          { class: `span-log sev-${r.severity}` },
          el("span", { class: "muted" }, logClock(r.time_ns), " "),
          el("span", { class: "sev" }, r.severity_text || r.severity || ""),
          " ",
          el("span", { class: "body" }, r.body_text ?? ""),
        ),
      );
      const more = page.next_cursor ? el("p", { class: "muted" }, `The first ${records.length}; open the logs page for all.`) : null;
      box.replaceChildren(...[el("ul", { class: "span-logs" }, ...items), more].filter(Boolean));
      box.dataset.loaded = span.span_id;
    },
    (error) => box.replaceChildren(el("p", { class: "error" }, `Could not load the span's logs: ${error.message}.`)),
  );
  return section("Logs", el("p", {}, el("a", { href: `/logs?${logsQuery(span)}`, class: "span-logs-link" }, "Open this span's logs")), box);
}

function renderDetails(span, d) {
  const message = d ? d.status.message : "";
  const status = el("p", { class: `status status-${span.status}` }, span.status, message ? `: ${message}` : "");
  const parent = span.parent_span_id;
  const ids = el(
    "dl",
    { class: "ids" },
    idLine("Span id", span.span_id),
    parent ? idLine(byId.has(parent) ? "Parent" : "Parent (missing)", parent, byId.has(parent) ? `#span=${parent}` : null) : null,
    idLine("Trace id", traceId),
  );
  const head = [
    el("h2", { id: "detail-name" }, span.name),
    el(
      "p",
      { class: "detail-meta" },
      el("span", { class: "swatch", style: `background: ${data.colors[span.service]}` }),
      el("span", { class: "svc", id: "detail-service" }, span.service),
      ` · ${span.kind} · ${formatDuration(span.duration_ns)} · starts at +${formatDuration(span.start)}`,
    ),
    status,
    ids,
  ];
  if (!d) {
    details.replaceChildren(...head, el("p", { class: "muted loading" }, "Loading attributes, events, links and resource…"));
    return;
  }
  // Event times come from the page's outline (exact offsets), in the same order as the API's.
  const events = d.events.map((e, i) =>
    el(
      "li",
      { class: "event" },
      el("span", { class: "muted" }, `+${formatDuration(span.events[i] ? span.events[i].offset : 0)} `),
      el("strong", {}, e.name),
      attrTable(e.attributes),
    ),
  );
  const links = d.links.map((l) =>
    el(
      "li",
      { class: "link" },
      el("a", { href: linkHref(l), class: "span-link" }, l.trace_id === traceId ? `span ${l.span_id} in this trace` : `trace ${l.trace_id} · span ${l.span_id}`),
      l.trace_state ? el("span", { class: "muted" }, ` tracestate ${l.trace_state}`) : null,
      attrTable(l.attributes),
    ),
  );
  const scope = d.scope;
  const dropped = [
    ["attributes", d.dropped_attributes_count],
    ["events", d.dropped_events_count],
    ["links", d.dropped_links_count],
  ].filter(([, n]) => n);
  const parts = [
    ...head,
    section("Attributes", attrTable(d.attributes)),
    d.events.length ? section(`Events (${d.events.length})`, el("ul", { class: "events" }, ...events)) : null,
    d.links.length ? section(`Links (${d.links.length})`, el("ul", { class: "links" }, ...links)) : null,
    section("Resource", attrTable(d.resource.attributes), d.resource.schema_url ? el("p", { class: "muted" }, `schema ${d.resource.schema_url}`) : null),
    section(
      "Scope",
      el("p", {}, scope.name || "(unnamed)", scope.version ? ` ${scope.version}` : ""),
      attrTable(scope.attributes),
      scope.schema_url ? el("p", { class: "muted" }, `schema ${scope.schema_url}`) : null,
    ),
    d.trace_state || d.flags || dropped.length
      ? section(
          "More",
          el(
            "p",
            { class: "muted" },
            d.trace_state ? `tracestate ${d.trace_state}. ` : "",
            `flags 0x${d.flags.toString(16)}. `,
            dropped.length ? `Dropped by the sender: ${dropped.map(([k, n]) => `${n} ${k}`).join(", ")}.` : "",
          ),
        )
      : null,
    spanLogsSection(span),
  ];
  details.replaceChildren(...parts.filter(Boolean));
  details.dataset.loaded = span.span_id;
}

function showDetails(span) {
  delete details.dataset.loaded;
  renderDetails(span, null);
  loadDetails(span).then(
    (d) => { if (selected === span) renderDetails(span, d); },
    (error) => {
      if (selected !== span) return;
      details.querySelector(".loading")?.remove();
      details.append(el("p", { class: "error" }, `Could not load the span's details: ${error.message}. Select it again to retry.`));
    },
  );
}

function select(id, { scroll = true, updateUrl = true } = {}) {
  const span = byId.get(id);
  if (!span) {
    details.replaceChildren(el("p", { class: "error" }, `Span ${id} is not in this trace.`));
    return;
  }
  if (selected?.row) {
    selected.row.classList.remove("selected");
    selected.row.removeAttribute("aria-selected");
  }
  selected = span;
  // Open collapsed ancestors so the selected row is visible.
  let changed = false;
  for (let p = byId.get(span.parent_span_id); p && p !== span; p = byId.get(p.parent_span_id)) {
    if (p.collapsed) { p.collapsed = false; changed = true; }
    if (p.depth === 0) break;
  }
  if (changed) applyCollapse();
  if (scroll || !span.row) reveal(span);
  span.row.classList.add("selected");
  span.row.setAttribute("aria-selected", "true");
  showDetails(span);
  if (updateUrl && location.hash !== `#span=${id}`) history.replaceState(null, "", `#span=${id}`);
}

function fromHash() {
  const m = /^#span=([0-9a-fA-F]+)$/.exec(location.hash);
  if (m) select(m[1].toLowerCase(), { updateUrl: false });
}

// --- find --------------------------------------------------------------------------------------

// Names, services and ids match here at once; attributes (not on the page) are asked of the
// server after a short pause in typing, and their matches are added when they arrive.
let findSeq = 0;
let findTimer = 0;

function localMatch(span, needle) {
  return span.name.toLowerCase().includes(needle) || span.service.toLowerCase().includes(needle) || span.span_id.includes(needle);
}

function showMatches(needle, remote, pending) {
  let count = 0;
  let hidden = 0;
  for (const span of order) {
    const hit = needle !== "" && (localMatch(span, needle) || remote.has(span.span_id));
    if (hit !== span.match) {
      span.match = hit;
      span.row?.classList.toggle("match", hit);
    }
    if (hit) { count += 1; if (span.hidden) hidden += 1; }
  }
  waterfall.classList.toggle("finding", needle !== "");
  const text = needle
    ? `${count} span${count === 1 ? "" : "s"} match${count === 1 ? "es" : ""}${hidden ? ` (${hidden} inside collapsed spans)` : ""}${pending ? " (searching attributes…)" : ""}`
    : "";
  document.getElementById("find-count").textContent = text;
}

function find(text) {
  const needle = text.trim().toLowerCase();
  const seq = ++findSeq;
  clearTimeout(findTimer);
  showMatches(needle, new Set(), needle !== "");
  if (!needle) return;
  findTimer = setTimeout(async () => {
    let remote = new Set();
    try {
      const r = await fetch(`/api/v1/traces/${traceId}/spans?q=${encodeURIComponent(text.trim())}`);
      if (r.ok) remote = new Set((await r.json()).span_ids);
    } catch {
      // Offline or the server is gone: the local matches stand.
    }
    if (seq === findSeq) showMatches(needle, remote, false);
  }, 150);
}

// --- minimap -----------------------------------------------------------------------------------

const minimap = document.getElementById("minimap");
const windowBox = document.getElementById("minimap-window");

function drawMinimap() {
  const width = minimap.clientWidth || 600;
  const height = minimap.height;
  minimap.width = width;
  const ctx = minimap.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  const n = Math.max(order.length, 1);
  const h = Math.max(1, height / n);
  for (const span of order) {
    ctx.fillStyle = span.status === "error" ? "#d92d20" : data.colors[span.service] || "#888";
    const x = (span.start / traceEnd) * width;
    const w = Math.max(1, ((span.end - span.start) / traceEnd) * width);
    ctx.fillRect(x, (span.index / n) * height, w, h);
  }
}

function drawWindow() {
  windowBox.style.left = pct(view[0] / traceEnd);
  windowBox.style.width = pct((view[1] - view[0]) / traceEnd);
}

function wireMinimap() {
  let from = null;
  const toTime = (event) => {
    const box = minimap.getBoundingClientRect();
    return clamp01((event.clientX - box.left) / box.width) * traceEnd;
  };
  minimap.addEventListener("pointerdown", (event) => {
    from = toTime(event);
    minimap.setPointerCapture(event.pointerId);
    windowBox.classList.add("dragging");
  });
  minimap.addEventListener("pointermove", (event) => {
    if (from === null) return;
    const to = toTime(event);
    windowBox.style.left = pct(Math.min(from, to) / traceEnd);
    windowBox.style.width = pct(Math.abs(to - from) / traceEnd);
  });
  minimap.addEventListener("pointerup", (event) => {
    if (from === null) return;
    const to = toTime(event);
    windowBox.classList.remove("dragging");
    // A click (or a sliver) is not a zoom: a window narrower than 0.2% of the trace is ignored.
    if (Math.abs(to - from) > traceEnd * 0.002) view = [Math.min(from, to), Math.max(from, to)];
    from = null;
    place();
  });
}

// --- start -------------------------------------------------------------------------------------

function start() {
  place();
  drawMinimap();
  wireMinimap();
  wireCopyButtons();

  rowsBox.addEventListener("click", (event) => {
    const row = event.target.closest(".row");
    if (!row) return;
    if (event.target.closest(".toggle")) {
      row.span.collapsed = !row.span.collapsed;
      applyCollapse();
      return;
    }
    select(row.dataset.spanId, { scroll: false });
  });
  rowsBox.addEventListener("keydown", (event) => {
    const row = event.target.closest(".row");
    if (row && (event.key === "Enter" || event.key === " ") && !event.target.closest("button")) {
      event.preventDefault();
      select(row.dataset.spanId, { scroll: false });
    }
  });
  document.getElementById("collapse-all").addEventListener("click", () => {
    for (const span of order) span.collapsed = span.children.length > 0;
    applyCollapse();
  });
  document.getElementById("expand-all").addEventListener("click", () => {
    for (const span of order) span.collapsed = false;
    applyCollapse();
  });
  document.getElementById("reset-zoom").addEventListener("click", () => {
    view = [0, traceEnd];
    place();
  });
  document.getElementById("find").addEventListener("input", (event) => find(event.target.value));
  window.addEventListener("hashchange", fromHash);
  window.addEventListener("resize", drawMinimap);
  if (virtual) {
    let queued = false;
    const update = () => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => { queued = false; renderWindow(); });
    };
    window.addEventListener("scroll", update, { passive: true });
    window.addEventListener("resize", update);
  }
  fromHash();
  waterfall.dataset.ready = "true";
}

start();
