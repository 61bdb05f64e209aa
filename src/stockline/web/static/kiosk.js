/* stockline kiosk: pair once, product grid with live stock, basket, buy exactly once. */
"use strict";

(function () {
  const { api, el, $, money } = SL;
  const STORE = "stockline.kiosk.basket";

  const state = {
    products: new Map(), // id → product
    cards: new Map(), // id → <button>
    basket: new Map(), // id → quantity, in insertion order
    // One Idempotency-Key per basket: made at the first Pay, reused by every retry of
    // the same basket, dropped when the basket changes or the purchase succeeds.
    key: null,
    inFlight: false,
    live: null,
    thanksTimer: null,
    refreshTimer: null,
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

  async function enterShop() {
    await api("GET", "/api/auth/me");
    await loadProducts();
    renderBasket();
    $("#pair-view").hidden = true;
    $("#shop").hidden = false;
    startLive();
    // names, prices and new products (stock itself arrives live)
    if (!state.refreshTimer) state.refreshTimer = setInterval(() => { loadProducts().catch(() => {}); }, 60000);
  }

  // ------------------------------------------------------------ products
  function fromProduct(p) {
    const s = p.snapshot || {};
    return {
      id: p.id, sku: p.sku, name: p.name, price_cents: p.price_cents, active: p.active,
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
    for (const id of [...state.basket.keys()]) {
      const p = next.get(id);
      if (!p || !p.active) state.basket.delete(id);
    }
    renderGrid();
    renderBasket();
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
    el("span", { class: "pc-initial", "aria-hidden": "true", text: p.name.trim().charAt(0).toUpperCase() }),
    el("span", { class: "pc-name", text: p.name }),
    el("span", { class: "pc-price", text: money(p.price_cents) }),
    el("span", { class: "pc-stock badge-" + info.kind, "data-col": "stock", text: info.text }),
    qty ? el("span", { class: "pc-qty", "aria-hidden": "true", text: String(qty) }) : null);
    card.addEventListener("click", () => add(p.id, card));
    return card;
  }

  function renderGrid() {
    const grid = $("#grid");
    const list = [...state.products.values()].filter((p) => p.active)
      .sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
    state.cards.clear();
    const cards = list.map((p) => { const c = buildCard(p); state.cards.set(p.id, c); return c; });
    if (!cards.length) cards.push(el("p", { class: "empty", text: "No products yet." }));
    grid.replaceChildren(...cards);
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
    let changed = false;
    for (const key of ["current_stock", "low_stock_flag", "tracking_enabled"]) {
      if (s[key] !== undefined && s[key] !== p[key]) { p[key] = s[key]; changed = true; }
    }
    if (changed) updateCard(id, true);
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
        if (s === "offline") SL.banner("No network connection. Stock shown may be out of date; paying needs the connection.", "error");
        else if (s === "reconnecting") SL.banner("Connection lost. Reconnecting…", "warn");
        else if ((s === "live" || s === "polling") && (previous === "reconnecting" || previous === "offline")) {
          SL.banner("Connection restored.", "ok", 3000);
        }
      },
      onResync: () => { loadProducts().catch(() => {}); },
      onAuthLost: () => showPairing("This kiosk is no longer paired. Enter a kiosk token."),
    });
    state.live.start();
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
    buy.textContent = state.inFlight ? "Processing…" : empty ? "Pay" : "Pay " + money(total());
    buy.setAttribute("aria-busy", String(state.inFlight));
    document.body.classList.toggle("busy", state.inFlight);
  }

  $("#basket-clear").addEventListener("click", () => {
    if (state.inFlight) return;
    const ids = [...state.basket.keys()];
    state.basket.clear();
    basketChanged();
    for (const id of ids) updateCard(id, false);
  });

  async function buy() {
    if (state.inFlight || state.basket.size === 0) return;
    state.inFlight = true;
    if (!state.key) state.key = SL.uuid();
    save();
    renderBasket();
    $("#buy-error").textContent = "";
    const items = [...state.basket].map(([product_id, quantity]) => ({ product_id, quantity }));
    const paid = total();
    try {
      const out = await api("POST", "/api/purchases", { items }, { headers: { "Idempotency-Key": state.key } });
      const ids = [...state.basket.keys()];
      state.basket.clear();
      state.key = null;
      save();
      for (const id of ids) updateCard(id, false);
      thanks(out && out.total_cents !== undefined ? out.total_cents : paid);
    } catch (err) {
      if (err.status === 401 || err.status === 403) {
        showPairing("This kiosk is no longer paired. Enter a kiosk token.");
      } else if (err.network || err.status >= 500 || err.status === 408 || err.status === 429) {
        // the purchase may or may not have happened: keep the key, so trying again cannot buy twice
        $("#buy-error").textContent = "We could not confirm your payment. Tap Pay to try again; you will not be charged twice.";
      } else {
        if (err.status === 409) state.key = null;
        $("#buy-error").textContent = SL.message(err);
      }
      save();
    } finally {
      state.inFlight = false;
      renderBasket();
    }
  }
  $("#buy").addEventListener("click", buy);

  function thanks(cents) {
    $("#thanks-text").textContent = "You paid " + money(cents) + ". Please take your items.";
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
  (async function boot() {
    try {
      await pairFromLink();
      await enterShop();
    } catch (err) {
      if (err.status === 401 || err.status === 403) showPairing("");
      else { showPairing(""); SL.banner(SL.message(err), "error"); }
    }
  })();
})();
