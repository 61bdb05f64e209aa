/* stockline kiosk: what the kiosk keeps on the device, in IndexedDB, and the replay of
 * sales made while the server could not be reached (SPEC §7.5).
 *
 * Exactly once: every queued sale keeps the Idempotency-Key it was made with, so sending it
 * again (after a reload mid-replay, or a lost answer) gets the server's first answer back
 * instead of a second purchase. Only one tab replays at a time (a Web Lock), so the queue
 * also goes out in order. A sale the server refuses is never dropped: it is reported to
 * POST /api/kiosk/rejected-sales for staff, and kept here until that report is answered.
 */
"use strict";

(function () {
  const DB_NAME = "stockline-kiosk";
  const LOCK_NAME = "stockline-kiosk-replay";
  const CHANNEL = "stockline-kiosk";
  // a kiosk offline for a long time stops selling before it can hold more than this
  const MAX_QUEUED = 500;

  let dbPromise = null;

  function req(request) {
    return new Promise((resolve, reject) => {
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  function done(tx) {
    return new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onabort = tx.onerror = () => reject(tx.error || new Error("IndexedDB transaction failed"));
    });
  }

  function db() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const open = indexedDB.open(DB_NAME, 1);
        open.onupgradeneeded = () => {
          const d = open.result;
          // seq orders the queue: the order the customers bought in
          d.createObjectStore("sales", { keyPath: "seq", autoIncrement: true });
          d.createObjectStore("meta", { keyPath: "name" });
        };
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
    }
    return dbPromise;
  }

  async function store(name, mode) {
    const tx = (await db()).transaction(name, mode);
    return { tx, os: tx.objectStore(name) };
  }

  // ------------------------------------------------------------ last known products
  async function saveProducts(list, asOf) {
    const { tx, os } = await store("meta", "readwrite");
    os.put({ name: "products", list, as_of: asOf });
    await done(tx);
  }

  async function loadProducts() {
    const { os } = await store("meta", "readonly");
    return (await req(os.get("products"))) || null;
  }

  // ------------------------------------------------------------ the queue
  /** Add a sale unless MAX_QUEUED are already waiting; count and add in one transaction,
   *  so two tabs cannot both take the last place. */
  async function enqueue(sale) {
    const { tx, os } = await store("sales", "readwrite");
    const count = await req(os.count());
    if (count >= MAX_QUEUED) { tx.abort(); return { ok: false, count }; }
    os.add(Object.assign({ state: "waiting", attempts: 0 }, sale));
    await done(tx);
    announce();
    return { ok: true, count: count + 1 };
  }

  async function sales() {
    const { os } = await store("sales", "readonly");
    return req(os.getAll());
  }

  async function put(sale) {
    const { tx, os } = await store("sales", "readwrite");
    os.put(sale);
    await done(tx);
    announce();
  }

  async function remove(seq) {
    const { tx, os } = await store("sales", "readwrite");
    os.delete(seq);
    await done(tx);
    announce();
  }

  async function counts() {
    const list = await sales();
    return {
      waiting: list.filter((s) => s.state === "waiting").length,
      refused: list.filter((s) => s.state !== "waiting").length,
      total: list.length,
    };
  }

  // other tabs of this kiosk redraw their "N sales waiting" when the queue changes
  const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : null;
  const listeners = [];
  function announce() {
    for (const fn of listeners) fn();
    if (channel) channel.postMessage("queue");
  }
  if (channel) channel.onmessage = () => { for (const fn of listeners) fn(); };
  function onChange(fn) { listeners.push(fn); }

  // ------------------------------------------------------------ replay
  /** What an answer means for a queued sale: sent, try later, or refused for good. */
  function verdict(err) {
    if (!err) return "sold";
    if (err.status === 401 || err.status === 403) return "auth";
    // unreachable, overloaded or broken: the sale may even have happened; the key makes a
    // later resend safe
    if (err.network || err.status >= 500 || err.status === 408 || err.status === 429) return "later";
    return "refused";
  }

  // a server that accepted the connection but never answers must not hold the lock forever
  function timeout() {
    return typeof AbortSignal.timeout === "function" ? AbortSignal.timeout(15000) : undefined;
  }

  function problemText(err) {
    return (SL.message(err) || "refused").slice(0, 1000);
  }

  /**
   * Send the queue in order, once, from one tab. Resolves to
   * "done" (queue empty), "later" (server away; try again), "auth" (kiosk unpaired) or
   * "busy" (another tab holds the lock and is replaying).
   */
  async function replay(hooks) {
    const h = hooks || {};
    if (!navigator.locks) return replayLocked(h); // no Web Locks: one tab per kiosk assumed
    return navigator.locks.request(LOCK_NAME, { ifAvailable: true }, (lock) => {
      if (!lock) return "busy";
      return replayLocked(h);
    });
  }

  async function replayLocked(h) {
    const reported = new Set();
    for (;;) {
      // re-read each round: a sale bought meanwhile, in any tab, joins the end
      const list = (await sales()).sort((a, b) => a.seq - b.seq).filter((s) => !reported.has(s.seq));
      if (!list.length) return "done";
      const sale = list[0];
      if (sale.state === "waiting") {
        let answer = null;
        let error = null;
        try {
          answer = await SL.api("POST", "/api/purchases", { items: sale.items },
            { headers: { "Idempotency-Key": sale.key }, signal: timeout() });
        } catch (err) { error = err; }
        const v = verdict(error);
        if (v === "sold") {
          await remove(sale.seq);
          if (h.onSold) h.onSold(sale, answer);
          continue;
        }
        if (v !== "refused") return v;
        sale.state = "refused";
        sale.refused_status = error.status;
        sale.refused_detail = problemText(error);
        await put(sale);
      }
      let error = null;
      try {
        await SL.api("POST", "/api/kiosk/rejected-sales", {
          idempotency_key: sale.key,
          items: sale.shown,
          total_cents: sale.total_cents,
          sold_at: sale.sold_at,
          refused_status: sale.refused_status,
          refused_detail: sale.refused_detail,
        }, { signal: timeout() });
      } catch (err) { error = err; }
      const v = verdict(error);
      if (v === "sold") {
        // staff have it now (the server stores each report once); the kiosk may forget it
        await remove(sale.seq);
        if (h.onRefused) h.onRefused(sale);
        continue;
      }
      if (v !== "refused") return v;
      // the report itself was refused: keep the sale here, shown on the kiosk, and go on
      sale.state = "unreported";
      sale.report_detail = problemText(error);
      await put(sale);
      reported.add(sale.seq);
    }
  }

  SL.KioskStore = { MAX_QUEUED, saveProducts, loadProducts, enqueue, sales, counts, replay, onChange };
})();
