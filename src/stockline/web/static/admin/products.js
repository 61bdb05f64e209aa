/* The products view: the live table (sortable, paged, selectable), search and filters,
 * tracking switches, new product. Bulk actions on the selection: bulk.js. */
import { api, $, $$, el, money, when, ago, onSubmit, clearFormError, localError } from "./api.js";
import { store, on, putProduct, setTracking } from "./store.js";
import { closeDialog, intOrNull, readPrice, readThreshold, statusBadges, toast } from "./ui.js";
import { openProduct } from "./product-dialog.js";
import { sortableHead, sortBy } from "./sort.js";

const state = {
  rows: new Map(), // id → <tr> of the rows on the current page
  filter: "all",
  search: "",
  page: 0,
  pageSize: 100,
  selected: new Set(), // product ids, kept across pages, sorting and filters
  shown: [], // the products matching the filter, in table order (all pages)
  sort: null, // {key, dir} from the table head
};

export const view = { name: "products", title: "products" };

function matches(p) {
  if (state.filter === "low" && !p.low_stock_flag) return false;
  if (state.filter === "negative" && !p.negative_flag) return false;
  if (state.filter === "untracked" && p.tracking_enabled) return false;
  if (state.search) {
    const q = state.search.toLowerCase();
    if (!p.name.toLowerCase().includes(q) && !p.sku.toLowerCase().includes(q) &&
      !(p.barcode || "").toLowerCase().includes(q)) return false;
  }
  return true;
}

function trackingSwitch(p, id) {
  const input = el("input", {
    type: "checkbox", class: "switch", role: "switch", id,
    "aria-label": "Track stock of " + p.name,
  });
  input.checked = p.tracking_enabled;
  input.addEventListener("change", () => setTracking(p.id, input.checked, input));
  return input;
}

function selectBox(p) {
  const box = el("input", { type: "checkbox", class: "select", "aria-label": "Select " + p.name,
    dataset: { select: String(p.id) } });
  box.checked = state.selected.has(p.id);
  box.addEventListener("change", () => {
    if (box.checked) state.selected.add(p.id); else state.selected.delete(p.id);
    paintSelection();
  });
  return box;
}

function buildRow(p) {
  const stockClass = "num stock" + (p.negative_flag ? " neg" : p.low_stock_flag ? " low" : "");
  const tracking = el("td", { class: "tracking-cell" }, trackingSwitch(p, "track-" + p.id));
  if (p.tracking_enabled && !store.globalTracking) {
    tracking.append(el("span", { class: "hint", text: "paused (shop-wide off)" }));
  }
  return el("tr", { dataset: { id: String(p.id) }, class: p.active ? "" : "inactive" },
    el("td", { class: "select-cell" }, selectBox(p)),
    el("td", { "data-col": "sku" }, el("code", { text: p.sku })),
    el("td", { class: "name", "data-col": "name" }, p.name),
    el("td", { class: "muted", "data-col": "category" }, p.category || ""),
    el("td", { class: "num", "data-col": "price" }, money(p.price_cents)),
    el("td", { class: stockClass, "data-col": "stock" }, String(p.current_stock)),
    el("td", { class: "num", "data-col": "threshold" }, p.low_stock_threshold === null ? "—" : String(p.low_stock_threshold)),
    el("td", { "data-col": "status" }, el("div", { class: "badges" }, statusBadges(p))),
    tracking,
    el("td", { class: "muted", title: when(p.last_activity_at), "data-col": "activity",
      "data-at": p.last_activity_at || "" }, ago(p.last_activity_at)),
    el("td", { class: "actions" },
      el("button", { type: "button", class: "btn btn-small", "aria-label": "Manage " + p.name,
        onclick: () => openProduct(p.id) }, "Manage")),
  );
}

const SORT_VALUE = {
  sku: (p) => p.sku, name: (p) => p.name, category: (p) => p.category, price: (p) => p.price_cents,
  stock: (p) => p.current_stock, threshold: (p) => p.low_stock_threshold, activity: (p) => p.last_activity_at,
};

