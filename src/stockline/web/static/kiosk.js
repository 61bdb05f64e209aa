/* stockline kiosk: pair once, find products (search, categories, scanner), basket, buy
 * exactly once, and keep selling while the server is away (the queue in kiosk-store.js). */
"use strict";

(function () {
  const { api, el, $, money } = SL;
  const Store = SL.KioskStore;
  const Find = SL.KioskFind;
  const STORE = "stockline.kiosk.basket";
  const body = document.body.dataset;

  const state = {
    products: new Map(), // id → product
    cards: new Map(), // id → <button>, the cards on screen
    labels: new Map(), // id → tile initials, different for every product
    basket: new Map(), // id → quantity, in insertion order
    // One Idempotency-Key per basket: made at the first Buy, reused by every retry of
    // the same basket (and by its queued copy), dropped when the basket changes or is bought.
    key: null,
    inFlight: false,
    live: null,
    query: "",
    category: "",
    // false while the server cannot be reached: sales queue, the stock shows its age
    reachable: true,
    stockAsOf: Date.now(), // when the stock shown was last known to be current
    queue: { waiting: 0, refused: 0, total: 0 },
    replaying: false,
    replayAgain: false,
    thanksTimer: null,
    scanTimer: null,
    timers: [],
  };

  // ------------------------------------------------------------ basket persistence
  function save() {
    try {
      localStorage.setItem(STORE, JSON.stringify({ lines: [...state.basket.entries()], key: state.key }));
    } catch (err) { /* private mode: the basket lives in memory only */ }
  }

  function restore() {
    try {
      const raw = JSON.parse(localStorage.getItem(STORE) || "null");
      if (raw && Array.isArray(raw.lines)) {
        for (const [id, qty] of raw.lines) if (Number.isInteger(id) && qty > 0) state.basket.set(id, qty);
        state.key = typeof raw.key === "string" ? raw.key : null;
      }
    } catch (err) { /* ignore a damaged entry */ }
  }

  // ------------------------------------------------------------ pairing
  function showPairing(note) {
    if (state.live) { state.live.stop(); state.live = null; }
    $("#shop").hidden = true;
    $("#pair-view").hidden = false;
    const form = $("#pair-form");
    SL.clearFormError(form);
    if (note) form.querySelector("[data-form-error]").textContent = note;
    $("#pair-token").focus();
  }

  SL.onSubmit($("#pair-form"), async (form) => {
    const token = form.elements.token.value.trim();
    if (!token) throw SL.localError("Enter the kiosk token.", "token");
    await api("POST", "/api/auth/kiosk", { token });
    form.elements.token.value = "";
    await enterShop();
  });

  function showShop() {
    renderGrid();
    renderBasket();
    $("#pair-view").hidden = true;
    $("#shop").hidden = false;
    if (!state.live) startLive();
    if (!state.timers.length) {
      state.timers.push(
        // names, prices and new products (stock itself arrives live)
        setInterval(() => { if (state.reachable) loadProducts().catch(() => {}); }, 60000),
        // a waiting sale is tried again every few seconds, whatever the stream says
        setInterval(() => { if (state.queue.total > 0) replaySoon(); }, 3000),
        setInterval(tickStock, 5000),
      );
    }
    renderQueue();
    renderStockAge();
    replaySoon();
  }

  async function enterShop() {
    await api("GET", "/api/auth/me");
    await loadProducts();
    state.reachable = true;
    showShop();
  }

  /** No server: the last products and stock this kiosk saw, with their age. */
  async function enterOffline() {
    let cached = null;
    try { cached = await Store.loadProducts(); } catch (err) { cached = null; }
    if (!cached || !Array.isArray(cached.list) || !cached.list.length) return false;
    state.products = new Map(cached.list.map((p) => [p.id, p]));
    state.stockAsOf = cached.as_of || Date.now();
    state.reachable = false;
    showShop();
    return true;
  }

  // ------------------------------------------------------------ products
  function fromProduct(p) {
    const s = p.snapshot || {};
    return {
      id: p.id, sku: p.sku, name: p.name, price_cents: p.price_cents, active: p.active,
      category: p.category || null, barcode: p.barcode || null,
      low_stock_threshold: p.low_stock_threshold,
      current_stock: s.current_stock ?? p.stock_quantity,
      low_stock_flag: Boolean(s.low_stock_flag), tracking_enabled: s.tracking_enabled !== false,
    };
  }

  async function loadProducts() {
    const list = await api("GET", "/api/products");
    const next = new Map();
    for (const raw of list) {
      const p = fromProduct(raw);
      const old = state.products.get(p.id);
      // stock already moved by the stream is newer than this list may be
      if (old && state.live && state.live.state === "live") {
        p.current_stock = old.current_stock;
        p.low_stock_flag = old.low_stock_flag;
        p.tracking_enabled = old.tracking_enabled;
      }
      next.set(p.id, p);
    }
    state.products = next;
    state.stockAsOf = Date.now();
    for (const id of [...state.basket.keys()]) {
      const p = next.get(id);
      if (!p || !p.active) state.basket.delete(id);
    }
    keep();
    renderGrid();
    renderBasket();
  }

  let keepTimer = null;
  /** Remember products and stock on the device (for a reload without the server). */
  function keep() {
    clearTimeout(keepTimer);
    keepTimer = setTimeout(() => {
      Store.saveProducts([...state.products.values()], state.stockAsOf).catch(() => {});
    }, 300);
  }

  function stockInfo(p) {
    if (!p.tracking_enabled) return { text: "Available", kind: "ok" };
    if (p.current_stock <= 0) return { text: "Out of stock", kind: "out" };
    if (p.low_stock_flag) return { text: "Only " + p.current_stock + " left", kind: "low" };
    return { text: p.current_stock + " in stock", kind: "ok" };
  }

  function buildCard(p) {
    const info = stockInfo(p);
    const qty = state.basket.get(p.id) || 0;
    const card = el("button", {
      type: "button", class: "product-card stock-" + info.kind, dataset: { id: String(p.id), stock: info.kind },
      "aria-label": p.name + ", " + money(p.price_cents) + ", " + info.text + (qty ? ", " + qty + " in basket" : "") + ". Add to basket",
    },
    el("span", { class: "pc-initial", "aria-hidden": "true", text: state.labels.get(p.id) || "?" }),
    el("span", { class: "pc-name", text: p.name }),
    el("span", { class: "pc-price", text: money(p.price_cents) }),
    el("span", { class: "pc-stock badge-" + info.kind, "data-col": "stock", text: info.text }),
    qty ? el("span", { class: "pc-qty", "aria-hidden": "true", text: String(qty) }) : null);
    card.addEventListener("click", () => add(p.id, card));
    return card;
  }

  function forSale() {
    return [...state.products.values()].filter((p) => p.active);
  }

  function renderGrid() {
    const all = forSale().sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
    state.labels = Find.initials(all);
    renderCategories(all);
    const wanted = Find.fold(state.category);
    const list = all.filter((p) => (!wanted || Find.fold(p.category) === wanted) && Find.matches(p, state.query));
    state.cards.clear();
    const cards = list.map((p) => { const c = buildCard(p); state.cards.set(p.id, c); return c; });
    if (!cards.length) {
      const text = all.length ? "No products match your search." : "No products yet.";
      cards.push(el("p", { class: "empty", text }));
    }
    $("#grid").replaceChildren(...cards);
  }

  function renderCategories(all) {
    const names = Find.categories(all);
    const box = $("#categories");
    box.hidden = names.length === 0;
    if (state.category && !names.some((n) => Find.fold(n) === Find.fold(state.category))) state.category = "";
    const chip = (label, value) => el("button", {
      type: "button", class: "chip", dataset: { category: value },
      "aria-pressed": String(Find.fold(state.category) === Find.fold(value)),
      onclick: () => { state.category = value; renderGrid(); },
    }, label);
    box.replaceChildren(chip("All", ""), ...names.map((n) => chip(n, n)));
  }

  function updateCard(id, flash) {
    const p = state.products.get(id);
    const old = state.cards.get(id);
    if (!p || !old) return;
    const focused = document.activeElement === old;
    const card = buildCard(p);
    old.replaceWith(card);
    state.cards.set(id, card);
    if (focused) card.focus();
    if (flash) {
      card.classList.add("changed");
      setTimeout(() => card.classList.remove("changed"), 1500);
    }
  }

  function applyStock(s) {
    const id = s.product_id ?? s.id;
    const p = state.products.get(id);
    if (!p) { if (id !== undefined) loadProducts().catch(() => {}); return; }
    state.stockAsOf = Date.now();
    let changed = false;
    for (const key of ["current_stock", "low_stock_flag", "tracking_enabled"]) {
      if (s[key] !== undefined && s[key] !== p[key]) { p[key] = s[key]; changed = true; }
    }
    if (changed) { updateCard(id, true); keep(); }
  }

  // ------------------------------------------------------------ reachability and stock age
  function setReachable(ok) {
    if (state.reachable === ok) return;
    // the stock shown was current until this moment
    if (!ok) { state.stockAsOf = Date.now(); keep(); }
    state.reachable = ok;
    renderQueue();
    renderStockAge();
    if (ok) replaySoon();
  }

  function tickStock() {
    if (state.reachable && state.live && (state.live.state === "live" || state.live.state === "polling")) {
      state.stockAsOf = Date.now();
      keep();
    }
    renderStockAge();
  }

  function renderStockAge() {
    const node = $("#stock-age");
    node.hidden = state.reachable;
    if (!state.reachable) {
      node.textContent = "Stock as of " + SL.ago(new Date(state.stockAsOf).toISOString()) +
        " (last known while offline)";
    }
  }

  // ------------------------------------------------------------ live
  function startLive() {
    state.live = new SL.LiveStock({
      onSnapshot: (list) => { for (const s of list) applyStock(s); },
      onEvent: (type, data) => {
        if (type === "stock-updated") applyStock(data);
        else if (type === "threshold-breach" || type === "threshold-cleared") {
          applyStock({ product_id: data.product_id, current_stock: data.current_stock,
            low_stock_flag: type === "threshold-breach" });
        } else if (type === "tracking-toggled" && data.scope !== "global") {
          applyStock({ product_id: data.product_id, tracking_enabled: Boolean(data.enabled) });
        }
      },
      onStatus: (s, previous) => {
        SL.showLiveState(s);
        if (s === "live" || s === "polling") setReachable(true);
        else if (s === "offline" || s === "reconnecting") setReachable(false);
        if (s === "offline") SL.banner("No network connection. Sales are kept on this kiosk and sent when it returns.", "error");
        else if (s === "reconnecting") SL.banner("Connection lost. Reconnecting… Sales are kept on this kiosk meanwhile.", "warn");
        else if ((s === "live" || s === "polling") && (previous === "reconnecting" || previous === "offline")) {
          SL.banner("Connection restored.", "ok", 3000);
        }
      },
      onResync: () => { loadProducts().catch(() => {}); },
      onAuthLost: () => showPairing("This kiosk is no longer paired. Enter a kiosk token."),
    });
    state.live.start();
  }

  // ------------------------------------------------------------ the offline queue
  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  async function renderQueue() {
    try { state.queue = await Store.counts(); } catch (err) { /* no IndexedDB: nothing queued */ }
    const node = $("#queue-status");
    const q = state.queue;
    const parts = [];
    if (!state.reachable) {
      parts.push("offline — " + plural(q.waiting, "sale", "sales") + " waiting");
      if (q.total >= Store.MAX_QUEUED) parts.push("full: no new sales until the connection returns");
    } else if (q.waiting) {
      parts.push("sending " + plural(q.waiting, "waiting sale", "waiting sales") + "…");
    }
    if (q.refused) parts.push(plural(q.refused, "refused sale", "refused sales") + " kept for staff");
    node.textContent = parts.join(" · ");
    node.dataset.state = !state.reachable ? "offline" : q.waiting ? "sending" : "refused";
    node.hidden = parts.length === 0;
  }
  Store.onChange(() => { renderQueue(); });

  /** Run the replay now (or right after the current run): one tab at a time sends. */
  async function replaySoon() {
    if (state.replaying) { state.replayAgain = true; return; }
    state.replaying = true;
    try {
      do {
        state.replayAgain = false;
        let sent = 0;
        const result = await Store.replay({
          onSold: () => { sent += 1; },
          onRefused: () => { sent += 1; },
        });
        if (result === "auth") { showPairing("This kiosk is no longer paired. Enter a kiosk token."); return; }
        if (result === "later") { setReachable(false); return; }
        if (result === "done" && sent) {
          setReachable(true);
          // the replayed sales moved stock; the stream brings it, this catches up names too
          loadProducts().catch(() => {});
          if (state.live && state.live.state !== "live") state.live.reconnectSoon(0);
        }
      } while (state.replayAgain);
    } catch (err) {
      /* IndexedDB unavailable: nothing can have been queued */
    } finally {
      state.replaying = false;
      renderQueue();
    }
  }

  // ------------------------------------------------------------ basket
  function basketChanged() {
    state.key = null; // another basket is another purchase
    $("#buy-error").textContent = "";
    save();
    renderBasket();
  }

  function add(id, card) {
    if (state.inFlight) return;
    state.basket.set(id, (state.basket.get(id) || 0) + 1);
    basketChanged();
    updateCard(id, false);
    const again = state.cards.get(id);
    if (again) {
      again.classList.add("added");
      setTimeout(() => again.classList.remove("added"), 300);
      if (card && document.activeElement === card) again.focus();
    }
  }

  function setQty(id, qty) {
    if (state.inFlight) return;
    if (qty <= 0) state.basket.delete(id); else state.basket.set(id, qty);
    basketChanged();
    updateCard(id, false);
  }

  function total() {
    let sum = 0;
    for (const [id, qty] of state.basket) {
      const p = state.products.get(id);
      if (p) sum += p.price_cents * qty;
    }
    return sum;
  }

  function renderBasket() {
    const lines = [];
    for (const [id, qty] of state.basket) {
      const p = state.products.get(id);
      if (!p) continue;
      lines.push(el("li", { class: "basket-line", dataset: { id: String(id) } },
        el("span", { class: "bl-name", text: p.name }),
        el("span", { class: "bl-qty" },
          el("button", { type: "button", class: "qty-btn", "aria-label": "One less " + p.name,
            onclick: () => setQty(id, qty - 1) }, "−"),
          el("span", { class: "qty", "aria-label": qty + " " + p.name, text: String(qty) }),
          el("button", { type: "button", class: "qty-btn", "aria-label": "One more " + p.name,
            onclick: () => setQty(id, qty + 1) }, "+")),
        el("span", { class: "bl-total", text: money(p.price_cents * qty) })));
    }
    $("#basket-lines").replaceChildren(...lines);
    const empty = lines.length === 0;
    $("#basket-empty").hidden = !empty;
    $("#basket-clear").hidden = empty || state.inFlight;
    $("#basket-total").textContent = empty ? "–" : money(total());
    const buy = $("#buy");
    buy.disabled = empty || state.inFlight;
    buy.textContent = state.inFlight ? "Processing…" : empty ? "Buy" : "Buy " + money(total());
    buy.setAttribute("aria-busy", String(state.inFlight));
    document.body.classList.toggle("busy", state.inFlight);
  }

  function clearBasket() {
    const ids = [...state.basket.keys()];
    state.basket.clear();
    basketChanged();
    for (const id of ids) updateCard(id, false);
  }

  $("#basket-clear").addEventListener("click", () => { if (!state.inFlight) clearBasket(); });

  /** The sale as the customer saw it: what is sent, and what staff see if it is refused. */
  function currentSale() {
    const items = [];
    const shown = [];
    for (const [id, qty] of state.basket) {
      const p = state.products.get(id);
      if (!p) continue;
      items.push({ product_id: id, quantity: qty });
      shown.push({ product_id: id, quantity: qty, name: p.name, unit_price_cents: p.price_cents });
    }
    return { key: state.key, items, shown, total_cents: total(), sold_at: new Date().toISOString() };
  }

  const FULL = "This kiosk is offline and already holds " + Store.MAX_QUEUED +
    " sales waiting to be sent, so it cannot take more until the connection returns. Please ask staff.";

  /** Keep the sale on the device; false (with the reason shown) when it cannot be kept. */
  async function queueSale(sale) {
    let res = null;
    try { res = await Store.enqueue(sale); } catch (err) { res = null; }
    if (!res) {
      $("#buy-error").textContent = "The server cannot be reached and this device cannot store the sale. Tap Buy to try again; it will not be bought twice.";
      return false;
    }
    if (!res.ok) { $("#buy-error").textContent = FULL; renderQueue(); return false; }
    sold(sale.total_cents, true);
    renderQueue();
    replaySoon();
    return true;
  }

  function mayHaveHappened(err) {
    return err.network || err.status >= 500 || err.status === 408 || err.status === 429;
  }

  async function buy() {
    if (state.inFlight || state.basket.size === 0) return;
    state.inFlight = true;
    if (!state.key) state.key = SL.uuid();
    save();
    renderBasket();
    $("#buy-error").textContent = "";
    const sale = currentSale();
    try {
      // behind sales still waiting, or without a server, a sale joins the queue: in order
      if (!state.reachable || state.queue.waiting > 0) { await queueSale(sale); return; }
      try {
        const out = await api("POST", "/api/purchases", { items: sale.items }, { headers: { "Idempotency-Key": sale.key } });
        sold(out && out.total_cents !== undefined ? out.total_cents : sale.total_cents, false);
      } catch (err) {
        if (err.status === 401 || err.status === 403) {
          showPairing("This kiosk is no longer paired. Enter a kiosk token.");
        } else if (mayHaveHappened(err)) {
          // it may or may not have happened: the queued copy keeps the key, so it cannot count twice
          setReachable(false);
          await queueSale(sale);
        } else {
          if (err.status === 409) state.key = null;
          $("#buy-error").textContent = SL.message(err);
        }
      }
    } finally {
      save();
      state.inFlight = false;
      renderBasket();
    }
  }
  $("#buy").addEventListener("click", buy);

  function sold(cents, queued) {
    const ids = [...state.basket.keys()];
    state.basket.clear();
    state.key = null;
    save();
    for (const id of ids) updateCard(id, false);
    $("#thanks-text").textContent = "Total " + money(cents) + ". Please take your items.";
    const note = $("#thanks-offline");
    note.hidden = !queued;
    note.textContent = state.reachable
      ? "The sale is sent right after the sales still waiting before it."
      : "This kiosk is offline: the sale is kept here and sent as soon as the connection returns.";
    $("#thanks").hidden = false;
    $("#thanks-close").focus();
    clearTimeout(state.thanksTimer);
    state.thanksTimer = setTimeout(closeThanks, 6000);
  }
  function closeThanks() {
    clearTimeout(state.thanksTimer);
    $("#thanks").hidden = true;
  }
  $("#thanks-close").addEventListener("click", closeThanks);
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && !$("#thanks").hidden) closeThanks(); });

  // ------------------------------------------------------------ finding things
  $("#search").addEventListener("input", (ev) => {
    state.query = ev.target.value;
    renderGrid();
  });

  function scanMessage(text) {
    const node = $("#scan-message");
    clearTimeout(state.scanTimer);
    node.textContent = text;
    node.hidden = !text;
    if (text) state.scanTimer = setTimeout(() => { node.hidden = true; }, 6000);
  }

  function setSearch(text) {
    $("#search").value = text;
    state.query = text;
    renderGrid();
  }

  new Find.Scanner((code, how) => {
    if ($("#shop").hidden) return;
    const products = forSale();
    const p = Find.byCode(products, code);
    if (p) {
      scanMessage("");
      if (how === "search") setSearch("");
      add(p.id, null);
      return;
    }
    if (how === "search") {
      const found = Find.byCodeAtEnd(products, code);
      if (found) { scanMessage(""); setSearch(found.rest); add(found.product.id, null); return; }
      // words that find products are a search, not a code
      if (products.some((x) => Find.matches(x, code))) return;
    }
    scanMessage("Unknown code “" + code + "”: no product has this barcode or SKU. Ask staff for help.");
  });

  // ------------------------------------------------------------ idle reset
  new SL.IdleReset({
    seconds: Number(body.idleSeconds) > 0 ? Number(body.idleSeconds) : 90,
    node: $("#idle"),
    counter: $("#idle-count"),
    isDirty: () => !$("#shop").hidden && !state.inFlight &&
      (state.basket.size > 0 || Boolean(state.query) || Boolean(state.category)),
    onReset: () => {
      // the next customer starts fresh
      if (state.inFlight) return;
      clearBasket();
      $("#search").value = "";
      state.query = "";
      state.category = "";
      scanMessage("");
      renderGrid();
    },
  });
  // a touch anywhere (this button included) ends the countdown; the button only says so
  $("#idle-keep").addEventListener("click", () => {});

  // ------------------------------------------------------------ offline shell
  function registerWorker() {
    if (!("serviceWorker" in navigator) || !body.swUrl) return;
    navigator.serviceWorker.register(body.swUrl, { scope: body.swScope })
      .then(() => navigator.serviceWorker.ready)
      .then(() => { document.body.dataset.offlineReady = "true"; })
      .catch(() => { /* no worker: the page still sells online, and queues while it stays open */ });
  }

  // ------------------------------------------------------------ start
  /** A pairing link from the portal (/kiosk#pair=TOKEN): pair with it and drop it from the URL. */
  async function pairFromLink() {
    const token = new URLSearchParams(location.hash.slice(1)).get("pair");
    if (!token) return;
    history.replaceState(null, "", location.pathname + location.search);
    try {
      await api("POST", "/api/auth/kiosk", { token });
    } catch (err) {
      if (err.status !== 401 && err.status !== 422) throw err; // a bad token: the form asks for one
    }
  }

  restore();
  registerWorker();
  (async function boot() {
    try {
      await pairFromLink();
      await enterShop();
    } catch (err) {
      if (err.status === 401 || err.status === 403) { showPairing(""); return; }
      if ((err.network || err.status >= 500) && await enterOffline()) return;
      showPairing("");
      SL.banner(SL.message(err), "error");
    }
  })();
})();
