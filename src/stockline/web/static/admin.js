/* stockline admin portal: products with live stock, stock forms, notifications, mail, settings. */
"use strict";

(function () {
  const { api, el, $, $$, money, parseMoney, centsToInput, when, ago, duration, signed } = SL;

  const state = {
    me: null,
    products: new Map(), // id → product with its snapshot fields flattened
    rows: new Map(), // id → <tr>
    globalTracking: true,
    filter: "all",
    search: "",
    live: null,
    openId: null, // product shown in the dialog
    ledgerBefore: null,
    notifBefore: null,
    mailBefore: null,
    view: "products",
    notifTimer: null,
  };

  // ------------------------------------------------------------ small helpers
  function toast(text, kind) {
    const box = $("#toasts");
    const node = el("div", { class: "toast toast-" + (kind || "ok"), text });
    box.append(node);
    setTimeout(() => node.classList.add("leaving"), 3500);
    setTimeout(() => node.remove(), 4000);
  }

  function isAuthError(err) { return err && (err.status === 401); }

  function handleBackgroundError(err, where) {
    if (isAuthError(err)) { authLost(); return; }
    toast((where ? where + ": " : "") + SL.message(err), "error");
  }

  function intOrNull(value) {
    const t = String(value).trim();
    if (t === "") return null;
    const n = Number(t);
    return Number.isInteger(n) ? n : NaN;
  }

  function closeDialog(dialog) { if (dialog.open) dialog.close(); }

  // ------------------------------------------------------------ login / logout
  function showLogin(note) {
    if (state.live) { state.live.stop(); state.live = null; }
    clearInterval(state.notifTimer);
    for (const d of $$("dialog")) closeDialog(d);
    $("#app").hidden = true;
    $("#login-view").hidden = false;
    const form = $("#login-form");
    SL.clearFormError(form);
    if (note) form.querySelector("[data-form-error]").textContent = note;
    $("#login-email").focus();
  }

  function authLost() { showLogin("Your session has ended. Please sign in again."); }

  SL.onSubmit($("#login-form"), async (form) => {
    const email = form.elements.email.value.trim();
    const password = form.elements.password.value;
    if (!email || !password) throw SL.localError("Enter your email and password.", email ? "password" : "email");
    await api("POST", "/api/auth/login", { email, password });
    form.elements.password.value = "";
    await enterApp();
  });

  $("#logout").addEventListener("click", async () => {
    try { await api("POST", "/api/auth/logout"); } catch (err) { /* signed out anyway */ }
    state.me = null;
    showLogin("");
  });

  async function enterApp() {
    const me = await api("GET", "/api/auth/me");
    if (me.kind !== "admin") {
      showLogin("This browser is paired as a kiosk. Sign in with an admin account.");
      return;
    }
    state.me = me;
    $("#whoami").textContent = me.name || "";
    $("#login-view").hidden = true;
    $("#app").hidden = false;
    await Promise.all([loadProducts(), loadGlobalTracking()]);
    startLive();
    route();
  }

  // ------------------------------------------------------------ live stock
  function startLive() {
    if (state.live) state.live.stop();
    state.live = new SL.LiveStock({
      onSnapshot: (list) => { for (const s of list) applyStock(s, true); },
      onEvent: onLiveEvent,
      onStatus: (s, previous) => {
        SL.showLiveState(s);
        if (s === "offline") SL.banner("You are offline. Stock shown may be out of date.", "warn");
        else if (s === "reconnecting") SL.banner("Connection to the server lost. Reconnecting…", "warn");
        else if ((s === "live" || s === "polling") && (previous === "reconnecting" || previous === "offline")) {
          SL.banner("Reconnected. Stock is up to date.", "ok", 3000);
        }
      },
      onResync: () => { loadProducts().catch(() => {}); },
      onAuthLost: authLost,
    });
    state.live.start();
  }

  function onLiveEvent(type, data) {
    if (type === "stock-updated") {
      applyStock(data, true);
      if (state.openId === data.product_id) reloadLedgerSoon();
    } else if (type === "tracking-toggled") {
      if (data.scope === "global") {
        setGlobalTracking(Boolean(data.enabled));
      } else if (data.product_id !== undefined) {
        applyStock({ product_id: data.product_id, tracking_enabled: Boolean(data.enabled) }, true);
      }
    } else if (type === "threshold-breach" || type === "threshold-cleared") {
      const low = type === "threshold-breach";
      applyStock({ product_id: data.product_id, current_stock: data.current_stock, low_stock_flag: low,
        low_stock_threshold: data.threshold }, true);
      const p = state.products.get(data.product_id);
      if (low && p) toast("Low stock: " + p.name + " (" + data.current_stock + " left)", "warn");
      if (state.view === "notifications") refreshNotifications();
    }
  }

  // ------------------------------------------------------------ products
  const STOCK_FIELDS = ["current_stock", "low_stock_flag", "negative_flag", "tracking_enabled", "last_activity_at"];

  function fromProduct(p) {
    const s = p.snapshot || {};
    return {
      id: p.id, sku: p.sku, name: p.name, price_cents: p.price_cents,
      low_stock_threshold: p.low_stock_threshold, active: p.active,
      current_stock: s.current_stock ?? p.stock_quantity, low_stock_flag: Boolean(s.low_stock_flag),
      negative_flag: Boolean(s.negative_flag), tracking_enabled: s.tracking_enabled !== false,
      last_activity_at: s.last_activity_at || null,
    };
  }

  async function loadProducts() {
    const list = await api("GET", "/api/products");
    const seen = new Set();
    for (const raw of list) {
      const p = fromProduct(raw);
      seen.add(p.id);
      state.products.set(p.id, p);
    }
    for (const id of [...state.products.keys()]) if (!seen.has(id)) state.products.delete(id);
    renderProducts();
  }

  async function loadGlobalTracking() {
    try {
      const cfg = await api("GET", "/api/admin/config");
      setGlobalTracking(Boolean(cfg.inventory_tracking_enabled));
    } catch (err) {
      if (isAuthError(err)) throw err;
    }
  }

  function setGlobalTracking(on) {
    state.globalTracking = on;
    $("#tracking-off-banner").hidden = on;
    const box = $("#global-tracking");
    if (box) box.checked = on;
    renderProducts();
  }

  /** Merge a snapshot (event, poll or API answer) into a product and repaint its row. */
  function applyStock(s, flash) {
    const id = s.product_id ?? s.id;
    const p = state.products.get(id);
    if (!p) {
      if (id !== undefined) loadProducts().catch(() => {});
      return;
    }
    let changed = false;
    let moved = false; // stock, flags or tracking: worth a highlight (a timestamp alone is not)
    for (const key of [...STOCK_FIELDS, "low_stock_threshold", "name", "sku"]) {
      if (s[key] !== undefined && s[key] !== p[key]) {
        p[key] = s[key];
        changed = true;
        if (key !== "last_activity_at" && key !== "name" && key !== "sku") moved = true;
      }
    }
    if (s.current_stock !== undefined) p.negative_flag = s.current_stock < 0;
    if (!changed) return;
    updateRow(p, flash && moved);
    updateCounts();
    if (state.openId === id) fillDialogSummary(p);
  }

  function matches(p) {
    if (state.filter === "low" && !p.low_stock_flag) return false;
    if (state.filter === "negative" && !p.negative_flag) return false;
    if (state.filter === "untracked" && p.tracking_enabled) return false;
    if (state.search) {
      const q = state.search.toLowerCase();
      if (!p.name.toLowerCase().includes(q) && !p.sku.toLowerCase().includes(q)) return false;
    }
    return true;
  }

  function statusBadges(p) {
    const out = [];
    if (p.negative_flag) out.push(el("span", { class: "badge badge-danger", text: "Negative" }));
    if (p.low_stock_flag) out.push(el("span", { class: "badge badge-warn", text: "Low stock" }));
    if (!p.active) out.push(el("span", { class: "badge badge-muted", text: "Inactive" }));
    if (!out.length) out.push(el("span", { class: "badge badge-ok", text: "In stock" }));
    return out;
  }

  function trackingSwitch(p, id) {
    const input = el("input", {
      type: "checkbox", class: "switch", role: "switch", id,
      "aria-label": "Track stock of " + p.name,
    });
    input.checked = p.tracking_enabled;
    input.addEventListener("change", () => setTracking(p.id, input.checked, input));
    return input;
  }

  function buildRow(p) {
    const stockClass = "num stock" + (p.negative_flag ? " neg" : p.low_stock_flag ? " low" : "");
    const tracking = el("td", { class: "tracking-cell" }, trackingSwitch(p, "track-" + p.id));
    if (p.tracking_enabled && !state.globalTracking) {
      tracking.append(el("span", { class: "hint", text: "paused (shop-wide off)" }));
    }
    const tr = el("tr", { dataset: { id: String(p.id) }, class: p.active ? "" : "inactive" },
      el("td", {}, el("code", { text: p.sku })),
      el("td", { class: "name" }, p.name),
      el("td", { class: "num" }, money(p.price_cents)),
      el("td", { class: stockClass, "data-col": "stock" }, String(p.current_stock)),
      el("td", { class: "num" }, p.low_stock_threshold === null ? "—" : String(p.low_stock_threshold)),
      el("td", { "data-col": "status" }, el("div", { class: "badges" }, statusBadges(p))),
      tracking,
      el("td", { class: "muted", title: when(p.last_activity_at), "data-col": "activity",
        "data-at": p.last_activity_at || "" }, ago(p.last_activity_at)),
      el("td", { class: "actions" },
        el("button", { type: "button", class: "btn btn-small", "aria-label": "Manage " + p.name,
          onclick: () => openProduct(p.id) }, "Manage")),
    );
    return tr;
  }

  function renderProducts() {
    const body = $("#products-body");
    if (!body) return;
    const list = [...state.products.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
    state.rows.clear();
    const rows = [];
    for (const p of list) {
      if (!matches(p)) continue;
      const tr = buildRow(p);
      state.rows.set(p.id, tr);
      rows.push(tr);
    }
    body.replaceChildren(...rows);
    $("#products-empty").hidden = rows.length > 0;
    updateCounts();
  }

  function updateRow(p, flash) {
    const old = state.rows.get(p.id);
    if (!matches(p)) {
      if (old) { old.remove(); state.rows.delete(p.id); }
      $("#products-empty").hidden = state.rows.size > 0;
      return;
    }
    if (!old) { renderProducts(); return; }
    const focused = old.contains(document.activeElement) ? document.activeElement.id : null;
    const tr = buildRow(p);
    old.replaceWith(tr);
    state.rows.set(p.id, tr);
    if (focused) { const again = document.getElementById(focused); if (again) again.focus(); }
    if (flash) {
      tr.classList.add("flash");
      setTimeout(() => tr.classList.remove("flash"), 2200);
    }
  }

  function updateCounts() {
    let low = 0, negative = 0;
    for (const p of state.products.values()) { if (p.low_stock_flag) low++; if (p.negative_flag) negative++; }
    $("[data-count=low]").textContent = low ? String(low) : "";
    $("[data-count=negative]").textContent = negative ? String(negative) : "";
    const n = state.products.size;
    $("#products-summary").textContent = n + " product" + (n === 1 ? "" : "s") +
      (low ? " · " + low + " low" : "") + (negative ? " · " + negative + " negative" : "");
  }

  // "12 s ago" keeps counting while nothing happens
  setInterval(() => {
    for (const td of $$('#products-body td[data-col="activity"]')) {
      if (td.dataset.at) td.textContent = ago(td.dataset.at);
    }
  }, 15000);

  for (const seg of $$("[data-filter]")) {
    seg.addEventListener("click", () => {
      state.filter = seg.dataset.filter;
      for (const s of $$("[data-filter]")) s.setAttribute("aria-pressed", String(s === seg));
      renderProducts();
    });
  }
  $("#product-search").addEventListener("input", (ev) => { state.search = ev.target.value.trim(); renderProducts(); });

  async function setTracking(id, enabled, input) {
    try {
      const snap = await api("PUT", "/api/inventory/" + id + "/tracking", { enabled });
      applyStock(snap, true);
      const p = state.products.get(id);
      toast("Tracking " + (enabled ? "on" : "off") + " for " + (p ? p.name : "#" + id));
    } catch (err) {
      if (input) input.checked = !enabled;
      handleBackgroundError(err, "Tracking");
    }
  }

  // ------------------------------------------------------------ create product
  const createDialog = $("#create-dialog");
  $("#new-product").addEventListener("click", () => {
    const form = $("#create-form");
    form.reset();
    SL.clearFormError(form);
    createDialog.showModal();
    $("#create-sku").focus();
  });

  SL.onSubmit($("#create-form"), async (form) => {
    const f = form.elements;
    const price = parseMoney(f.price_cents.value);
    if (price === null) throw SL.localError("Enter a price such as 2.50.", "price_cents");
    const threshold = intOrNull(f.low_stock_threshold.value);
    if (Number.isNaN(threshold) || (threshold !== null && threshold < 0)) {
      throw SL.localError("The threshold is a whole number of at least 0 (or empty for no alerts).", "low_stock_threshold");
    }
    const stock = intOrNull(f.initial_stock.value) ?? 0;
    if (Number.isNaN(stock) || stock < 0) throw SL.localError("Initial stock is a whole number of at least 0.", "initial_stock");
    const created = await api("POST", "/api/products", {
      sku: f.sku.value.trim(), name: f.name.value.trim(), price_cents: price,
      low_stock_threshold: threshold, initial_stock: stock,
    });
    const p = fromProduct(created);
    state.products.set(p.id, p);
    renderProducts();
    closeDialog(createDialog);
    const row = state.rows.get(p.id);
    if (row) { row.classList.add("flash"); row.scrollIntoView({ block: "nearest" }); }
    toast("Created " + p.name);
  });

  // ------------------------------------------------------------ product dialog
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
  }

  function fillEditForm(p) {
    const f = $("#edit-form").elements;
    f.name.value = p.name;
    f.price_cents.value = centsToInput(p.price_cents);
    f.low_stock_threshold.value = p.low_stock_threshold === null ? "" : String(p.low_stock_threshold);
    f.active.checked = p.active;
  }

  function openProduct(id) {
    const p = state.products.get(id);
    if (!p) return;
    state.openId = id;
    for (const form of [$("#adjust-form"), $("#reconcile-form"), $("#edit-form")]) {
      form.reset();
      SL.clearFormError(form);
    }
    fillDialogSummary(p);
    fillEditForm(p);
    $("#pd-csv").href = "/api/inventory/ledger.csv?product_id=" + id;
    $("#pd-csv").setAttribute("download", "ledger-" + p.sku + ".csv");
    productDialog.showModal();
    $("#adjust-delta").focus();
    loadLedger(true);
  }

  productDialog.addEventListener("close", () => { state.openId = null; });
  for (const dialog of $$("dialog")) {
    for (const btn of $$("[data-close]", dialog)) btn.addEventListener("click", () => closeDialog(dialog));
    // a click on the backdrop closes too
    dialog.addEventListener("click", (ev) => { if (ev.target === dialog) closeDialog(dialog); });
  }

  $("#pd-tracking").addEventListener("change", (ev) => {
    if (state.openId !== null) setTracking(state.openId, ev.target.checked, ev.target);
  });

  const SOURCES = {
    purchase: "Purchase", manual_adjustment: "Adjustment", reconciliation: "Reconciliation", system: "Initial stock",
  };

  async function loadLedger(reset) {
    const id = state.openId;
    if (id === null) return;
    if (reset) state.ledgerBefore = null;
    let url = "/api/inventory/" + id + "/ledger?limit=20";
    if (!reset && state.ledgerBefore) url += "&before_id=" + state.ledgerBefore;
    try {
      const page = await api("GET", url);
      if (state.openId !== id) return;
      const rows = (page.items || []).map((e) => el("tr", { dataset: { entry: String(e.id) } },
        el("td", { title: when(e.created_at) }, when(e.created_at)),
        el("td", { class: "num delta " + (e.delta > 0 ? "pos" : "neg") }, signed(e.delta)),
        el("td", {}, SOURCES[e.source] || e.source),
        el("td", { class: "reason" }, e.reason || (e.transaction_id ? "Sale #" + e.transaction_id : "")),
      ));
      const body = $("#ledger-body");
      if (reset) body.replaceChildren(...rows); else body.append(...rows);
      state.ledgerBefore = page.next_before_id || null;
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
    ledgerTimer = setTimeout(() => loadLedger(true), 150);
  }

  SL.onSubmit($("#adjust-form"), async (form) => {
    const id = state.openId;
    const delta = intOrNull(form.elements.delta.value);
    if (delta === null || Number.isNaN(delta) || delta === 0) {
      throw SL.localError("Enter a whole number other than 0, e.g. 12 for a delivery or -3 for a write-off.", "delta");
    }
    const reason = form.elements.reason.value.trim();
    if (!reason) throw SL.localError("Give a reason for the adjustment.", "reason");
    const out = await api("POST", "/api/inventory/" + id + "/adjustments", { delta, reason });
    applyStock(out.snapshot, true);
    form.reset();
    await loadLedger(true);
    toast("Stock adjusted by " + signed(delta));
  });

  SL.onSubmit($("#reconcile-form"), async (form) => {
    const id = state.openId;
    const counted = intOrNull(form.elements.counted_quantity.value);
    if (counted === null || Number.isNaN(counted) || counted < 0) {
      throw SL.localError("Enter the counted quantity (a whole number, 0 or more).", "counted_quantity");
    }
    const reason = form.elements.reason.value.trim();
    if (!reason) throw SL.localError("Give a reason for the count.", "reason");
    const out = await api("POST", "/api/inventory/" + id + "/reconciliations", { counted_quantity: counted, reason });
    applyStock(out.snapshot, true);
    form.reset();
    await loadLedger(true);
    toast(out.entry ? "Count recorded: " + signed(out.entry.delta) + " booked" : "Count matches the stock; nothing booked");
  });

  SL.onSubmit($("#edit-form"), async (form) => {
    const id = state.openId;
    const f = form.elements;
    const price = parseMoney(f.price_cents.value);
    if (price === null) throw SL.localError("Enter a price such as 2.50.", "price_cents");
    const threshold = intOrNull(f.low_stock_threshold.value);
    if (Number.isNaN(threshold) || (threshold !== null && threshold < 0)) {
      throw SL.localError("The threshold is a whole number of at least 0 (or empty for no alerts).", "low_stock_threshold");
    }
    const updated = await api("PATCH", "/api/products/" + id, {
      name: f.name.value.trim(), price_cents: price, low_stock_threshold: threshold, active: f.active.checked,
    });
    const p = fromProduct(updated);
    state.products.set(p.id, p);
    updateRow(p, true);
    updateCounts();
    fillDialogSummary(p);
    toast("Saved " + p.name);
  });

  // ------------------------------------------------------------ notifications
  const STATUSES = ["pending", "sending", "retrying", "sent", "failed"];

  function statusBadge(status) {
    const kind = { sent: "ok", failed: "danger", retrying: "warn", sending: "info", pending: "info" }[status] || "muted";
    return el("span", { class: "badge badge-" + kind, text: status || "?" });
  }

  function stat(label, value, kind) {
    return el("div", { class: "stat" + (kind ? " stat-" + kind : "") },
      el("span", { class: "stat-label", text: label }), el("span", { class: "stat-value", text: value }));
  }

  function pickNumber(obj, ...keys) {
    for (const k of keys) if (obj && obj[k] !== undefined && obj[k] !== null) return obj[k];
    return undefined;
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
      if (err.status === 404) { box.replaceChildren(); return false; }
      handleBackgroundError(err, "Stats");
      return true;
    }
    const counts = s.by_status || s.counts || s.status_counts || s.statuses || {};
    const cards = STATUSES.map((st) => stat(st, fmt(pickNumber(counts, st) ?? pickNumber(s, st) ?? 0),
      st === "failed" && (pickNumber(counts, st) || 0) > 0 ? "danger" : ""));
    const rate = pickNumber(s, "success_rate");
    let rateText = "–";
    if (typeof rate === "number") rateText = (rate <= 1 ? Math.round(rate * 1000) / 10 : rate) + " %";
    cards.push(stat("attempts", fmt(pickNumber(s, "attempts", "total_attempts", "attempt_count"))));
    cards.push(stat("retries", fmt(pickNumber(s, "retries", "retry_count"))));
    cards.push(stat("success rate", rateText));
    const age = pickNumber(s, "oldest_pending_age_seconds", "oldest_pending_age", "oldest_pending_seconds");
    cards.push(stat("oldest pending", typeof age === "number" ? duration(age) : fmt(age)));
    const leader = s.leader || s.worker_leader || null;
    let leaderText = "no instance holds the worker lock right now";
    if (leader && typeof leader === "object") {
      leaderText = "instance " + (leader.instance_id || "?") + (leader.host ? " on " + leader.host : "") +
        (leader.pid ? " (pid " + leader.pid + ")" : "") + (leader.since ? ", leading since " + when(leader.since) : "");
    } else if (leader) leaderText = String(leader);
    cards.push(el("div", { class: "stat stat-wide" }, el("span", { class: "stat-label", text: "worker leader" }),
      el("span", { class: "stat-value stat-small", text: leaderText })));
    box.replaceChildren(...cards);
    return true;
  }

  function productLabel(n) {
    const pl = n.payload || {};
    const p = state.products.get(n.product_id ?? pl.product_id);
    if (pl.name || p) return (pl.name || p.name) + (pl.sku || (p && p.sku) ? " (" + (pl.sku || p.sku) + ")" : "");
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
      el("td", { class: "num" }, String(n.attempt_count ?? n.attempts ?? 0)),
      el("td", { title: when(n.last_attempt_at) }, ago(n.last_attempt_at)),
      el("td", { title: when(n.next_attempt_at) }, waiting ? ago(n.next_attempt_at) : "–"),
      el("td", { class: "error-cell", title: n.error_details || "" }, n.error_details || ""),
      actions,
    );
  }

  async function loadNotifications(reset) {
    if (reset) state.notifBefore = null;
    const params = new URLSearchParams({ limit: "50" });
    const status = $("#notif-status").value;
    const type = $("#notif-type").value;
    if (status) params.set("status", status);
    if (type) params.set("type", type);
    if (!reset && state.notifBefore) params.set("before_id", state.notifBefore);
    let page;
    try {
      page = await api("GET", "/api/admin/notifications?" + params);
    } catch (err) {
      if (err.status === 404) return false;
      handleBackgroundError(err, "Notifications");
      return true;
    }
    const items = Array.isArray(page) ? page : page.items || [];
    const rows = items.map(notificationRow);
    const body = $("#notifications-body");
    if (reset) body.replaceChildren(...rows); else body.append(...rows);
    state.notifBefore = (page && page.next_before_id) || null;
    $("#notifications-more").hidden = !state.notifBefore;
    $("#notifications-empty").hidden = body.children.length > 0;
    return true;
  }

  async function refreshNotifications() {
    const [a, b] = await Promise.all([loadStats(), loadNotifications(true)]);
    const available = a || b;
    $("#notifications-unavailable").hidden = available;
    $("#notifications-table").closest(".table-wrap").hidden = !available;
    if (!available) $("#notifications-empty").hidden = true;
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
    const pl = n.payload || {};
    const fields = [
      ["Created", when(n.created_at)],
      ["Attempts", String(n.attempt_count ?? 0)],
      ["Last attempt", when(n.last_attempt_at)],
      ["Next attempt", n.status === "pending" || n.status === "retrying" ? when(n.next_attempt_at) : "–"],
      ["Stock at breach", pl.current_stock !== undefined ? String(pl.current_stock) : "–"],
      ["Threshold", pl.threshold !== undefined ? String(pl.threshold) : n.threshold !== undefined ? String(n.threshold) : "–"],
      ["Message-ID", n.message_id || "–"],
      ["Error", n.error_details || "–"],
    ];
    $("#nd-fields").replaceChildren(...fields.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
    const attempts = n.attempts || [];
    $("#nd-attempts").replaceChildren(...attempts.map((a) => el("tr", {},
      el("td", { class: "num" }, String(a.attempt_no ?? a.attempt ?? "")),
      el("td", {}, when(a.started_at || a.finished_at || a.created_at)),
      el("td", {}, el("span", { class: "badge badge-" + (a.outcome === "sent" ? "ok" : a.outcome === "transient" ? "warn" : "danger"), text: a.outcome || "?" })),
      el("td", { class: "mono" }, [a.smtp_code, a.smtp_reply].filter((x) => x !== null && x !== undefined && x !== "").join(" ") || "–"),
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
      if (notifDialog.open) $("#nd-error").textContent = SL.message(err);
      handleBackgroundError(err, "Retry");
    } finally {
      if (button) button.disabled = false;
    }
  }
  $("#nd-retry").addEventListener("click", (ev) => retryNotification(Number(notifDialog.dataset.id), ev.currentTarget));

  // ------------------------------------------------------------ captured mail
  async function loadMail(reset) {
    if (reset) state.mailBefore = null;
    const params = new URLSearchParams({ limit: "20" });
    if (!reset && state.mailBefore) params.set("before_id", state.mailBefore);
    let page;
    try {
      page = await api("GET", "/api/admin/mail?" + params);
    } catch (err) {
      if (err.status === 404) {
        $("#mail-unavailable").hidden = false;
        $("#mail-list").replaceChildren();
        $("#mail-empty").hidden = true;
        return;
      }
      handleBackgroundError(err, "Mail");
      return;
    }
    $("#mail-unavailable").hidden = true;
    const items = Array.isArray(page) ? page : page.items || [];
    const list = $("#mail-list");
    const cards = items.map((m, i) => {
      const to = Array.isArray(m.recipients) ? m.recipients.join(", ") : m.recipients || m.to || "";
      const d = el("details", { class: "card mail", dataset: { mail: String(m.id) } },
        el("summary", {},
          el("span", { class: "mail-subject", text: m.subject || "(no subject)" }),
          el("span", { class: "mail-meta", text: "to " + to + " · " + when(m.created_at) })),
        el("dl", { class: "dl dl-grid mail-head" },
          el("dt", { text: "To" }), el("dd", { text: to }),
          el("dt", { text: "Message-ID" }), el("dd", { class: "mono", text: m.message_id || "–" }),
          el("dt", { text: "Notification" }), el("dd", { text: m.notification_id ? "#" + m.notification_id : "–" })),
        el("pre", { class: "mail-body", text: m.body_text || m.body || "" }));
      if (reset && i === 0) d.open = true;
      return d;
    });
    if (reset) list.replaceChildren(...cards); else list.append(...cards);
    state.mailBefore = (page && page.next_before_id) || null;
    $("#mail-more").hidden = !state.mailBefore;
    $("#mail-empty").hidden = list.children.length > 0;
  }
  $("#mail-refresh").addEventListener("click", () => loadMail(true));
  $("#mail-more").addEventListener("click", () => loadMail(false));

  // ------------------------------------------------------------ settings
  function recipientRow(value) {
    const id = "recipient-" + SL.uuid().slice(0, 8);
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

  SL.onSubmit($("#recipients-form"), async (form) => {
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
      SL.showFormError(form, err);
      const box = form.querySelector("[data-form-error]");
      if (box && err.errors && err.errors.length) box.textContent = "Nothing was saved. " + SL.message(err);
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
      $("#tracking-error").textContent = SL.message(err);
      if (isAuthError(err)) authLost();
    } finally {
      box.disabled = false;
    }
  });

  // ------------------------------------------------------------ routing
  const VIEWS = ["products", "notifications", "mail", "settings"];

  function route() {
    if ($("#app").hidden) return;
    const wanted = location.hash.replace(/^#/, "");
    const view = VIEWS.includes(wanted) ? wanted : "products";
    state.view = view;
    for (const section of $$(".view")) section.hidden = section.dataset.view !== view;
    for (const link of $$("[data-nav]")) {
      if (link.dataset.nav === view) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    clearInterval(state.notifTimer);
    if (view === "notifications") {
      refreshNotifications();
      state.notifTimer = setInterval(() => {
        if (!state.notifBefore && !notifDialog.open) refreshNotifications();
        else loadStats();
      }, 5000);
    } else if (view === "mail") {
      loadMail(true);
    } else if (view === "settings") {
      loadSettings();
    }
    document.title = "stockline · " + ({ mail: "captured mail" }[view] || view);
  }
  window.addEventListener("hashchange", () => { route(); const m = $("#main"); if (m) m.focus({ preventScroll: true }); });

  // ------------------------------------------------------------ start
  (async function boot() {
    try {
      await enterApp();
    } catch (err) {
      if (err.status === 401 || err.status === 403) showLogin("");
      else { showLogin(""); SL.banner(SL.message(err), "error"); }
    }
  })();
})();
