/* stockline pages: shared helpers (API calls, problem+json messages, DOM, live stock). */
"use strict";

window.SL = (function () {
  const CSRF_COOKIE = "stockline_csrf";

  function cookie(name) {
    const prefix = name + "=";
    for (const part of document.cookie.split(";")) {
      const item = part.trim();
      if (item.startsWith(prefix)) return decodeURIComponent(item.slice(prefix.length));
    }
    return "";
  }

  /** An API failure: `status` 0 means the server was not reached at all. */
  class ApiError extends Error {
    constructor(status, problem) {
      const p = problem || {};
      super(p.detail || p.title || "Request failed");
      this.status = status;
      this.problem = p;
      this.detail = p.detail || "";
      this.errors = Array.isArray(p.errors) ? p.errors : [];
    }
    get network() { return this.status === 0; }
  }

  async function api(method, path, body, options) {
    const opts = options || {};
    const headers = { Accept: "application/json, application/problem+json" };
    // opts.contentType: send `body` as it is (e.g. a CSV file's text), not as JSON
    const raw = Boolean(opts.contentType);
    if (body !== undefined) headers["Content-Type"] = raw ? opts.contentType : "application/json";
    if (method !== "GET" && method !== "HEAD") {
      const token = cookie(CSRF_COOKIE);
      if (token) headers["X-CSRF-Token"] = token;
    }
    Object.assign(headers, opts.headers || {});
    let resp;
    try {
      resp = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
        signal: opts.signal,
      });
    } catch (err) {
      throw new ApiError(0, {
        title: "Network error",
        detail: "The server could not be reached. Check the connection and try again.",
      });
    }
    let data = null;
    const type = resp.headers.get("content-type") || "";
    if (type.includes("json")) {
      try { data = await resp.json(); } catch (err) { data = null; }
    }
    if (!resp.ok) {
      if (!data) data = { title: resp.statusText || "Error", status: resp.status };
      if (!data.detail && resp.status >= 500) {
        data.detail = "The server had a problem (" + resp.status + "). Try again shortly.";
      }
      throw new ApiError(resp.status, data);
    }
    return data;
  }

  /** One readable sentence from a problem+json answer. */
  function message(err) {
    if (!(err instanceof ApiError)) return String((err && err.message) || err);
    const p = err.problem;
    const parts = [];
    if (err.errors.length) {
      for (const e of err.errors) {
        const loc = Array.isArray(e.loc) ? e.loc.filter((x) => x !== "body").join(".") : "";
        const msg = e.msg || e.message || "";
        if (msg) parts.push(loc && !msg.includes(loc) ? loc + ": " + msg : msg);
      }
    }
    if (parts.length && (!p.detail || p.detail === "the request is not valid")) return parts.join("; ");
    return p.detail || p.title || "Request failed (" + err.status + ")";
  }

  // ------------------------------------------------------------ DOM
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // ------------------------------------------------------------ formats
  const currency = (document.body && document.body.dataset.currency) || "EUR";
  let moneyFmt;
  try {
    moneyFmt = new Intl.NumberFormat(undefined, { style: "currency", currency });
  } catch (err) {
    moneyFmt = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  function money(cents) { return moneyFmt.format((Number(cents) || 0) / 100); }

  /** "2.50" / "2,50" / "2" → 250; null when not a price. */
  function parseMoney(text) {
    const t = String(text || "").trim().replace(/\s/g, "").replace(",", ".");
    if (!/^\d+(\.\d{1,2})?$/.test(t)) return null;
    const [whole, frac] = t.split(".");
    return Number(whole) * 100 + Number((frac || "").padEnd(2, "0"));
  }
  function centsToInput(cents) { return ((Number(cents) || 0) / 100).toFixed(2); }

  const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : timeFmt.format(d);
  }
  function ago(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    const s = Math.round((Date.now() - d.getTime()) / 1000);
    if (s < -5) return "in " + duration(-s);
    if (s < 5) return "just now";
    return duration(s) + " ago";
  }
  function duration(seconds) {
    const s = Math.max(0, Math.round(Number(seconds) || 0));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d";
  }
  function signed(n) { return n > 0 ? "+" + n : String(n).replace("-", "−"); }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // ------------------------------------------------------------ forms
  /** Show a problem's message on the form and mark the inputs its `errors` name. */
  function showFormError(form, err) {
    clearFormError(form);
    const box = form.querySelector("[data-form-error]");
    if (box) box.textContent = message(err);
    if (err instanceof ApiError) {
      for (const e of err.errors) {
        const loc = Array.isArray(e.loc) ? e.loc : [];
        const name = [...loc].reverse().find((x) => typeof x === "string" && x !== "body");
        const input = name && form.elements[name];
        if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
      }
    }
  }
  function clearFormError(form) {
    const box = form.querySelector("[data-form-error]");
    if (box) box.textContent = "";
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }

  /** Submit handler: disables the submit button while `fn` runs, shows its error. */
  function onSubmit(form, fn) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const button = form.querySelector("button[type=submit]");
      if (button && button.disabled) return;
      clearFormError(form);
      if (button) button.disabled = true;
      form.setAttribute("aria-busy", "true");
      try {
        await fn(form);
      } catch (err) {
        showFormError(form, err);
      } finally {
        if (button) button.disabled = false;
        form.removeAttribute("aria-busy");
      }
    });
  }

  function localError(detail, field) {
    return new ApiError(422, { detail, errors: field ? [{ loc: [field], msg: detail }] : [] });
  }

  // ------------------------------------------------------------ banner
  let bannerTimer = null;
  function banner(text, kind, ms) {
    const node = document.getElementById("banner");
    if (!node) return;
    clearTimeout(bannerTimer);
    if (!text) { node.hidden = true; return; }
    node.textContent = text;
    node.dataset.kind = kind || "info";
    node.hidden = false;
    if (ms) bannerTimer = setTimeout(() => { node.hidden = true; }, ms);
  }

  // ------------------------------------------------------------ live stock
  /**
   * Follows /api/inventory/events. EventSource resumes with Last-Event-ID by itself
   * after a dropped connection; when the browser gives up (an HTTP error, e.g. while
   * the server restarts) a new EventSource starts from `?last_event_id=` of the last
   * event seen, so nothing is missed. If the server has no event stream at all,
   * it falls back to polling GET /api/inventory.
   *
   * handlers: onSnapshot(list), onEvent(type, data), onStatus(state), onResync(),
   *           onAuthLost()
   * states: connecting, live, reconnecting, offline, polling
   */
  const EVENT_TYPES = ["stock-updated", "tracking-toggled", "threshold-breach", "threshold-cleared"];

  class LiveStock {
    constructor(handlers, options) {
      this.h = handlers;
      this.opts = Object.assign({ pollMs: 3000 }, options || {});
      this.lastId = "";
      this.es = null;
      this.everOpen = false;
      this.dropped = false;
      this.backoff = 1000;
      this.timer = null;
      this.pollTimer = null;
      this.state = "";
      this.stopped = false;
      window.addEventListener("offline", () => this.setState("offline"));
      window.addEventListener("online", () => {
        if (this.state === "offline") this.setState(this.es && this.es.readyState === 1 ? "live" : "reconnecting");
        if (this.es && this.es.readyState === 2) this.reconnectSoon(0);
      });
    }

    start() {
      if (navigator.onLine === false) this.setState("offline");
      this.connect();
    }

    stop() {
      this.stopped = true;
      if (this.es) this.es.close();
      clearTimeout(this.timer);
      clearTimeout(this.pollTimer);
    }

    setState(state) {
      if (state === this.state) return;
      const previous = this.state;
      this.state = state;
      if (this.h.onStatus) this.h.onStatus(state, previous);
    }

    url() {
      if (this.lastId) return "/api/inventory/events?last_event_id=" + encodeURIComponent(this.lastId);
      return "/api/inventory/events?snapshot=1";
    }

    connect() {
      if (this.stopped) return;
      if (typeof window.EventSource !== "function") { this.startPolling(); return; }
      const es = new EventSource(this.url());
      this.es = es;
      es.addEventListener("open", () => {
        this.backoff = 1000;
        const wasDropped = this.dropped || (this.everOpen && this.state !== "live");
        this.everOpen = true;
        this.dropped = false;
        this.setState("live");
        if (wasDropped && this.h.onResync) this.h.onResync();
      });
      es.addEventListener("error", () => {
        if (this.stopped) return;
        if (es.readyState === EventSource.CONNECTING) {
          // the browser retries by itself and sends Last-Event-ID
          // a failed first attempt is a lost connection too (a tab opened while the
          // server is down): "connecting" is only the time before the first answer
          this.dropped = true;
          if (this.state !== "offline") this.setState("reconnecting");
          return;
        }
        es.close();
        this.dropped = true;
        this.probe();
      });
      // `reset`: the position asked for is gone (retention) or unknown; same shape as snapshot
      es.addEventListener("snapshot", (ev) => this.onSnapshot(ev));
      es.addEventListener("reset", (ev) => this.onSnapshot(ev));
      for (const type of EVENT_TYPES) es.addEventListener(type, (ev) => this.onEvent(type, ev));
    }

    remember(ev) { if (ev.lastEventId) this.lastId = ev.lastEventId; }

    onSnapshot(ev) {
      this.remember(ev);
      let data;
      try { data = JSON.parse(ev.data); } catch (err) { return; }
      const list = Array.isArray(data) ? data
        : (data && (data.items || data.snapshots || data.inventory || data.products)) || [];
      if (data && !Array.isArray(data) && !ev.lastEventId) {
        const pos = data.last_event_id || data.position || data.event_id;
        if (pos !== undefined && pos !== null) this.lastId = String(pos);
      }
      if (this.h.onSnapshot) this.h.onSnapshot(list);
    }

    onEvent(type, ev) {
      this.remember(ev);
      let data;
      try { data = JSON.parse(ev.data); } catch (err) { return; }
      if (this.h.onEvent) this.h.onEvent(type, data);
    }

    /** Why did the stream close? 404: no stream on this server → poll. 401: signed out. */
    async probe() {
      let status = 0;
      const ctrl = new AbortController();
      try {
        const resp = await fetch(this.url(), {
          credentials: "same-origin", cache: "no-store", signal: ctrl.signal,
          headers: { Accept: "text/event-stream" },
        });
        status = resp.status;
      } catch (err) {
        status = 0;
      } finally {
        ctrl.abort();
      }
      if (this.stopped) return;
      // 404/405: a proxy in front does not pass the stream through: poll instead
      if (status === 404 || status === 405) { this.startPolling(); return; }
      if (status === 401 || status === 403) { if (this.h.onAuthLost) this.h.onAuthLost(); return; }
      if (this.state !== "offline") this.setState("reconnecting");
      this.reconnectSoon(this.backoff);
      this.backoff = Math.min(this.backoff * 2, 10000);
    }

    reconnectSoon(ms) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.connect(), ms);
    }

    startPolling() {
      this.polling = true;
      const tick = async () => {
        if (this.stopped) return;
        try {
          const list = await api("GET", "/api/inventory");
          const wasDown = this.state === "offline" || this.state === "reconnecting";
          this.setState("polling");
          if (this.h.onSnapshot) this.h.onSnapshot(list || []);
          if (wasDown && this.h.onResync) this.h.onResync();
        } catch (err) {
          if (err.status === 401 || err.status === 403) { if (this.h.onAuthLost) this.h.onAuthLost(); return; }
          if (this.state !== "offline") this.setState("reconnecting");
        }
        this.pollTimer = setTimeout(tick, this.opts.pollMs);
      };
      tick();
    }
  }

  const STATUS_TEXT = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Reconnecting…",
    offline: "Offline",
    polling: "Updating every few seconds",
  };

  /** Keep a `.live-status` badge in step with the stream state. */
  function showLiveState(state) {
    const node = document.getElementById("live-status");
    if (!node) return;
    node.dataset.state = state;
    const text = node.querySelector(".live-text");
    if (text) text.textContent = STATUS_TEXT[state] || state;
  }

  return {
    ApiError, api, message, cookie, el, $, $$, money, parseMoney, centsToInput, when, ago,
    duration, signed, uuid, onSubmit, showFormError, clearFormError, localError, banner,
    LiveStock, showLiveState,
  };
})();
