/* Sorting shared by the tables: natural text order (BULK-2 before BULK-10), numbers, empties last. */

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

/** Natural order of two texts: digit runs compare as numbers, case is ignored. */
export const naturalCompare = (a, b) => collator.compare(String(a ?? ""), String(b ?? ""));

/** Compare two values of one column; null/undefined/"" always sort after the rest. */
export function compareValues(a, b) {
  const emptyA = a === null || a === undefined || a === "";
  const emptyB = b === null || b === undefined || b === "";
  if (emptyA || emptyB) return emptyA === emptyB ? 0 : emptyA ? 1 : -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return naturalCompare(a, b);
}

/**
 * Make a table head sortable: each <th data-sort="key"> gets a button; a click sorts by
 * it (again: reverses). `onChange({key, dir})` repaints; aria-sort tells screen readers.
 */
export function sortableHead(thead, initial, onChange) {
  const sort = { key: initial.key, dir: initial.dir || 1 };
  const ths = [...thead.querySelectorAll("th[data-sort]")];
  function paint() {
    for (const th of ths) {
      const on = th.dataset.sort === sort.key;
      th.setAttribute("aria-sort", on ? (sort.dir > 0 ? "ascending" : "descending") : "none");
    }
  }
  for (const th of ths) {
    const label = th.textContent.trim();
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sort";
    button.textContent = label;
    button.title = "Sort by " + label.toLowerCase();
    th.replaceChildren(button);
    button.addEventListener("click", () => {
      if (sort.key === th.dataset.sort) sort.dir = -sort.dir;
      else { sort.key = th.dataset.sort; sort.dir = 1; }
      paint();
      onChange(sort);
    });
  }
  paint();
  return sort;
}

/** Sort `list` by `sort.key` read with `value(item, key)`; ties by id, so the order is stable. */
export function sortBy(list, sort, value) {
  return list.sort((a, b) => {
    const va = value(a, sort.key);
    const vb = value(b, sort.key);
    const emptyA = va === null || va === undefined || va === "";
    const emptyB = vb === null || vb === undefined || vb === "";
    if (emptyA !== emptyB) return emptyA ? 1 : -1; // empties last in both directions
    return (compareValues(va, vb) * sort.dir) || (a.id - b.id);
  });
}
