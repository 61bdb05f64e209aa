/* The products view: the live table, search and filters, tracking switches, new product. */
import { api, $, $$, el, money, when, ago, onSubmit, clearFormError, localError } from "./api.js";
import { store, on, putProduct, setTracking } from "./store.js";
import { closeDialog, intOrNull, readPrice, readThreshold, statusBadges, toast } from "./ui.js";
import { openProduct } from "./product-dialog.js";

const state = {
  rows: new Map(), // id → <tr>
  filter: "all",
  search: "",
};

export const view = { name: "products", title: "products" };

function matches(p) {
  if (state.filter === "low" && !p.low_stock_flag) return false;
  if (state.filter === "negative" && !p.negative_flag) return false;
  if (state.filter === "untracked" && p.tracking_enabled) return false;
  if (state.search) {
    const q = state.search.toLowerCase();
    if (!p.name.toLowerCase().includes(q) && !p.sku.toLowerCase().includes(q)) return false;
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

function buildRow(p) {
  const stockClass = "num stock" + (p.negative_flag ? " neg" : p.low_stock_flag ? " low" : "");
  const tracking = el("td", { class: "tracking-cell" }, trackingSwitch(p, "track-" + p.id));
  if (p.tracking_enabled && !store.globalTracking) {
    tracking.append(el("span", { class: "hint", text: "paused (shop-wide off)" }));
  }
  return el("tr", { dataset: { id: String(p.id) }, class: p.active ? "" : "inactive" },
    el("td", {}, el("code", { text: p.sku })),
    el("td", { class: "name" }, p.name),
    el("td", { class: "num" }, money(p.price_cents)),
    el("td", { class: stockClass, "data-col": "stock" }, String(p.current_stock)),
    el("td", { class: "num" }, p.low_stock_threshold === null ? "—" : String(p.low_stock_threshold)),
    el("td", { "data-col": "status" }, el("div", { class: "badges" }, statusBadges(p))),
    tracking,
    el("td", { class: "muted", title: when(p.last_activity_at), "data-col": "activity",
      "data-at": p.last_activity_at || "" }, ago(p.last_activity_at)),
    el("td", { class: "actions" },
      el("button", { type: "button", class: "btn btn-small", "aria-label": "Manage " + p.name,
        onclick: () => openProduct(p.id) }, "Manage")),
  );
}

function renderProducts() {
  const body = $("#products-body");
  if (!body) return;
  const list = [...store.products.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
  state.rows.clear();
  const rows = [];
  for (const p of list) {
    if (!matches(p)) continue;
    const tr = buildRow(p);
    state.rows.set(p.id, tr);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  $("#products-empty").hidden = rows.length > 0;
  updateCounts();
}

function updateRow(p, flash) {
  const old = state.rows.get(p.id);
  if (!matches(p)) {
    if (old) { old.remove(); state.rows.delete(p.id); }
    $("#products-empty").hidden = state.rows.size > 0;
    return;
  }
  if (!old) { renderProducts(); return; }
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
  $("#products-summary").textContent = n + " product" + (n === 1 ? "" : "s") +
    (low ? " · " + low + " low" : "") + (negative ? " · " + negative + " negative" : "");
}

on("reload", renderProducts);
on("change", (p, flash) => { updateRow(p, flash); updateCounts(); });
on("tracking", (enabled) => {
  $("#tracking-off-banner").hidden = enabled;
  renderProducts();
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
    for (const s of $$("[data-filter]")) s.setAttribute("aria-pressed", String(s === seg));
    renderProducts();
  });
}
$("#product-search").addEventListener("input", (ev) => { state.search = ev.target.value.trim(); renderProducts(); });

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
  const row = state.rows.get(p.id);
  if (row) { row.classList.add("flash"); row.scrollIntoView({ block: "nearest" }); }
  toast("Created " + p.name);
});
