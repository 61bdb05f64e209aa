/* The refused-sales view: offline kiosk sales the server refused on replay (SPEC §7.5).
 * A kiosk never drops such a sale; it reports it, and staff settle it here. The nav link
 * shows how many are open, so nobody has to look for them. */
import { api, $, el, money, when } from "./api.js";
import { handleBackgroundError, toast } from "./ui.js";

const COUNT_EVERY_MS = 30000;

export const view = { name: "refused", title: "refused sales", enter() { load(); } };

function basket(items) {
  return el("ul", { class: "refused-lines" }, ...items.map((i) =>
    el("li", { text: i.quantity + " × " + i.name + " (" + money(i.unit_price_cents) + ", #" + i.product_id + ")" })));
}

function row(s) {
  const resolved = Boolean(s.resolved_at);
  return el("tr", { dataset: { id: String(s.id) }, class: resolved ? "inactive" : "" },
    el("td", { text: when(s.sold_at) }),
    el("td", { text: s.kiosk_name }),
    el("td", {}, basket(s.items)),
    el("td", { class: "num", text: money(s.total_cents) }),
    el("td", { class: "reason", text: s.refused_status + ": " + s.refused_detail }),
    el("td", { class: "actions" }, resolved
      ? el("span", { class: "muted", text: "resolved " + when(s.resolved_at) })
      : el("button", { type: "button", class: "btn", onclick: () => resolve(s) }, "Mark resolved")));
}

async function load() {
  const all = $("#refused-all").checked;
  let list;
  try {
    list = await api("GET", "/api/admin/rejected-sales" + (all ? "?include_resolved=true" : ""));
  } catch (err) {
    handleBackgroundError(err, "Refused sales");
    return;
  }
  $("#refused-body").replaceChildren(...list.map(row));
  $("#refused-empty").hidden = list.length > 0;
  if (!all) showCount(list.length);
  else refreshCount();
}

async function resolve(s) {
  try {
    await api("POST", "/api/admin/rejected-sales/" + s.id + "/resolve");
    toast("Refused sale marked resolved.", "ok");
  } catch (err) {
    handleBackgroundError(err, "Refused sales");
  }
  load();
}

function showCount(n) {
  const badge = $("#refused-count");
  badge.textContent = n ? String(n) : "";
}

async function refreshCount() {
  if ($("#app").hidden) return;
  try {
    showCount((await api("GET", "/api/admin/rejected-sales")).length);
  } catch (err) { /* signed out or offline: the badge waits for the next round */ }
}

$("#refused-all").addEventListener("change", load);
$("#refused-refresh").addEventListener("click", load);
setInterval(refreshCount, COUNT_EVERY_MS);
// the first count as soon as the portal shows (after sign-in)
new MutationObserver(() => refreshCount()).observe($("#app"), { attributes: true, attributeFilter: ["hidden"] });
