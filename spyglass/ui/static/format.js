// Formatting shared by the trace pages; matches spyglass.ui._tracejson.format_duration.

/** Nanoseconds -> "1.23 ms": three significant digits in the largest unit that fits. */
export function formatDuration(ns) {
  const units = [["s", 1e9], ["ms", 1e6], ["µs", 1e3]];
  for (const [unit, size] of units) {
    if (Math.abs(ns) >= size) {
      const value = ns / size;
      const text = value < 1000 ? String(Number(value.toPrecision(3))) : String(Math.round(value));
      return `${text} ${unit}`;
    }
  }
  return `${Math.round(ns)} ns`;
}

/** A "nice" step (1, 2 or 5 times a power of ten) that cuts `range` into about `count` parts. */
export function niceStep(range, count) {
  const raw = Math.max(range / count, 1e-9);
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) {
    if (m * power >= raw) return m * power;
  }
  return 10 * power;
}

/** Create an element with attributes and children (strings become text nodes, never HTML). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** Copy `text` to the clipboard; falls back to a hidden textarea where the Clipboard API is missing. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = el("textarea", { class: "visually-hidden" });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

/** Buttons with data-copy="text" copy it and say so for a moment. */
export function wireCopyButtons(root = document) {
  root.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const ok = await copyText(button.dataset.copy);
    const label = button.textContent;
    button.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
}

/** A typed attribute value ({type, value} from the API) as text nodes. */
export function valueNode(item) {
  if (item.type === "array") {
    return el("span", { class: "v-array" }, "[", ...item.value.flatMap((v, i) => (i ? [", ", valueNode(v)] : [valueNode(v)])), "]");
  }
  if (item.type === "kvlist") return attrTable(item.value);
  if (item.type === "string") {
    return item.value === "" ? el("span", { class: "muted" }, "(empty string)") : el("span", { class: "v-str" }, item.value);
  }
  return el("span", { class: `v-${item.type}` }, String(item.value));
}

export function typeName(item) {
  if (item.type !== "array") return item.type;
  const inner = new Set(item.value.map((v) => v.type));
  return inner.size === 1 ? `array<${[...inner][0]}>` : "array";
}

/** Typed attributes ({key, type, value}) as a table sorted by key: key, type, value. */
export function attrTable(items, cls = "attrs") {
  if (!items.length) return el("p", { class: "muted" }, "none");
  const sorted = [...items].sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  const body = sorted.map((a) =>
    el("tr", { "data-key": a.key }, el("th", {}, a.key), el("td", { class: "type" }, typeName(a)), el("td", { class: "value" }, valueNode(a))),
  );
  return el("table", { class: cls }, el("tbody", {}, ...body));
}

// The search forms' "+ condition" button: another attribute condition field, empty.
export function wireAttributes() {
  const box = document.getElementById("attr-fields");
  const add = document.getElementById("add-attr");
  add.hidden = false;
  add.addEventListener("click", () => {
    const inputs = box.querySelectorAll("input[name=attr]");
    const input = inputs[inputs.length - 1].cloneNode();
    input.value = "";
    input.id = `f-attr-${inputs.length}`;
    add.before(input);
    input.focus();
  });
}
