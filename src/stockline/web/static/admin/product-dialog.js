/* The product dialog ("Manage"): summary, adjust, reconcile, edit details, ledger history. */
import { api, $, el, money, centsToInput, when, signed, onSubmit, clearFormError, localError } from "./api.js";
import { store, on, applyStock, putProduct, setTracking } from "./store.js";
import { showInsight } from "./insight.js";
import { onLive } from "./live.js";
import { handleBackgroundError, intOrNull, readPrice, readThreshold, statusBadges, toast } from "./ui.js";

const state = {
  openId: null, // product shown in the dialog
  ledgerBefore: null,
};

const productDialog = $("#product-dialog");

function fillDialogSummary(p) {
  $("#pd-title").textContent = p.name;
  $("#pd-sku").textContent = "SKU " + p.sku + " · " + money(p.price_cents) + (p.active ? "" : " · inactive");
  const stock = $("#pd-stock");
  stock.textContent = String(p.current_stock);
  stock.className = "metric-value" + (p.negative_flag ? " neg" : p.low_stock_flag ? " low" : "");
  $("#pd-threshold").textContent = p.low_stock_threshold === null ? "none" : String(p.low_stock_threshold);
  $("#pd-flags").replaceChildren(...statusBadges(p));
  $("#pd-tracking").checked = p.tracking_enabled;
  fillSnooze(p);
}

function fillSnooze(p) {
  const z = p.snooze;
  let text = "Not snoozed: alerts are sent.";
  if (z) {
    const parts = [];
    if (z.until) parts.push("until " + when(z.until));
    if (z.until_restocked) parts.push("until restocked");
    text = "Snoozed " + parts.join(" or ") + ": alerts are logged as suppressed.";
  }
  $("#snooze-state").textContent = text;
  $("#snooze-lift").hidden = !z;
}

function fillEditForm(p) {
  const f = $("#edit-form").elements;
  f.name.value = p.name;
  f.price_cents.value = centsToInput(p.price_cents);
  f.low_stock_threshold.value = p.low_stock_threshold === null ? "" : String(p.low_stock_threshold);
  f.active.checked = p.active;
}

export function openProduct(id) {
  const p = store.products.get(id);
  if (!p) return;
  state.openId = id;
  for (const form of [$("#adjust-form"), $("#reconcile-form"), $("#snooze-form"), $("#edit-form")]) {
    form.reset();
    clearFormError(form);
  }
  fillDialogSummary(p);
  fillEditForm(p);
  $("#pd-csv").href = "/api/inventory/ledger.csv?product_id=" + id;
  $("#pd-csv").setAttribute("download", "ledger-" + p.sku + ".csv");
  productDialog.showModal();
  $("#adjust-delta").focus();
  loadLedger(true);
  showInsight(id);
}

productDialog.addEventListener("close", () => { state.openId = null; showInsight(null); });

on("change", (p) => { if (state.openId === p.id) fillDialogSummary(p); });
onLive("stock-updated", (data) => { if (state.openId === data.product_id) reloadLedgerSoon(); });

$("#pd-tracking").addEventListener("change", (ev) => {
  if (state.openId !== null) setTracking(state.openId, ev.target.checked, ev.target);
});

const SOURCES = {
  purchase: "Purchase", manual_adjustment: "Adjustment", reconciliation: "Reconciliation", system: "Initial stock",
};

/** Who made a movement: an admin's email or a kiosk's name (older servers: not known). */
function actor(e) {
  if (!e.actor) return e.source === "system" && !e.admin_id ? "system" : "–";
  return e.actor_kind === "kiosk" ? "kiosk " + e.actor : e.actor;
}

