/* The notifications view: stats, the list (filters, paging), details with attempts, retry. */
import { api, $, el, when, ago, duration, message } from "./api.js";
import { store } from "./store.js";
import { onLive } from "./live.js";
import { currentView } from "./router.js";
import { handleBackgroundError, toast } from "./ui.js";

const state = {
  before: null, // paging: the next page starts before this id
  pages: 0, // pages shown; past the first, a refresh would throw away what the user paged to
  timer: null,
};

export const view = {
  name: "notifications",
  title: "notifications",
  enter() {
    refreshNotifications();
    // statuses move without an event (sending → sent, retrying → failed): poll them
    state.timer = setInterval(() => {
      if (state.pages <= 1) refreshNotifications(); else loadStats();
      if (notifDialog.open) refillNotification(Number(notifDialog.dataset.id));
    }, 5000);
  },
  leave() { clearInterval(state.timer); },
};

onLive("threshold-breach", () => { if (currentView() === "notifications") refreshNotifications(); });
onLive("threshold-cleared", () => { if (currentView() === "notifications") refreshNotifications(); });

const STATUSES = ["pending", "sending", "retrying", "sent", "failed"];

function statusBadge(status) {
  // suppressed: raised while the product was snoozed (logged, never sent)
  const kind = { sent: "ok", failed: "danger", retrying: "warn", sending: "info", pending: "info", suppressed: "muted" }[status] || "muted";
  return el("span", { class: "badge badge-" + kind, text: status || "?" });
}

function stat(label, value, kind) {
  return el("div", { class: "stat" + (kind ? " stat-" + kind : "") },
    el("span", { class: "stat-label", text: label }), el("span", { class: "stat-value", text: value }));
}

function fmt(value) {
  if (value === undefined || value === null) return "–";
  if (typeof value === "object") return Object.entries(value).map(([k, v]) => k + " " + v).join(", ");
  return String(value);
}

async function loadStats() {
  const box = $("#stats");
  let s;
  try {
    s = await api("GET", "/api/admin/notifications/stats");
  } catch (err) {
    handleBackgroundError(err, "Stats");
    return;
  }
  // the shape of GET /api/admin/notifications/stats (api/routes/notifications.py NotificationStatsOut)
  const cards = STATUSES.map((st) => stat(st, fmt(s.by_status[st] ?? 0),
    st === "failed" && s.by_status.failed > 0 ? "danger" : ""));
  const rate = s.success_rate;
  cards.push(stat("attempts", fmt(s.attempts)));
  cards.push(stat("retries", fmt(s.retries)));
  cards.push(stat("success rate", rate === null ? "–" : Math.round(rate * 1000) / 10 + " %"));
  const age = s.oldest_pending_age_seconds;
  cards.push(stat("oldest pending", age === null ? "–" : duration(age)));
  const leader = s.leader;
  let leaderText = "no instance holds the worker lock right now";
  if (leader) {
    leaderText = "instance " + leader.instance_id + " on " + leader.host + " (pid " + leader.pid + ")" +
      ", leading since " + when(leader.since);
  }
  cards.push(el("div", { class: "stat stat-wide" }, el("span", { class: "stat-label", text: "worker leader" }),
    el("span", { class: "stat-value stat-small", text: leaderText })));
  box.replaceChildren(...cards);
}

function productLabel(n) {
  // the breach payload names the product as it was; the catalogue, as it is now
  const p = store.products.get(n.product_id);
  const name = n.payload.name ?? (p && p.name);
  const sku = n.payload.sku ?? (p && p.sku);
  if (name) return name + (sku ? " (" + sku + ")" : "");
  return n.product_id ? "#" + n.product_id : "–";
}

function notificationRow(n) {
  const waiting = n.status === "pending" || n.status === "retrying";
  const actions = el("td", { class: "actions" },
    el("button", { type: "button", class: "btn btn-small", onclick: () => openNotification(n.id),
      "aria-label": "Details of notification " + n.id }, "Details"));
  if (n.status === "failed") {
    actions.append(el("button", { type: "button", class: "btn btn-small btn-primary", "data-retry": String(n.id),
      onclick: (ev) => retryNotification(n.id, ev.currentTarget) }, "Retry"));
  }
  return el("tr", { dataset: { notification: String(n.id), status: n.status } },
    el("td", { class: "num" }, String(n.id)),
    el("td", {}, n.type),
    el("td", {}, productLabel(n)),
    el("td", {}, statusBadge(n.status)),
    el("td", { class: "num" }, String(n.attempt_count)),
    el("td", { title: when(n.last_attempt_at) }, ago(n.last_attempt_at)),
    el("td", { title: when(n.next_attempt_at) }, waiting ? ago(n.next_attempt_at) : "–"),
    el("td", { class: "error-cell", title: n.error_details || "" }, n.error_details || ""),
    actions,
  );
}

