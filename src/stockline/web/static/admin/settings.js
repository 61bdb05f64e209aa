/* The settings view: notification recipients, shop-wide tracking, SMTP status. */
import { api, $, $$, el, uuid, onSubmit, showFormError, message } from "./api.js";
import { on, setGlobalTracking } from "./store.js";
import { authLost, handleBackgroundError, isAuthError, toast } from "./ui.js";

export const view = { name: "settings", title: "settings", enter() { loadSettings(); } };

on("tracking", (enabled) => {
  const box = $("#global-tracking");
  if (box) box.checked = enabled;
});

function recipientRow(value) {
  const id = "recipient-" + uuid().slice(0, 8);
  const input = el("input", { type: "email", id, name: "recipient", value: value || "",
    "aria-label": "Recipient email address", autocomplete: "off", placeholder: "name@example.com" });
  const msg = el("p", { class: "field-error", id: id + "-error" });
  input.setAttribute("aria-describedby", msg.id);
  const li = el("li", { class: "recipient" },
    el("div", { class: "row gap" }, input,
      el("button", { type: "button", class: "btn btn-ghost", "aria-label": "Remove " + (value || "this recipient"),
        onclick: () => { li.remove(); if (!$$("#recipients-list li").length) $("#recipients-list").append(recipientRow("")); } }, "Remove")),
    msg);
  return li;
}

function renderRecipients(list) {
  const rows = (list.length ? list : [""]).map(recipientRow);
  $("#recipients-list").replaceChildren(...rows);
}

async function loadSettings() {
  let cfg;
  try {
    cfg = await api("GET", "/api/admin/config");
  } catch (err) {
    handleBackgroundError(err, "Settings");
    return;
  }
  renderRecipients(cfg.notification_recipients || []);
  setGlobalTracking(Boolean(cfg.inventory_tracking_enabled));
  const smtp = cfg.smtp || {};
  const rows = smtp.configured
    ? [["Status", "Configured"], ["Host", smtp.host || "–"], ["Port", smtp.port ? String(smtp.port) : "–"], ["From", smtp.from || "–"]]
    : [["Status", "Not configured: mail is captured and shown under Captured mail"]];
  $("#smtp-status").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
}

$("#recipient-add").addEventListener("click", () => {
  const row = recipientRow("");
  $("#recipients-list").append(row);
  row.querySelector("input").focus();
});

onSubmit($("#recipients-form"), async (form) => {
  const rows = $$("#recipients-list li");
  for (const li of rows) {
    li.querySelector(".field-error").textContent = "";
    li.querySelector("input").removeAttribute("aria-invalid");
  }
  const sent = []; // index in the request → row
  for (const li of rows) {
    const v = li.querySelector("input").value.trim();
    if (v) sent.push({ li, v });
  }
  try {
    const cfg = await api("PUT", "/api/admin/config", { notification_recipients: sent.map((x) => x.v) });
    renderRecipients(cfg.notification_recipients || []);
    toast("Recipients saved");
  } catch (err) {
    showFormError(form, err);
    const box = form.querySelector("[data-form-error]");
    if (box && err.errors && err.errors.length) box.textContent = "Nothing was saved. " + message(err);
    // the API names each bad address: errors[].loc = [..., index], errors[].input
    for (const e of err.errors || []) {
      const loc = Array.isArray(e.loc) ? e.loc : [];
      const index = [...loc].reverse().find((x) => typeof x === "number");
      let target = index !== undefined ? sent[index] : undefined;
      if (!target && e.input !== undefined) target = sent.find((x) => x.v === e.input);
      if (!target) continue;
      target.li.querySelector("input").setAttribute("aria-invalid", "true");
      target.li.querySelector(".field-error").textContent = e.msg || "Not a valid email address";
    }
    const first = form.querySelector("input[aria-invalid]");
    if (first) first.focus();
    if (isAuthError(err)) authLost();
  }
});

$("#global-tracking").addEventListener("change", async (ev) => {
  const box = ev.target;
  const enabled = box.checked;
  $("#tracking-error").textContent = "";
  box.disabled = true;
  try {
    const cfg = await api("PUT", "/api/admin/config", { inventory_tracking_enabled: enabled });
    setGlobalTracking(Boolean(cfg.inventory_tracking_enabled));
    toast("Inventory tracking " + (enabled ? "enabled" : "disabled") + " for the whole shop");
  } catch (err) {
    box.checked = !enabled;
    $("#tracking-error").textContent = message(err);
    if (isAuthError(err)) authLost();
  } finally {
    box.disabled = false;
  }
});
