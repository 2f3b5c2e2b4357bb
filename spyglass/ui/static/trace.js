// The trace page: waterfall, details panel, critical path, minimap zoom and find-in-trace.
// Data comes from <script id="trace-data">: span times are nanosecond offsets from the trace's
// first start, so they fit a JavaScript number exactly.
import { el, formatDuration, niceStep, wireCopyButtons } from "./format.js";

const data = JSON.parse(document.getElementById("trace-data").textContent);
const spans = data.spans;
const byId = new Map(spans.map((s) => [s.span_id, s]));
const rowsBox = document.getElementById("rows");
const waterfall = document.getElementById("waterfall");
const details = document.getElementById("details");
const traceId = data.summary.trace_id;
const traceEnd = Math.max(1, ...spans.map((s) => s.end));
let view = [0, traceEnd];
let selected = null;

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

function makeRow(span) {
  const color = data.colors[span.service] || "#888";
  const isError = span.status.code === "error";
  const name = el(
    "div",
    { class: "name-col", style: `padding-left: ${0.3 + span.depth * 0.9}rem` },
    span.children.length
      ? el("button", { type: "button", class: "toggle", "aria-expanded": "true", "aria-label": `Collapse ${span.name}` }, "▾")
      : el("span", { class: "toggle-spacer" }),
    el("span", { class: "swatch", style: `background: ${color}` }),
    el("span", { class: "svc" }, span.service),
    " ",
    el("span", { class: "op" }, span.name),
    isError ? el("span", { class: "err-icon", title: "error" }, "!") : null,
    span.orphan ? el("span", { class: "tag", title: `parent ${span.parent_span_id} is not in this trace` }, "parent missing") : null,
  );
  const bar = el("div", { class: "bar", style: `background: ${color}` });
  const lane = el("div", { class: "lane" }, bar);
  for (const seg of critical.get(span.span_id) || []) {
    const mark = el("div", { class: "cp-seg" });
    mark.seg = seg;
    lane.append(mark);
  }
  for (const event of span.events) {
    const mark = el("span", { class: "event-mark", title: `${event.name} at +${formatDuration(event.offset)}` });
    mark.offset = event.offset;
    lane.append(mark);
  }
  lane.append(el("span", { class: "bar-label" }, formatDuration(span.duration_ns)));
  const classes = ["row"];
  if (isError) classes.push("error");
  if (critical.has(span.span_id)) classes.push("critical");
  if (span.orphan) classes.push("orphan");
  const row = el(
    "div",
    {
      class: classes.join(" "),
      "data-span-id": span.span_id,
      "data-depth": span.depth,
      "data-critical": critical.has(span.span_id) ? "true" : "false",
      tabindex: "0",
    },
    name,
    lane,
  );
  row.span = span;
  span.row = row;
  return row;
}

const pct = (v) => `${(v * 100).toFixed(4)}%`;
const clamp01 = (v) => Math.min(1, Math.max(0, v));

/** Place bars, critical segments and event marks for the current view window (clamped into it). */
function place() {
  const [v0, v1] = view;
  const w = v1 - v0;
  for (const span of order) {
    const lane = span.row.children[1];
    const left = clamp01((span.start - v0) / w);
    const right = clamp01((span.end - v0) / w);
    const bar = lane.firstChild;
    bar.style.left = pct(left);
    bar.style.width = pct(right - left);
    span.row.classList.toggle("outside", span.end < v0 || span.start > v1);
    for (const child of lane.children) {
      if (child.seg) {
        const a = clamp01((child.seg[0] - v0) / w);
        const b = clamp01((child.seg[1] - v0) / w);
        child.style.left = pct(a);
        child.style.width = pct(b - a);
      } else if (child.offset !== undefined) {
        child.style.left = pct(clamp01((child.offset - v0) / w));
      } else if (child.classList.contains("bar-label")) {
        // After the bar, else before it, else inside its right end: never cut off by the lane.
        const where = right <= 0.85 ? "after" : left >= 0.15 ? "before" : "inside";
        child.style.left = where === "after" ? pct(right) : "auto";
        child.style.right = where === "before" ? pct(1 - left) : where === "inside" ? pct(1 - right) : "auto";
        child.classList.toggle("inside", where === "inside");
      }
    }
  }
  drawRuler();
  drawWindow();
  waterfall.dataset.viewStart = String(Math.round(v0));
  waterfall.dataset.viewEnd = String(Math.round(v1));
  document.getElementById("reset-zoom").disabled = v0 === 0 && v1 === traceEnd;
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
    span.row.hidden = false;
    const toggle = span.row.querySelector(".toggle");
    if (toggle) {
      toggle.textContent = span.collapsed ? "▸" : "▾";
      toggle.setAttribute("aria-expanded", String(!span.collapsed));
      toggle.setAttribute("aria-label", `${span.collapsed ? "Expand" : "Collapse"} ${span.name}`);
      const hidden = span.last - span.index;
      toggle.title = span.collapsed ? `${hidden} span${hidden === 1 ? "" : "s"} hidden` : "";
    }
    if (span.collapsed) {
      for (let j = i + 1; j <= span.last; j++) order[j].row.hidden = true;
      i = span.last + 1;
    } else {
      i += 1;
    }
  }
}

// --- details -----------------------------------------------------------------------------------

function valueNode(item) {
  if (item.type === "array") {
    return el("span", { class: "v-array" }, "[", ...item.value.flatMap((v, i) => (i ? [", ", valueNode(v)] : [valueNode(v)])), "]");
  }
  if (item.type === "kvlist") return attrTable(item.value);
  if (item.type === "string") {
    return item.value === "" ? el("span", { class: "muted" }, "(empty string)") : el("span", { class: "v-str" }, item.value);
  }
  return el("span", { class: `v-${item.type}` }, String(item.value));
}

