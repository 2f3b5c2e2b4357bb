// Services pages: sortable tables (click a header; again to reverse) and rows that open their link.

function sortTable(table, th) {
  const headers = [...th.parentElement.children];
  const col = headers.indexOf(th);
  const numeric = th.dataset.sort === "num";
  const descending = th.getAttribute("aria-sort") === "ascending" ? true : th.getAttribute("aria-sort") === "descending" ? false : numeric;
  headers.forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  const body = table.tBodies[0];
  const rows = [...body.rows].filter((r) => r.cells.length === headers.length);
  const key = (row) => row.cells[col].dataset.value ?? row.cells[col].textContent;
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    const c = numeric ? Number(x) - Number(y) : x.localeCompare(y);
    return descending ? -c : c;
  });
  rows.forEach((r) => body.appendChild(r));
}

for (const table of document.querySelectorAll("table.sortable")) {
  for (const th of table.querySelectorAll("th[data-sort]")) {
    th.querySelector("button").addEventListener("click", () => sortTable(table, th));
  }
  table.addEventListener("click", (event) => {
    if (event.target.closest("a, button")) return;
    const row = event.target.closest("tr[data-href]");
    if (row) window.location.href = row.dataset.href;
  });
}
