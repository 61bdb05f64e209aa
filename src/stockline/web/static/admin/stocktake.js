/* The stocktake view: open a count, count with a barcode scanner or by hand while the
 * shop keeps selling, then commit (one reconciliation row per counted line: counted −
 * stock when that line was counted) or abandon.
 *
 * A scanner is a keyboard that types the code and presses Enter. In the scan field a
 * code (barcode or SKU) finds its line; "each scan counts one" adds 1 to it, otherwise
 * the line's count field is focused for the number, and Enter there returns to scanning. */
import { api, $, el, when, signed, onSubmit, localError, message } from "./api.js";
import { store } from "./store.js";
import { onLive } from "./live.js";
import { selectedIds } from "./products.js";
import { naturalCompare } from "./sort.js";
import { confirmAction, handleBackgroundError, toast } from "./ui.js";

const state = {
  take: null, // the stocktake shown in the sheet, as the API returned it
  lines: new Map(), // product_id → line
  rows: new Map(), // product_id → <tr>
  saving: new Map(), // product_id → promise of the last PUT (counts of a line are sent in order)
  countSelected: false, // came from "Count in a stocktake…" of the products' bulk bar
};

$("#bulk-count-stock").addEventListener("click", () => { state.countSelected = true; });

export const view = {
  name: "stocktake",
  title: "stocktake",
  enter() {
    if (state.take && state.take.status === "open") { focusScan(); return; }
    showList();
  },
};

// ------------------------------------------------------------ list and start
async function showList() {
  state.take = null;
  $("#stocktake-sheet").hidden = true;
  $("#stocktake-start").hidden = false;
  const n = selectedIds().length;
  $("#stocktake-scope-selected-label").textContent = "The " + n + " product" + (n === 1 ? "" : "s") + " selected under Products";
  $("#stocktake-scope-selected").disabled = n === 0;
  if (n === 0) $("#stocktake-scope-all").checked = true;
  if (n > 0 && state.countSelected) $("#stocktake-scope-selected").checked = true;
  state.countSelected = false;
  try {
    const list = await api("GET", "/api/stocktakes");
    $("#stocktakes-body").replaceChildren(...list.map((s) => el("tr", { dataset: { stocktake: String(s.id) } },
      el("td", { class: "num" }, String(s.id)),
      el("td", {}, s.note || "–"),
      el("td", {}, statusBadge(s.status)),
      el("td", { class: "num" }, s.counted_count + " / " + s.line_count),
      el("td", { title: when(s.created_at) }, when(s.created_at) + (s.created_by ? " · " + s.created_by : "")),
      el("td", { class: "actions" }, el("button", { type: "button", class: "btn btn-small",
        "aria-label": (s.status === "open" ? "Continue" : "View") + " stocktake " + s.id,
        onclick: () => openStocktake(s.id) }, s.status === "open" ? "Continue" : "View")))));
    $("#stocktakes-empty").hidden = list.length > 0;
  } catch (err) {
    handleBackgroundError(err, "Stocktakes");
  }
}

function statusBadge(status) {
  const kind = { open: "info", committed: "ok", abandoned: "muted" }[status] || "muted";
  return el("span", { class: "badge badge-" + kind, text: status });
}

onSubmit($("#stocktake-form"), async (form) => {
  const body = { note: form.elements.note.value.trim() };
  if (form.elements.scope.value === "selected") {
    const ids = selectedIds();
    if (!ids.length) throw localError("Select products under Products first, or count all of them.");
    body.product_ids = ids;
  }
  const take = await api("POST", "/api/stocktakes", body);
  form.reset();
  showSheet(take);
});

async function openStocktake(id) {
  try {
    showSheet(await api("GET", "/api/stocktakes/" + id));
  } catch (err) {
    handleBackgroundError(err, "Stocktake");
  }
}

