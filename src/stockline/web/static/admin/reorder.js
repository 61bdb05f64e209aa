/* The "to reorder" view: products whose suggested reorder quantity is above 0, the ones
 * that run out first on top (GET /api/inventory/reorder, sorted by days of cover). */
import { api, $, el } from "./api.js";
import { openProduct } from "./product-dialog.js";
import { fmtCover, fmtPerDay } from "./insight.js";
import { sortableHead, sortBy } from "./sort.js";
import { handleBackgroundError, isMissingRoute } from "./ui.js";

const state = { items: [], sort: null, days: 28 };

export const view = { name: "reorder", title: "to reorder", enter() { loadReorder(); } };

const VALUE = {
  sku: (r) => r.sku, name: (r) => r.name, stock: (r) => r.current_stock, threshold: (r) => r.low_stock_threshold,
  sold: (r) => r.sold_per_day, cover: (r) => r.days_of_cover, reorder: (r) => r.suggested_reorder_quantity,
};

async function loadReorder() {
  try {
    const list = await api("GET", "/api/inventory/reorder?days=" + state.days);
    state.items = list.map((r) => ({ ...r, id: r.product_id }));
    $("#reorder-unavailable").hidden = true;
  } catch (err) {
    if (isMissingRoute(err)) { $("#reorder-unavailable").hidden = false; return; }
    handleBackgroundError(err, "To reorder");
    return;
  }
  render();
}

function render() {
  // the server's order (days of cover, soonest first) until a column is chosen
  const list = state.sort.key === "cover" && state.sort.dir === 1 ? [...state.items]
    : sortBy([...state.items], state.sort, (r, key) => VALUE[key](r));
  $("#reorder-body").replaceChildren(...list.map((r) => el("tr", { dataset: { id: String(r.product_id) } },
    el("td", {}, el("code", { text: r.sku })),
    el("td", { class: "name" }, r.name),
    el("td", { class: "num", "data-col": "stock" }, String(r.current_stock)),
    el("td", { class: "num" }, r.low_stock_threshold === null ? "—" : String(r.low_stock_threshold)),
    el("td", { class: "num", "data-col": "sold" }, fmtPerDay(r.sold_per_day)),
    el("td", { class: "num", "data-col": "cover" }, fmtCover(r.days_of_cover)),
    el("td", { class: "num strong", "data-col": "reorder" }, String(r.suggested_reorder_quantity)),
    el("td", { class: "actions" }, el("button", { type: "button", class: "btn btn-small", "aria-label": "Manage " + r.name,
      onclick: () => openProduct(r.product_id) }, "Manage")))));
  $("#reorder-empty").hidden = list.length > 0;
  $("#reorder-summary").textContent = list.length + " product" + (list.length === 1 ? "" : "s") + " to reorder, based on the last " + state.days + " days";
}

state.sort = sortableHead($("#reorder-table thead"), { key: "cover", dir: 1 }, render);
$("#reorder-days").addEventListener("change", (ev) => { state.days = Number(ev.target.value) || 28; loadReorder(); });
$("#reorder-refresh").addEventListener("click", loadReorder);
