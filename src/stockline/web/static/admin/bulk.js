/* Bulk actions on the products selected in the table: adjust, threshold, (de)activate.
 * One POST /api/products/bulk: one transaction, one ledger row per product for adjust. */
import { api, $, $$, onSubmit, localError, signed } from "./api.js";
import { putProduct } from "./store.js";
import { clearSelection, selectedIds } from "./products.js";
import { closeDialog, intOrNull, readThreshold, toast } from "./ui.js";

const MAX = 1000; // the API's limit per request (it is all-or-nothing, so no splitting)
const dialog = $("#bulk-dialog");
const form = $("#bulk-form");

const ACTIONS = {
  adjust: { title: "Adjust stock", button: "Apply adjustment" },
  threshold: { title: "Set low-stock threshold", button: "Set threshold" },
  deactivate: { title: "Deactivate products", button: "Deactivate" },
  activate: { title: "Activate products", button: "Activate" },
};

function open(action) {
  const n = selectedIds().length;
  form.reset();
  form.dataset.action = action;
  form.querySelector("[data-form-error]").textContent = "";
  $("#bulk-title").textContent = ACTIONS[action].title;
  $("#bulk-intro").textContent = n.toLocaleString() + " selected product" + (n === 1 ? "" : "s") +
    (action === "deactivate" ? " will no longer be shown at kiosks." : action === "activate" ? " will be shown at kiosks again." : ".");
  for (const part of $$("[data-bulk-field]", form)) part.hidden = part.dataset.bulkField !== action;
  form.querySelector("button[type=submit]").textContent = ACTIONS[action].button;
  dialog.showModal();
  const first = form.querySelector("[data-bulk-field]:not([hidden]) input");
  if (first) first.focus(); else form.querySelector("button[type=submit]").focus();
}

for (const button of $$("[data-bulk]")) button.addEventListener("click", () => open(button.dataset.bulk));

onSubmit(form, async () => {
  const action = form.dataset.action;
  const ids = selectedIds();
  if (!ids.length) throw localError("Select products in the table first.");
  if (ids.length > MAX) throw localError("Select at most " + MAX + " products for one bulk action.");
  const body = { product_ids: ids, action };
  const f = form.elements;
  if (action === "adjust") {
    const delta = intOrNull(f.delta.value);
    if (delta === null || Number.isNaN(delta) || delta === 0) {
      throw localError("Enter a whole number other than 0, e.g. 12 or -3.", "delta");
    }
    const reason = f.reason.value.trim();
    if (!reason) throw localError("Give a reason for the adjustment.", "reason");
    Object.assign(body, { delta, reason });
  } else if (action === "threshold") {
    body.low_stock_threshold = readThreshold(f.low_stock_threshold);
  }
  const out = await api("POST", "/api/products/bulk", body);
  for (const p of out.products || []) putProduct(p, true);
  closeDialog(dialog);
  const n = (out.products || []).length;
  const what = action === "adjust" ? "Stock adjusted by " + signed(body.delta) :
    action === "threshold" ? "Threshold set" : action === "deactivate" ? "Deactivated" : "Activated";
  toast(what + " for " + n + " product" + (n === 1 ? "" : "s"));
  clearSelection();
});
