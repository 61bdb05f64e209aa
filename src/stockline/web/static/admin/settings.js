/* The settings view: notification recipients, shop-wide tracking, the digest, webhooks
 * (secrets are write-only: never shown, an empty secret keeps the stored one), SMTP status. */
import { api, $, $$, el, uuid, when, onSubmit, showFormError, message } from "./api.js";
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
  renderDigest(cfg.notification_digest);
  renderWebhooks(cfg.notification_webhooks || []);
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

// ------------------------------------------------------------ digest (SPEC §7.4)

function renderDigest(d) {
  d = d || { enabled: false, times: ["08:00"], timezone: "UTC", next_at: null };
  const f = $("#digest-form").elements;
  f.enabled.checked = Boolean(d.enabled);
  f.times.value = (d.times || []).join(", ");
  f.timezone.value = d.timezone || "UTC";
  $("#digest-next").textContent = d.enabled && d.next_at
    ? "Next digest: " + when(d.next_at)
    : "Off: every alert is mailed at once.";
}

onSubmit($("#digest-form"), async (form) => {
  const f = form.elements;
  const times = f.times.value.split(",").map((t) => t.trim()).filter(Boolean);
  const body = { enabled: f.enabled.checked, times, timezone: f.timezone.value.trim() || "UTC" };
  const cfg = await api("PUT", "/api/admin/config", { notification_digest: body });
  renderDigest(cfg.notification_digest);
  toast(body.enabled ? "Digest saved" : "Digest off: alerts are mailed at once");
});

// ------------------------------------------------------------ webhooks (SPEC §7.4)

function webhookRow(hook) {
  const id = "webhook-" + uuid().slice(0, 8);
  const url = el("input", { type: "url", id: id + "-url", name: "url", value: hook ? hook.url : "",
    "aria-label": "Webhook URL", autocomplete: "off", placeholder: "https://hooks.example.com/…" });
  // never filled in: the API does not return secrets; empty keeps the stored one
  const secret = el("input", { type: "password", id: id + "-secret", name: "secret", value: "",
    "aria-label": "Webhook secret", autocomplete: "new-password",
    placeholder: hook && hook.has_secret ? "stored (leave empty to keep)" : "secret for the signature" });
  const li = el("li", { class: "recipient", dataset: { webhook: hook ? hook.channel : "" } },
    el("div", { class: "row gap" }, url, secret,
      el("button", { type: "button", class: "btn btn-ghost", "aria-label": "Remove webhook",
        onclick: () => li.remove() }, "Remove")),
    el("p", { class: "field-error" }));
  return li;
}

function renderWebhooks(list) {
  $("#webhooks-list").replaceChildren(...list.map(webhookRow));
}

$("#webhook-add").addEventListener("click", () => {
  const row = webhookRow(null);
  $("#webhooks-list").append(row);
  row.querySelector("input").focus();
});

onSubmit($("#webhooks-form"), async (form) => {
  const rows = $$("#webhooks-list li");
  for (const li of rows) li.querySelector(".field-error").textContent = "";
  const sent = [];
  for (const li of rows) {
    const url = li.querySelector('input[name="url"]').value.trim();
    const secret = li.querySelector('input[name="secret"]').value;
    if (url) sent.push({ li, hook: secret ? { url, secret } : { url } });
  }
  try {
    const cfg = await api("PUT", "/api/admin/config", { notification_webhooks: sent.map((x) => x.hook) });
    renderWebhooks(cfg.notification_webhooks || []);
    toast("Webhooks saved");
  } catch (err) {
    for (const e of err.errors || []) {
      const loc = Array.isArray(e.loc) ? e.loc : [];
      const i = loc.find((x) => typeof x === "number");
      if (i !== undefined && sent[i]) sent[i].li.querySelector(".field-error").textContent = e.msg || "";
    }
    throw err;
  }
});