/** Filter and sort the whole catalogue, then draw one page of it. */
function renderProducts() {
  const body = $("#products-body");
  if (!body) return;
  const list = [...store.products.values()].filter(matches);
  state.shown = sortBy(list, state.sort, (p, key) => SORT_VALUE[key](p));
  const pages = Math.max(1, Math.ceil(state.shown.length / state.pageSize));
  state.page = Math.min(state.page, pages - 1);
  drawPage();
}

function drawPage() {
  const body = $("#products-body");
  const first = state.page * state.pageSize;
  const slice = state.shown.slice(first, first + state.pageSize);
  state.rows.clear();
  const rows = slice.map((p) => {
    const tr = buildRow(p);
    state.rows.set(p.id, tr);
    return tr;
  });
  body.replaceChildren(...rows);
  $("#products-empty").hidden = rows.length > 0;
  paintPager();
  paintSelection();
  updateCounts();
}

function paintPager() {
  const total = state.shown.length;
  const pages = Math.max(1, Math.ceil(total / state.pageSize));
  const first = total ? state.page * state.pageSize + 1 : 0;
  const last = Math.min(total, (state.page + 1) * state.pageSize);
  $("#pager").hidden = total <= state.pageSize;
  $("#pager-text").textContent = first + "–" + last + " of " + total.toLocaleString() +
    " · page " + (state.page + 1) + " of " + pages;
  $("#pager-prev").disabled = state.page === 0;
  $("#pager-next").disabled = state.page >= pages - 1;
}

/** Show the page holding product `id` (e.g. one just created). */
function showProduct(id) {
  const index = state.shown.findIndex((p) => p.id === id);
  if (index < 0) return null;
  const page = Math.floor(index / state.pageSize);
  if (page !== state.page) { state.page = page; drawPage(); }
  return state.rows.get(id) || null;
}

let renderTimer = null;
function renderSoon() {
  clearTimeout(renderTimer);
  renderTimer = setTimeout(renderProducts, 200);
}

function updateRow(p, flash) {
  const old = state.rows.get(p.id);
  if (!matches(p)) {
    if (old) { old.remove(); state.rows.delete(p.id); }
    $("#products-empty").hidden = state.rows.size > 0;
    return;
  }
  // A product off this page: with a filter it may have just started matching. Rows on the
  // page keep their place while their values change live (no jumping under the pointer).
  if (!old) { if (state.filter !== "all" || state.search) renderSoon(); return; }
  const focused = old.contains(document.activeElement) ? document.activeElement.id : null;
  const tr = buildRow(p);
  old.replaceWith(tr);
  state.rows.set(p.id, tr);
  if (focused) { const again = document.getElementById(focused); if (again) again.focus(); }
  if (flash) {
    tr.classList.add("flash");
    setTimeout(() => tr.classList.remove("flash"), 2200);
  }
}

function updateCounts() {
  let low = 0, negative = 0;
  for (const p of store.products.values()) { if (p.low_stock_flag) low++; if (p.negative_flag) negative++; }
  $("[data-count=low]").textContent = low ? String(low) : "";
  $("[data-count=negative]").textContent = negative ? String(negative) : "";
  const n = store.products.size;
  let what = n.toLocaleString() + " product" + (n === 1 ? "" : "s");
  if (state.filter !== "all" || state.search) {
    // the count follows what the table shows (all its pages), out of how many
    let shown = 0;
    for (const p of store.products.values()) if (matches(p)) shown++;
    what = shown.toLocaleString() + " of " + what + " shown";
  }
  $("#products-summary").textContent = what +
    (low ? " · " + low + " low" : "") + (negative ? " · " + negative + " negative" : "");
}