function typeName(item) {
  if (item.type !== "array") return item.type;
  const inner = new Set(item.value.map((v) => v.type));
  return inner.size === 1 ? `array<${[...inner][0]}>` : "array";
}

function attrTable(items, cls = "attrs") {
  if (!items.length) return el("p", { class: "muted" }, "none");
  const body = items.map((a) =>
    el("tr", { "data-key": a.key }, el("th", {}, a.key), el("td", { class: "type" }, typeName(a)), el("td", { class: "value" }, valueNode(a))),
  );
  return el("table", { class: cls }, el("tbody", {}, ...body));
}

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

function renderDetails(span) {
  const status = el("p", { class: `status status-${span.status.code}` }, span.status.code, span.status.message ? `: ${span.status.message}` : "");
  const parent = span.parent_span_id;
  const ids = el(
    "dl",
    { class: "ids" },
    idLine("Span id", span.span_id),
    parent ? idLine(byId.has(parent) ? "Parent" : "Parent (missing)", parent, byId.has(parent) ? `#span=${parent}` : null) : null,
    idLine("Trace id", traceId),
  );
  const events = span.events.map((e) =>
    el("li", { class: "event" }, el("span", { class: "muted" }, `+${formatDuration(e.offset)} `), el("strong", {}, e.name), attrTable(e.attributes)),
  );
  const links = span.links.map((l) =>
    el(
      "li",
      { class: "link" },
      el("a", { href: linkHref(l), class: "span-link" }, l.trace_id === traceId ? `span ${l.span_id} in this trace` : `trace ${l.trace_id} · span ${l.span_id}`),
      l.trace_state ? el("span", { class: "muted" }, ` tracestate ${l.trace_state}`) : null,
      attrTable(l.attributes),
    ),
  );
  const scope = span.scope;
  const dropped = Object.entries(span.dropped).filter(([, n]) => n);
  const parts = [
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
    section("Attributes", attrTable(span.attributes)),
    span.events.length ? section(`Events (${span.events.length})`, el("ul", { class: "events" }, ...events)) : null,
    span.links.length ? section(`Links (${span.links.length})`, el("ul", { class: "links" }, ...links)) : null,
    section("Resource", attrTable(span.resource), span.resource_schema_url ? el("p", { class: "muted" }, `schema ${span.resource_schema_url}`) : null),
    section(
      "Scope",
      el("p", {}, scope.name || "(unnamed)", scope.version ? ` ${scope.version}` : ""),
      attrTable(scope.attributes),
      scope.schema_url ? el("p", { class: "muted" }, `schema ${scope.schema_url}`) : null,
    ),
    span.trace_state || span.flags || dropped.length
      ? section(
          "More",
          el(
            "p",
            { class: "muted" },
            span.trace_state ? `tracestate ${span.trace_state}. ` : "",
            `flags 0x${span.flags.toString(16)}. `,
            dropped.length ? `Dropped by the sender: ${dropped.map(([k, n]) => `${n} ${k}`).join(", ")}.` : "",
          ),
        )
      : null,
  ];
  details.replaceChildren(...parts.filter(Boolean));
}

function select(id, { scroll = true, updateUrl = true } = {}) {
  const span = byId.get(id);
  if (!span) {
    details.replaceChildren(el("p", { class: "error" }, `Span ${id} is not in this trace.`));
    return;
  }
  if (selected) selected.row.classList.remove("selected");
  selected = span;
  // Open collapsed ancestors so the selected row is visible.
  let changed = false;
  for (let p = byId.get(span.parent_span_id); p && p !== span; p = byId.get(p.parent_span_id)) {
    if (p.collapsed) { p.collapsed = false; changed = true; }
    if (p.depth === 0) break;
  }
  if (changed) applyCollapse();
  span.row.classList.add("selected");
  span.row.setAttribute("aria-selected", "true");
  renderDetails(span);
  if (updateUrl && location.hash !== `#span=${id}`) history.replaceState(null, "", `#span=${id}`);
  if (scroll) span.row.scrollIntoView({ block: "nearest" });
}

function fromHash() {
  const m = /^#span=([0-9a-fA-F]+)$/.exec(location.hash);
  if (m) select(m[1].toLowerCase(), { updateUrl: false });
}

// --- find --------------------------------------------------------------------------------------

function matches(span, needle) {
  if (span.name.toLowerCase().includes(needle) || span.service.toLowerCase().includes(needle)) return true;
  if (span.span_id.includes(needle)) return true;
  return span.attributes.some((a) => a.key.toLowerCase().includes(needle) || (typeof a.value === "string" && a.value.toLowerCase().includes(needle)));
}

function find(text) {
  const needle = text.trim().toLowerCase();
  let count = 0;
  let hidden = 0;
  for (const span of order) {
    const hit = needle !== "" && matches(span, needle);
    span.row.classList.toggle("match", hit);
    if (hit) { count += 1; if (span.row.hidden) hidden += 1; }
  }
  waterfall.classList.toggle("finding", needle !== "");
  document.getElementById("find-count").textContent = needle
    ? `${count} span${count === 1 ? "" : "s"} match${count === 1 ? "es" : ""}${hidden ? ` (${hidden} inside collapsed spans)` : ""}`
    : "";
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
    ctx.fillStyle = span.status.code === "error" ? "#d92d20" : data.colors[span.service] || "#888";
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
  const fragment = document.createDocumentFragment();
  for (const span of order) fragment.append(makeRow(span));
  rowsBox.replaceChildren(fragment);
  if (!order.length) rowsBox.append(el("p", { class: "empty" }, "This trace has no spans."));
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
  fromHash();
  waterfall.dataset.ready = "true";
}

start();
