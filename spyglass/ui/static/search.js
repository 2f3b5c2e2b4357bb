// The trace search page: operation list that follows the service, more attribute rows, and the
// duration-over-time scatter plot (SVG) whose dots open their traces.
import { formatDuration, niceStep, wireAttributes } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

function wireOperations() {
  const operations = JSON.parse(document.getElementById("operations-data").textContent);
  const service = document.getElementById("f-service");
  const operation = document.getElementById("f-operation");
  const fill = () => {
    const chosen = operation.value || operation.dataset.selected;
    const names = service.value
      ? (operations[service.value] || []).map((op) => op.name)
      : [...new Set(Object.values(operations).flat().map((op) => op.name))].sort();
    if (chosen && !names.includes(chosen)) names.unshift(chosen);
    operation.replaceChildren(new Option("All operations", ""));
    for (const name of names) operation.add(new Option(name, name, false, name === chosen));
  };
  service.addEventListener("change", () => {
    operation.value = "";
    operation.dataset.selected = "";
    fill();
  });
  fill();
}

function utcClock(ms) {
  return new Date(ms).toISOString().slice(11, 19);
}

function drawScatter() {
  const box = document.getElementById("scatter");
  if (!box) return;
  const points = JSON.parse(document.getElementById("scatter-data").textContent);
  const width = Math.max(box.clientWidth || box.parentElement.clientWidth, 280);
  const height = 190;
  const m = { left: 62, right: 14, top: 10, bottom: 24 };
  box.setAttribute("viewBox", `0 0 ${width} ${height}`);
  box.replaceChildren();
  let t0 = Math.min(...points.map((p) => p.start_ms));
  let t1 = Math.max(...points.map((p) => p.start_ms));
  if (t1 - t0 < 1000) { t0 -= 500; t1 += 500; }
  const dMax = Math.max(...points.map((p) => p.duration_ns), 1) * 1.1;
  const x = (t) => m.left + ((t - t0) / (t1 - t0)) * (width - m.left - m.right);
  const y = (d) => height - m.bottom - (d / dMax) * (height - m.top - m.bottom);

  const axes = svg("g", { class: "axes" });
  const yStep = niceStep(dMax, 4);
  for (let d = 0; d <= dMax; d += yStep) {
    axes.append(svg("line", { x1: m.left, x2: width - m.right, y1: y(d), y2: y(d), class: "grid" }));
    const label = svg("text", { x: m.left - 6, y: y(d) + 4, "text-anchor": "end" });
    label.textContent = formatDuration(d);
    axes.append(label);
  }
  const xStep = niceStep(t1 - t0, Math.max(2, Math.floor(width / 120)));
  for (let t = Math.ceil(t0 / xStep) * xStep; t <= t1; t += xStep) {
    const label = svg("text", { x: x(t), y: height - 6, "text-anchor": "middle" });
    label.textContent = utcClock(t);
    axes.append(label);
  }
  box.append(axes);
  for (const p of points) {
    const link = svg("a", { href: `/traces/${p.id}`, class: "dot-link", "data-trace-id": p.id });
    const dot = svg("circle", { cx: x(p.start_ms), cy: y(p.duration_ns), r: 5, class: p.errors ? "dot error" : "dot" });
    const title = svg("title");
    title.textContent = `${p.name} — ${formatDuration(p.duration_ns)}${p.errors ? `, ${p.errors} errors` : ""}`;
    dot.append(title);
    link.append(dot);
    box.append(link);
  }
}

wireOperations();
wireAttributes();
drawScatter();
let resizeTimer = 0;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(drawScatter, 100);
});