// ------------------------------------------------------------ the count sheet
function showSheet(take) {
  state.take = take;
  state.lines = new Map(take.lines.map((l) => [l.product_id, l]));
  state.saving.clear();
  $("#stocktake-start").hidden = true;
  $("#stocktake-sheet").hidden = false;
  $("#sheet-title").textContent = "Stocktake #" + take.id + (take.note ? ": " + take.note : "");
  const open = take.status === "open";
  $("#sheet-status").replaceChildren(statusBadge(take.status),
    " started " + when(take.created_at) + (take.created_by ? " by " + take.created_by : "") +
    (take.closed_at ? " · " + take.status + " " + when(take.closed_at) + (take.closed_by ? " by " + take.closed_by : "") : ""));
  for (const node of [$("#scan-form"), $("#sheet-commit"), $("#sheet-abandon")]) node.hidden = !open;
  $("#scan-error").textContent = "";
  const lines = [...state.lines.values()].sort((a, b) => naturalCompare(a.sku, b.sku));
  state.rows.clear();
  $("#sheet-body").replaceChildren(...lines.map((l) => {
    const tr = buildLine(l);
    state.rows.set(l.product_id, tr);
    return tr;
  }));
  paintProgress();
  if (open) focusScan();
}

/** Stock now: live from the catalogue when we have it, else what the API said. */
function stockNow(line) {
  const p = store.products.get(line.product_id);
  return p ? p.current_stock : line.current_stock;
}

function buildLine(l) {
  const open = state.take.status === "open";
  const input = el("input", { type: "number", min: "0", step: "1", class: "count-input", inputmode: "numeric",
    id: "count-" + l.product_id, "aria-label": "Counted quantity of " + l.name, disabled: !open,
    value: l.counted_quantity === null ? "" : String(l.counted_quantity) });
  input.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter") return;
    ev.preventDefault();
    saveTyped(l.product_id, input);
    focusScan();
  });
  input.addEventListener("change", () => saveTyped(l.product_id, input));
  const now = stockNow(l);
  const since = l.stock_at_count === null ? null : now - l.stock_at_count;
  return el("tr", { dataset: { line: String(l.product_id) }, class: l.counted_quantity === null ? "uncounted" : "counted" },
    el("td", {}, el("code", { text: l.sku })),
    el("td", { class: "name" }, l.name),
    el("td", { class: "mono muted" }, l.barcode || ""),
    el("td", { class: "num", "data-col": "now" }, String(now)),
    el("td", { class: "num" }, input),
    el("td", { class: "num", "data-col": "at-count" }, l.stock_at_count === null ? "–" : String(l.stock_at_count),
      since ? el("span", { class: "hint inline", text: " (" + signed(since) + " since)" }) : null),
    el("td", { class: "num", "data-col": "delta" }, l.delta === null ? "–" : l.delta === 0 ? "0" : signed(l.delta)),
    el("td", { class: "muted" }, l.counted_at ? when(l.counted_at) + (l.counted_by ? " · " + l.counted_by : "") : ""),
  );
}

function repaintLine(productId, flash) {
  const line = state.lines.get(productId);
  const old = state.rows.get(productId);
  if (!line || !old) return;
  const focused = old.contains(document.activeElement);
  const tr = buildLine(line);
  old.replaceWith(tr);
  state.rows.set(productId, tr);
  if (focused) tr.querySelector("input").focus();
  if (flash) { tr.classList.add("flash"); setTimeout(() => tr.classList.remove("flash"), 1500); }
}

function paintProgress() {
  const lines = [...state.lines.values()];
  const counted = lines.filter((l) => l.counted_quantity !== null).length;
  $("#sheet-progress").textContent = counted + " of " + lines.length + " counted";
}

/** Send a count; counts of one line go out one after the other, the newest last. */
function saveCount(productId, counted) {
  const line = state.lines.get(productId);
  line.counted_quantity = counted; // shown at once; the answer adds stock at count and who
  repaintLine(productId, true);
  paintProgress();
  const id = state.take.id;
  const previous = state.saving.get(productId) || Promise.resolve();
  const next = previous.then(async () => {
    try {
      const saved = await api("PUT", "/api/stocktakes/" + id + "/lines/" + productId, { counted_quantity: counted });
      if (!state.take || state.take.id !== id) return;
      // a later count may be on its way: keep showing that number
      const shown = state.lines.get(productId).counted_quantity;
      state.lines.set(productId, { ...saved, counted_quantity: shown });
      if (shown === saved.counted_quantity) state.lines.set(productId, saved);
      repaintLine(productId, false);
    } catch (err) {
      handleBackgroundError(err, "Count");
      await reloadSheet(id); // show what the server holds, not the count that failed
      $("#scan-error").textContent = line.sku + ": " + message(err);
    }
  });
  state.saving.set(productId, next);
  return next;
}