// ------------------------------------------------------------ selection
function paintSelection() {
  for (const id of [...state.selected]) if (!store.products.has(id)) state.selected.delete(id);
  const n = state.selected.size;
  $("#bulk-bar").hidden = n === 0;
  $("#bulk-count").textContent = n.toLocaleString() + " selected";
  const onPage = [...state.rows.keys()];
  const picked = onPage.filter((id) => state.selected.has(id)).length;
  const all = $("#select-page");
  all.checked = onPage.length > 0 && picked === onPage.length;
  all.indeterminate = picked > 0 && picked < onPage.length;
  const every = $("#bulk-select-all");
  every.hidden = state.shown.length <= onPage.length || state.shown.every((p) => state.selected.has(p.id));
  every.textContent = "Select all " + state.shown.length.toLocaleString() + " shown";
}

export function selectedIds() { return [...state.selected]; }

export function clearSelection() {
  state.selected.clear();
  for (const box of $$("#products-body input[data-select]")) box.checked = false;
  paintSelection();
}

$("#select-page").addEventListener("change", (ev) => {
  for (const id of state.rows.keys()) {
    if (ev.target.checked) state.selected.add(id); else state.selected.delete(id);
  }
  for (const box of $$("#products-body input[data-select]")) box.checked = ev.target.checked;
  paintSelection();
});
$("#bulk-select-all").addEventListener("click", () => {
  for (const p of state.shown) state.selected.add(p.id);
  for (const box of $$("#products-body input[data-select]")) box.checked = true;
  paintSelection();
});
$("#bulk-clear").addEventListener("click", clearSelection);

on("reload", renderProducts);
on("change", (p, flash) => { updateRow(p, flash); updateCounts(); });
on("tracking", (enabled) => {
  $("#tracking-off-banner").hidden = enabled;
  renderProducts();
});

state.sort = sortableHead($("#products-table thead"), { key: "name", dir: 1 }, () => { state.page = 0; renderProducts(); });

$("#pager-prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); drawPage(); });
$("#pager-next").addEventListener("click", () => { state.page += 1; drawPage(); });
$("#page-size").addEventListener("change", (ev) => {
  state.pageSize = Number(ev.target.value) || 100;
  state.page = 0;
  drawPage();
});

// "12 s ago" keeps counting while nothing happens
setInterval(() => {
  for (const td of $$('#products-body td[data-col="activity"]')) {
    if (td.dataset.at) td.textContent = ago(td.dataset.at);
  }
}, 15000);

for (const seg of $$("[data-filter]")) {
  seg.addEventListener("click", () => {
    state.filter = seg.dataset.filter;
    state.page = 0;
    for (const s of $$("[data-filter]")) s.setAttribute("aria-pressed", String(s === seg));
    renderProducts();
  });
}
$("#product-search").addEventListener("input", (ev) => { state.search = ev.target.value.trim(); state.page = 0; renderProducts(); });

// ------------------------------------------------------------ new product
const createDialog = $("#create-dialog");
$("#new-product").addEventListener("click", () => {
  const form = $("#create-form");
  form.reset();
  clearFormError(form);
  createDialog.showModal();
  $("#create-sku").focus();
});

onSubmit($("#create-form"), async (form) => {
  const f = form.elements;
  const price = readPrice(f.price_cents);
  const threshold = readThreshold(f.low_stock_threshold);
  const stock = intOrNull(f.initial_stock.value) ?? 0;
  if (Number.isNaN(stock) || stock < 0) throw localError("Initial stock is a whole number of at least 0.", "initial_stock");
  const created = await api("POST", "/api/products", {
    sku: f.sku.value.trim(), name: f.name.value.trim(), price_cents: price,
    low_stock_threshold: threshold, initial_stock: stock,
  });
  const p = putProduct(created, false);
  closeDialog(createDialog);
  const row = showProduct(p.id);
  if (row) { row.classList.add("flash"); row.scrollIntoView({ block: "nearest" }); }
  toast("Created " + p.name);
});
