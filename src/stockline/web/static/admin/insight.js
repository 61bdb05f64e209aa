/* Insight for one product (in the product dialog): stock over time, sold per day, days of
 * cover and the suggested reorder quantity, from GET /api/inventory/{id}/insight. */
import { api, $, el } from "./api.js";
import { stockChart } from "./chart.js";
import { handleBackgroundError, isMissingRoute } from "./ui.js";

const state = { productId: null, days: 28, seq: 0 };

export function fmtPerDay(v) {
  if (v === null || v === undefined) return "–";
  return (Math.round(v * 10) / 10).toLocaleString(undefined, { maximumFractionDigits: 1 });
}

export function fmtCover(days) {
  if (days === null || days === undefined) return "no sales";
  if (days < 1) return "under a day";
  return Math.floor(days).toLocaleString() + " day" + (Math.floor(days) === 1 ? "" : "s");
}

/** Load and draw the insight of `productId` (null: clear it). */
export async function showInsight(productId) {
  state.productId = productId;
  const seq = ++state.seq;
  const box = $("#insight-chart");
  if (productId === null) { box.replaceChildren(); return; }
  $("#insight-days").value = String(state.days);
  let data;
  try {
    data = await api("GET", "/api/inventory/" + productId + "/insight?days=" + state.days);
  } catch (err) {
    if (seq !== state.seq) return;
    if (isMissingRoute(err)) { $("#insight").hidden = true; return; }
    box.replaceChildren(el("p", { class: "empty", text: "No insight available." }));
    handleBackgroundError(err, "Insight");
    return;
  }
  if (seq !== state.seq) return; // another product (or range) was asked for meanwhile
  $("#insight").hidden = false;
  $("#insight-sold").textContent = fmtPerDay(data.sold_per_day);
  $("#insight-cover").textContent = fmtCover(data.days_of_cover);
  $("#insight-reorder").textContent = String(data.suggested_reorder_quantity ?? "–");
  $("#insight-rule").textContent = "Suggested reorder: enough for " + (data.lead_days ?? "?") +
    " days of lead time at " + fmtPerDay(data.sold_per_day) + " a day, plus the threshold, minus the stock.";
  const series = data.series || [];
  const label = "Stock over the last " + data.days + " days: from " + (series[0] ? series[0].stock : "?") + " to " +
    data.current_stock + "; " + (data.sold ?? 0) + " sold in total" +
    (data.low_stock_threshold !== null && data.low_stock_threshold !== undefined ? "; threshold " + data.low_stock_threshold : "") + ".";
  box.replaceChildren(stockChart(series, data.low_stock_threshold ?? null, label));
  $("#insight-table").replaceChildren(...series.map((p) => el("tr", {},
    el("td", {}, p.date), el("td", { class: "num" }, String(p.stock)), el("td", { class: "num" }, String(p.sold)))));
}

$("#insight-days").addEventListener("change", (ev) => {
  state.days = Number(ev.target.value) || 28;
  if (state.productId !== null) showInsight(state.productId);
});