async function reloadSheet(id) {
  try {
    const take = await api("GET", "/api/stocktakes/" + id);
    if (state.take && state.take.id === id) showSheet(take);
  } catch (err) {
    handleBackgroundError(err, "Stocktake");
  }
}

function saveTyped(productId, input) {
  const t = input.value.trim();
  const line = state.lines.get(productId);
  if (t === "" || !/^\d+$/.test(t)) {
    if (t !== "") $("#scan-error").textContent = line.sku + ": enter the counted quantity, a whole number 0 or more.";
    return;
  }
  const n = Number(t);
  if (n !== line.counted_quantity) saveCount(productId, n);
}

function focusScan() { const s = $("#scan-code"); if (s && !$("#scan-form").hidden) s.focus(); }

function findLine(code) {
  const q = code.trim().toLowerCase();
  for (const l of state.lines.values()) if (l.barcode && l.barcode.toLowerCase() === q) return l;
  for (const l of state.lines.values()) if (l.sku.toLowerCase() === q) return l;
  return null;
}

$("#scan-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("#scan-code");
  const code = input.value;
  input.value = "";
  if (!code.trim() || !state.take) return;
  const line = findLine(code);
  if (!line) {
    $("#scan-error").textContent = "No line for “" + code.trim() + "” in this stocktake.";
    return;
  }
  $("#scan-error").textContent = "";
  const row = state.rows.get(line.product_id);
  if (row) row.scrollIntoView({ block: "nearest" });
  if ($("#scan-each").checked) {
    saveCount(line.product_id, (line.counted_quantity ?? 0) + 1);
  } else {
    const count = $("#count-" + line.product_id);
    count.focus();
    count.select();
  }
});

// sales during the count show up in "stock now" as they happen
onLive("stock-updated", (data) => {
  if (state.take && state.lines.has(data.product_id)) {
    const line = state.lines.get(data.product_id);
    line.current_stock = data.current_stock;
    repaintLine(data.product_id, false);
  }
});

$("#sheet-back").addEventListener("click", () => showList());

$("#sheet-commit").addEventListener("click", async () => {
  const take = state.take;
  const counted = [...state.lines.values()].filter((l) => l.counted_quantity !== null).length;
  const ok = await confirmAction("Commit stocktake #" + take.id + "? " + counted + " counted line" + (counted === 1 ? "" : "s") +
    " are booked as reconciliations against the stock when each was counted; uncounted lines are left alone.", "Commit");
  if (!ok) return;
  try {
    await Promise.all([...state.saving.values()]);
    const done = await api("POST", "/api/stocktakes/" + take.id + "/commit");
    const n = (done.entries || []).length;
    toast("Stocktake #" + take.id + " committed: " + n + " reconciliation" + (n === 1 ? "" : "s") + " booked");
    showSheet(done);
  } catch (err) {
    $("#scan-error").textContent = message(err);
    handleBackgroundError(err, "Commit");
  }
});

$("#sheet-abandon").addEventListener("click", async () => {
  const take = state.take;
  if (!(await confirmAction("Abandon stocktake #" + take.id + "? Its counts are dropped and nothing is booked.", "Abandon"))) return;
  try {
    await Promise.all([...state.saving.values()]);
    const done = await api("DELETE", "/api/stocktakes/" + take.id);
    toast("Stocktake #" + take.id + " abandoned");
    showSheet(done);
  } catch (err) {
    $("#scan-error").textContent = message(err);
    handleBackgroundError(err, "Abandon");
  }
});
