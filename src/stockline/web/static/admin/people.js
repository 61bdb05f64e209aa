/* The people view: admins (add, disable, reset a password) and kiosks (add, revoke).
 * A new kiosk's token is shown once, with a pairing link and a QR code drawn here. */
import { api, $, el, when, onSubmit, localError } from "./api.js";
import { session } from "./session.js";
import { qrSvg } from "./qr.js";
import { closeDialog, confirmAction, handleBackgroundError, toast } from "./ui.js";

export const view = { name: "people", title: "people", enter() { loadPeople(); } };

const MIN_PASSWORD = 8;

function stateBadge(disabled, offText) {
  return el("span", { class: "badge " + (disabled ? "badge-muted" : "badge-ok"), text: disabled ? offText : "Active" });
}

async function loadPeople() {
  try {
    const [admins, kiosks] = await Promise.all([api("GET", "/api/admin/admins"), api("GET", "/api/admin/kiosks")]);
    renderAdmins(admins);
    renderKiosks(kiosks);
  } catch (err) {
    handleBackgroundError(err, "People");
  }
}

// ------------------------------------------------------------ admins
function renderAdmins(admins) {
  const me = session.me || {};
  $("#admins-body").replaceChildren(...admins.map((a) => {
    const self = a.email === me.name || a.id === me.id;
    const actions = el("td", { class: "actions" },
      el("button", { type: "button", class: "btn btn-small", "aria-label": "Reset password of " + a.email,
        onclick: () => openReset(a) }, "Reset password"));
    if (!self) {
      actions.append(el("button", { type: "button", class: "btn btn-small",
        "aria-label": (a.disabled ? "Enable " : "Disable ") + a.email,
        onclick: (ev) => setAdminDisabled(a, !a.disabled, ev.currentTarget) }, a.disabled ? "Enable" : "Disable"));
    }
    return el("tr", { dataset: { admin: String(a.id) }, class: a.disabled ? "inactive" : "" },
      el("td", {}, a.email, self ? el("span", { class: "hint inline", text: " (you)" }) : null),
      el("td", { title: when(a.created_at) }, when(a.created_at)),
      el("td", { "data-col": "state" }, stateBadge(a.disabled, "Disabled")),
      actions);
  }));
}

async function setAdminDisabled(a, disabled, button) {
  if (disabled && !(await confirmAction("Disable " + a.email + "? Their sessions end at once.", "Disable"))) return;
  button.disabled = true;
  try {
    await api("PATCH", "/api/admin/admins/" + a.id, { disabled });
    toast((disabled ? "Disabled " : "Enabled ") + a.email);
    await loadPeople();
  } catch (err) {
    handleBackgroundError(err, "Admin");
  } finally {
    button.disabled = false;
  }
}

onSubmit($("#admin-form"), async (form) => {
  const email = form.elements.email.value.trim();
  const password = form.elements.password.value;
  if (!email) throw localError("Enter the new admin's email address.", "email");
  if (password.length < MIN_PASSWORD) throw localError("The password needs at least " + MIN_PASSWORD + " characters.", "password");
  const made = await api("POST", "/api/admin/admins", { email, password });
  form.reset();
  toast("Added admin " + made.email);
  await loadPeople();
});

const resetDialog = $("#reset-dialog");
function openReset(a) {
  const form = $("#reset-form");
  form.reset();
  form.querySelector("[data-form-error]").textContent = "";
  form.dataset.id = String(a.id);
  $("#reset-who").textContent = a.email;
  resetDialog.showModal();
  $("#reset-password").focus();
}

onSubmit($("#reset-form"), async (form) => {
  const password = form.elements.password.value;
  if (password.length < MIN_PASSWORD) throw localError("The password needs at least " + MIN_PASSWORD + " characters.", "password");
  await api("PATCH", "/api/admin/admins/" + form.dataset.id, { password });
  closeDialog(resetDialog);
  toast("Password reset for " + $("#reset-who").textContent + "; their sessions have ended");
});

// ------------------------------------------------------------ kiosks
function renderKiosks(kiosks) {
  $("#kiosks-body").replaceChildren(...kiosks.map((k) => el("tr", { dataset: { kiosk: String(k.id) }, class: k.disabled ? "inactive" : "" },
    el("td", { class: "name" }, k.name),
    el("td", { title: when(k.created_at) }, when(k.created_at)),
    el("td", { "data-col": "state" }, stateBadge(k.disabled, "Revoked")),
    el("td", { class: "actions" }, k.disabled ? null : el("button", { type: "button", class: "btn btn-small btn-danger",
      "aria-label": "Revoke " + k.name, onclick: (ev) => revokeKiosk(k, ev.currentTarget) }, "Revoke")))));
  $("#kiosks-empty").hidden = kiosks.length > 0;
}

async function revokeKiosk(k, button) {
  if (!(await confirmAction("Revoke kiosk " + k.name + "? Its token stops working at once; pairing again needs a new kiosk.", "Revoke"))) return;
  button.disabled = true;
  try {
    await api("PATCH", "/api/admin/kiosks/" + k.id, { disabled: true });
    toast("Revoked kiosk " + k.name);
    await loadPeople();
  } catch (err) {
    button.disabled = false;
    handleBackgroundError(err, "Kiosk");
  }
}

onSubmit($("#kiosk-form"), async (form) => {
  const name = form.elements.name.value.trim();
  if (!name) throw localError("Name the kiosk, e.g. “Front door”.", "name");
  const made = await api("POST", "/api/admin/kiosks", { name });
  form.reset();
  showToken(made);
  await loadPeople();
});

/** The only time the token is seen: as text, as a pairing link and as a QR code of the link. */
const tokenDialog = $("#token-dialog");
function showToken(kiosk) {
  const link = location.origin + "/kiosk#pair=" + encodeURIComponent(kiosk.token);
  $("#token-name").textContent = kiosk.name;
  $("#token-value").value = kiosk.token;
  const a = $("#token-link");
  a.href = link;
  a.textContent = link;
  $("#token-qr").replaceChildren(qrSvg(link, "QR code of the pairing link for " + kiosk.name));
  tokenDialog.showModal();
  $("#token-value").select();
}
// nothing of the token stays in the page once the dialog is closed
tokenDialog.addEventListener("close", () => {
  $("#token-value").value = "";
  $("#token-link").removeAttribute("href");
  $("#token-link").textContent = "";
  $("#token-qr").replaceChildren();
});

$("#token-copy").addEventListener("click", async () => {
  const value = $("#token-value").value;
  try {
    await navigator.clipboard.writeText(value);
    toast("Token copied");
  } catch (err) {
    $("#token-value").select(); // no clipboard access (plain http): selected for Ctrl+C
  }
});