async function loadLedger(reset) {
  const id = state.openId;
  if (id === null) return;
  if (reset) state.ledgerBefore = null;
  let url = "/api/inventory/" + id + "/ledger?limit=20";
  if (!reset && state.ledgerBefore) url += "&before_id=" + state.ledgerBefore;
  try {
    const page = await api("GET", url);
    if (state.openId !== id) return;
    const rows = page.items.map((e) => el("tr", { dataset: { entry: String(e.id) } },
      el("td", { title: when(e.created_at) }, when(e.created_at)),
      el("td", { class: "num delta " + (e.delta > 0 ? "pos" : "neg") }, signed(e.delta)),
      el("td", { class: "num", "data-col": "balance" }, e.balance_after === undefined || e.balance_after === null ? "–" : String(e.balance_after)),
      el("td", {}, SOURCES[e.source] || e.source),
      el("td", { "data-col": "who" }, actor(e)),
      el("td", { class: "reason" }, e.reason || (e.transaction_id ? "Sale #" + e.transaction_id : "")),
    ));
    const body = $("#ledger-body");
    if (reset) body.replaceChildren(...rows); else body.append(...rows);
    state.ledgerBefore = page.next_before_id;
    $("#ledger-more").hidden = !state.ledgerBefore;
    $("#ledger-empty").hidden = body.children.length > 0;
  } catch (err) {
    handleBackgroundError(err, "History");
  }
}
$("#ledger-more").addEventListener("click", () => loadLedger(false));

let ledgerTimer = null;
function reloadLedgerSoon() {
  clearTimeout(ledgerTimer);
  ledgerTimer = setTimeout(() => {
    loadLedger(true);
    if (state.openId !== null) showInsight(state.openId);
  }, 150);
}

onSubmit($("#adjust-form"), async (form) => {
  const id = state.openId;
  const delta = intOrNull(form.elements.delta.value);
  if (delta === null || Number.isNaN(delta) || delta === 0) {
    throw localError("Enter a whole number other than 0, e.g. 12 for a delivery or -3 for a write-off.", "delta");
  }
  const reason = form.elements.reason.value.trim();
  if (!reason) throw localError("Give a reason for the adjustment.", "reason");
  const out = await api("POST", "/api/inventory/" + id + "/adjustments", { delta, reason });
  applyStock(out.snapshot, true);
  form.reset();
  await loadLedger(true);
  toast("Stock adjusted by " + signed(delta));
});

onSubmit($("#reconcile-form"), async (form) => {
  const id = state.openId;
  const counted = intOrNull(form.elements.counted_quantity.value);
  if (counted === null || Number.isNaN(counted) || counted < 0) {
    throw localError("Enter the counted quantity (a whole number, 0 or more).", "counted_quantity");
  }
  const reason = form.elements.reason.value.trim();
  if (!reason) throw localError("Give a reason for the count.", "reason");
  const out = await api("POST", "/api/inventory/" + id + "/reconciliations", { counted_quantity: counted, reason });
  applyStock(out.snapshot, true);
  form.reset();
  await loadLedger(true);
  toast(out.entry ? "Count recorded: " + signed(out.entry.delta) + " booked" : "Count matches the stock; nothing booked");
});

onSubmit($("#snooze-form"), async (form) => {
  const id = state.openId;
  const f = form.elements;
  const body = { until_restocked: f.until_restocked.checked };
  if (f.until.value) {
    const at = new Date(f.until.value); // datetime-local is the browser's local time
    if (Number.isNaN(at.getTime())) throw localError("Enter a date and time.", "until");
    body.until = at.toISOString(); // zoned (UTC): the API refuses naive times
  }
  if (!body.until && !body.until_restocked) {
    throw localError("Choose a time, or tick 'until restocked'.", "until");
  }
  const snap = await api("POST", "/api/inventory/" + id + "/snooze", body);
  applyStock(snap, false);
  toast("Alerts snoozed for " + snap.name);
});

$("#snooze-lift").addEventListener("click", async () => {
  const id = state.openId;
  if (id === null) return;
  try {
    const snap = await api("DELETE", "/api/inventory/" + id + "/snooze");
    applyStock(snap, false);
    toast("Snooze lifted for " + snap.name);
  } catch (err) {
    handleBackgroundError(err, "Snooze");
  }
});

onSubmit($("#edit-form"), async (form) => {
  const id = state.openId;
  const f = form.elements;
  const price = readPrice(f.price_cents);
  const threshold = readThreshold(f.low_stock_threshold);
  const updated = await api("PATCH", "/api/products/" + id, {
    name: f.name.value.trim(), price_cents: price, low_stock_threshold: threshold, active: f.active.checked,
  });
  const p = putProduct(updated, true);
  toast("Saved " + p.name);
});