async function loadNotifications(reset) {
  if (reset) state.before = null;
  const params = new URLSearchParams({ limit: "50" });
  const status = $("#notif-status").value;
  const type = $("#notif-type").value;
  if (status) params.set("status", status);
  if (type) params.set("type", type);
  if (!reset && state.before) params.set("before_id", state.before);
  let page;
  try {
    page = await api("GET", "/api/admin/notifications?" + params);
  } catch (err) {
    handleBackgroundError(err, "Notifications");
    return;
  }
  const rows = page.items.map(notificationRow);
  const body = $("#notifications-body");
  if (reset) body.replaceChildren(...rows); else body.append(...rows);
  state.pages = reset ? 1 : state.pages + 1;
  state.before = page.next_before_id;
  $("#notifications-more").hidden = !state.before;
  const empty = $("#notifications-empty");
  empty.hidden = body.children.length > 0;
  empty.textContent = status || type ? "No notifications match these filters." : "No notifications yet.";
}

async function refreshNotifications() {
  await Promise.all([loadStats(), loadNotifications(true)]);
}

$("#notifications-refresh").addEventListener("click", refreshNotifications);
$("#notifications-more").addEventListener("click", () => loadNotifications(false));
$("#notif-status").addEventListener("change", () => loadNotifications(true));
$("#notif-type").addEventListener("change", () => loadNotifications(true));

const notifDialog = $("#notification-dialog");

async function openNotification(id) {
  $("#nd-error").textContent = "";
  let n;
  try {
    n = await api("GET", "/api/admin/notifications/" + id);
  } catch (err) {
    handleBackgroundError(err, "Notification");
    return;
  }
  fillNotification(n);
  if (!notifDialog.open) notifDialog.showModal();
}

/** Repaint the open detail dialog, unless it was closed (or shows another) meanwhile. */
async function refillNotification(id) {
  if (!notifDialog.open || notifDialog.dataset.id !== String(id)) return;
  try {
    const n = await api("GET", "/api/admin/notifications/" + id);
    if (notifDialog.open && notifDialog.dataset.id === String(id)) fillNotification(n);
  } catch (err) {
    handleBackgroundError(err, "Notification");
  }
}

function fillNotification(n) {
  notifDialog.dataset.id = String(n.id);
  $("#nd-title").textContent = "Notification #" + n.id;
  $("#nd-sub").replaceChildren(statusBadge(n.status), " " + n.type + " · " + productLabel(n));
  const pl = n.payload;
  const fields = [
    ["Created", when(n.created_at)],
    ["Attempts", String(n.attempt_count ?? 0)],
    ["Last attempt", when(n.last_attempt_at)],
    ["Next attempt", n.status === "pending" || n.status === "retrying" ? when(n.next_attempt_at) : "–"],
    ["Stock at breach", pl.current_stock !== undefined ? String(pl.current_stock) : "–"],
    ["Threshold", n.threshold !== null ? String(n.threshold) : "–"],
    ["Message-ID", n.message_id],
    ["Error", n.error_details || "–"],
  ];
  $("#nd-fields").replaceChildren(...fields.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  const attempts = n.attempts;
  $("#nd-attempts").replaceChildren(...attempts.map((a) => el("tr", {},
    el("td", { class: "num" }, String(a.attempt_no)),
    el("td", {}, when(a.started_at)),
    el("td", {}, el("span", { class: "badge badge-" + (a.outcome === "sent" ? "ok" : a.outcome === "transient" ? "warn" : "danger"), text: a.outcome })),
    el("td", { class: "mono" }, a.channel),
    el("td", { class: "mono" }, [a.smtp_code, a.smtp_reply, a.http_status !== null ? "HTTP " + a.http_status : null].filter((x) => x !== null && x !== "").join(" ") || "–"),
    el("td", { class: "error-cell", title: a.error || "" }, a.error || ""),
    el("td", { class: "mono" }, a.instance_id || ""),
  )));
  $("#nd-no-attempts").hidden = attempts.length > 0;
  $("#nd-retry").hidden = n.status !== "failed";
}

async function retryNotification(id, button) {
  if (button) button.disabled = true;
  try {
    await api("POST", "/api/admin/notifications/" + id + "/retry");
    toast("Notification #" + id + " queued again");
    await Promise.all([refreshNotifications(), refillNotification(id)]);
  } catch (err) {
    if (notifDialog.open) $("#nd-error").textContent = message(err);
    handleBackgroundError(err, "Retry");
  } finally {
    if (button) button.disabled = false;
  }
}
$("#nd-retry").addEventListener("click", (ev) => retryNotification(Number(notifDialog.dataset.id), ev.currentTarget));
