// The dependency map: services as boxes in layers (callers left of callees), calls as curves.
//
// Layout (no library): cycles are broken by a depth-first search (back edges point left), each
// service goes in the layer after its furthest caller (longest path), and the order inside a layer
// is improved by barycentre sweeps, which removes most crossings for a few dozen services.

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 170, NODE_H = 46, COL = 250, ROW = 62, PAD = 24;

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

const rate = (r) => (r >= 100 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toPrecision(2)) + "/s";
const pct = (r) => (r * 100 >= 10 ? (r * 100).toFixed(0) : (r * 100).toFixed(1)) + "%";

export function layout(nodes, edges) {
  const ids = nodes.map((n) => n.id);
  const out = new Map(ids.map((id) => [id, []]));
  const inc = new Map(ids.map((id) => [id, []]));
  for (const e of edges) if (e.source !== e.target) { out.get(e.source).push(e.target); inc.get(e.target).push(e.source); }
  // Depth-first search from sources (then anything left) marks back edges, which layering ignores.
  const state = new Map(), back = new Set();
  const visit = (v) => {
    state.set(v, 1);
    for (const w of out.get(v)) {
      if (state.get(w) === 1) back.add(v + "\u0000" + w);
      else if (!state.has(w)) visit(w);
    }
    state.set(v, 2);
  };
  for (const v of ids.filter((v) => inc.get(v).length === 0)) if (!state.has(v)) visit(v);
  for (const v of ids) if (!state.has(v)) visit(v);
  const forward = (u, w) => u !== w && !back.has(u + "\u0000" + w);
  // Longest-path layering over the acyclic forward edges (Kahn's order).
  const layer = new Map(ids.map((id) => [id, 0]));
  const indeg = new Map(ids.map((id) => [id, inc.get(id).filter((u) => forward(u, id)).length]));
  const queue = ids.filter((id) => indeg.get(id) === 0);
  while (queue.length) {
    const v = queue.shift();
    for (const w of out.get(v)) {
      if (!forward(v, w)) continue;
      layer.set(w, Math.max(layer.get(w), layer.get(v) + 1));
      indeg.set(w, indeg.get(w) - 1);
      if (indeg.get(w) === 0) queue.push(w);
    }
  }
  const layers = [];
  for (const id of ids) (layers[layer.get(id)] ??= []).push(id);
  const pos = new Map();
  const place = () => layers.forEach((l) => l.forEach((id, i) => pos.set(id, i)));
  place();
  // Barycentre sweeps: order each layer by the mean position of its neighbours in the layer before
  // (down) or after (up); a few rounds settle.
  const bary = (id, neighbours) => {
    const ps = neighbours.map((n) => pos.get(n));
    return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : pos.get(id);
  };
  for (let round = 0; round < 8; round++) {
    const down = round % 2 === 0;
    const order = down ? layers.keys() : [...layers.keys()].reverse();
    for (const li of order) {
      const l = layers[li];
      if (!l) continue;
      const score = new Map(l.map((id) => [id, bary(id, down ? inc.get(id) : out.get(id))]));
      l.sort((a, b) => score.get(a) - score.get(b) || a.localeCompare(b));
      l.forEach((id, i) => pos.set(id, i));
    }
  }
  const tallest = Math.max(...layers.map((l) => (l ? l.length : 0)));
  const xy = new Map();
  layers.forEach((l, li) => {
    const offset = ((tallest - l.length) * ROW) / 2;
    l.forEach((id, i) => xy.set(id, { x: PAD + li * COL, y: PAD + offset + i * ROW }));
  });
  return { xy, width: PAD * 2 + (layers.length - 1) * COL + NODE_W, height: PAD * 2 + (tallest - 1) * ROW + NODE_H };
}

function edgePath(a, b) {
  const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x, y2 = b.y + NODE_H / 2;
  if (x2 > x1) {
    const dx = (x2 - x1) / 2;
    return { d: `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`, mx: (x1 + x2) / 2, my: (y1 + y2) / 2 };
  }
  // A call to the left (a cycle, or within a layer): loop below the boxes.
  const low = Math.max(a.y, b.y) + NODE_H + 28;
  return {
    d: `M${x1},${y1} C${x1 + 60},${low} ${x2 - 60},${low} ${x2},${y2}`,
    mx: (x1 + x2) / 2, my: low - 8,
  };
}

