/* Small portal-wide UI helpers: toasts, dialogs, background errors, number inputs. */
import { $, $$, el, localError, message, parseMoney } from "./api.js";

export const AUTH_LOST = "stockline:auth-lost";

/** The session ended (a 401 somewhere): session.js shows the login again. */
export function authLost() { document.dispatchEvent(new CustomEvent(AUTH_LOST)); }

/** A short note at the bottom left. The box is a popover, so it sits in the top layer
 * above an open modal dialog (a z-index cannot lift anything over showModal()). */
export function toast(text, kind) {
  const box = $("#toasts");
  const node = el("div", { class: "toast toast-" + (kind || "ok"), text });
  box.append(node);
  // shown again, it moves above whatever entered the top layer since (a dialog opened)
  if (box.matches(":popover-open")) box.hidePopover();
  box.showPopover();
  setTimeout(() => node.classList.add("leaving"), 3500);
  setTimeout(() => {
    node.remove();
    if (!box.children.length && box.matches(":popover-open")) box.hidePopover();
  }, 4000);
}

export function isAuthError(err) { return err && (err.status === 401); }

export function handleBackgroundError(err, where) {
  if (isAuthError(err)) { authLost(); return; }
  toast((where ? where + ": " : "") + message(err), "error");
}

/** "" → null, "12" → 12, "1.5" or "x" → NaN. */
export function intOrNull(value) {
  const t = String(value).trim();
  if (t === "") return null;
  const n = Number(t);
  return Number.isInteger(n) ? n : NaN;
}

/** A price input in cents, or a 422-like error on that field (shown by onSubmit). */
export function readPrice(input) {
  const price = parseMoney(input.value);
  if (price === null) throw localError("Enter a price such as 2.50.", input.name);
  return price;
}

/** A low-stock threshold input: null (no alerts) or a whole number ≥ 0. */
export function readThreshold(input) {
  const threshold = intOrNull(input.value);
  if (Number.isNaN(threshold) || (threshold !== null && threshold < 0)) {
    throw localError("The threshold is a whole number of at least 0 (or empty for no alerts).", input.name);
  }
  return threshold;
}

export function closeDialog(dialog) { if (dialog.open) dialog.close(); }

export function closeAllDialogs() { for (const d of $$("dialog")) closeDialog(d); }

/** Every dialog of the page: [data-close] buttons and a click on the backdrop close it. */
export function wireDialogs() {
  for (const dialog of $$("dialog")) {
    for (const btn of $$("[data-close]", dialog)) btn.addEventListener("click", () => closeDialog(dialog));
    dialog.addEventListener("click", (ev) => { if (ev.target === dialog) closeDialog(dialog); });
  }
}

/** In stock / Low stock / Out of stock / Negative / Inactive, as badges (the table and
 * the product dialog). At 0 or below it says "Out of stock", as the kiosk does. */
export function statusBadges(p) {
  const out = [];
  if (p.current_stock <= 0) out.push(el("span", { class: "badge badge-danger", text: "Out of stock" }));
  else if (p.low_stock_flag) out.push(el("span", { class: "badge badge-warn", text: "Low stock" }));
  if (p.negative_flag) out.push(el("span", { class: "badge badge-danger", text: "Negative" }));
  if (!p.active) out.push(el("span", { class: "badge badge-muted", text: "Inactive" }));
  if (p.snooze) out.push(el("span", { class: "badge badge-muted", text: "Snoozed", title: "Alerts snoozed" }));
  if (!out.length) out.push(el("span", { class: "badge badge-ok", text: "In stock" }));
  return out;
}

/**
 * Ask before something that cannot be undone; resolves true when confirmed.
 * Uses the page's #confirm-dialog (a native confirm() would block the page).
 */
export function confirmAction(text, okLabel) {
  const dialog = $("#confirm-dialog");
  $("#confirm-text").textContent = text;
  const ok = $("#confirm-ok");
  ok.textContent = okLabel || "OK";
  return new Promise((resolve) => {
    let answer = false;
    const onOk = () => { answer = true; closeDialog(dialog); };
    ok.addEventListener("click", onOk, { once: true });
    dialog.addEventListener("close", () => { ok.removeEventListener("click", onOk); resolve(answer); }, { once: true });
    dialog.showModal();
    ok.focus();
  });
}

/** A 404 for the path itself (an older server without that endpoint), not for an id. */
export function isMissingRoute(err) {
  return Boolean(err) && err.status === 404 && (!err.problem.detail || err.problem.detail === "Not Found");
}