function render(svg, data, search) {
  const { xy, width, height } = layout(data.nodes, data.edges);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  // Scales down to the page width, never up (text stays readable; the box scrolls below ~900 px).
  svg.style.width = "100%";
  svg.style.maxWidth = `${width}px`;
  svg.style.minWidth = `${Math.min(width, 900)}px`;
  const defs = el("defs", {}, svg);
  for (const [name, color] of [["ok", "#98a2b3"], ["warn", "#f79009"], ["bad", "#d92d20"]]) {
    const m = el("marker", { id: `arrow-${name}`, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: "userSpaceOnUse", orient: "auto" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", fill: color }, m);
  }
  const edgesG = el("g", { class: "edges" }, svg);
  const dense = data.edges.length > 30;
  if (dense) svg.classList.add("dense");
  const maxRate = Math.max(1e-9, ...data.edges.map((e) => e.rate));
  for (const e of data.edges) {
    const a = xy.get(e.source), b = xy.get(e.target);
    if (!a || !b) continue;
    const level = e.error_rate > 0.05 ? "bad" : e.error_rate > 0.01 ? "warn" : "ok";
    const link = el("a", { href: e.href, class: `edge ${level}`, "data-source": e.source, "data-target": e.target }, edgesG);
    el("title", {}, link).textContent = `${e.source} → ${e.target}: ${rate(e.rate)}, ${pct(e.error_rate)} failed (${e.calls} calls)`;
    const p = edgePath(a, b);
    el("path", { d: p.d, class: "hit" }, link);
    el("path", { d: p.d, class: "line", "marker-end": `url(#arrow-${level})`, "stroke-width": (1 + 3 * Math.sqrt(e.rate / maxRate)).toFixed(2) }, link);
    const label = el("text", { x: p.mx, y: p.my - 4, class: "edge-label", "text-anchor": "middle" }, link);
    label.textContent = `${rate(e.rate)} · ${pct(e.error_rate)}`;
  }
  const nodesG = el("g", { class: "nodes" }, svg);
  for (const n of data.nodes) {
    const { x, y } = xy.get(n.id);
    const link = el("a", { href: `/services/${encodeURIComponent(n.id)}?${search}`, class: "node-link" }, nodesG);
    const g = el("g", { class: "node" + (n.error_rate > 0.05 ? " bad" : ""), "data-service": n.id, transform: `translate(${x},${y})` }, link);
    el("title", {}, g).textContent = `${n.id}: ${rate(n.rate)}, ${pct(n.error_rate)} errors, p95 ${n.p95}`;
    el("rect", { width: NODE_W, height: NODE_H, rx: 7 }, g);
    el("rect", { width: 6, height: NODE_H, rx: 3, fill: n.color, class: "swatch" }, g);
    const name = el("text", { x: 14, y: 19, class: "name" }, g);
    name.textContent = n.id.length > 22 ? n.id.slice(0, 21) + "…" : n.id;
    const fig = el("text", { x: 14, y: 36, class: "fig" }, g);
    fig.textContent = `${rate(n.rate)} · ${pct(n.error_rate)} · p95 ${n.p95}`;
    // Hovering a service highlights its calls (and shows their labels on a dense map).
    g.addEventListener("mouseenter", () => {
      for (const edge of edgesG.querySelectorAll(`a.edge[data-source="${CSS.escape(n.id)}"], a.edge[data-target="${CSS.escape(n.id)}"]`)) edge.classList.add("hot");
    });
    g.addEventListener("mouseleave", () => edgesG.querySelectorAll("a.edge.hot").forEach((edge) => edge.classList.remove("hot")));
  }
}

const holder = document.getElementById("map-data");
if (holder) {
  const params = new URLSearchParams(window.location.search);
  const keep = new URLSearchParams();
  for (const k of ["lookback", "end"]) if (params.get(k)) keep.set(k, params.get(k));
  render(document.getElementById("map"), JSON.parse(holder.textContent), keep.toString());
}
