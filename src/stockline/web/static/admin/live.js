/* Live stock: one SL.LiveStock stream for the whole portal.
 *
 * The catalogue (store.js) is updated here first; then every handler registered with
 * onLive(type, fn) runs, so a view can react to "stock-updated", "tracking-toggled",
 * "threshold-breach" or "threshold-cleared" without touching this file. */
import { LiveStock, showLiveState, banner } from "./api.js";
import { store, applyStock, setGlobalTracking, loadProducts } from "./store.js";
import { authLost, toast } from "./ui.js";

let live = null;
const handlers = new Map(); // event type → [fn(data)]

/** "Low stock: Cola, 2 left" or, at 0 and below, "Out of stock: Cola (stock −3)". */
export function stockNote(name, stock) {
  if (stock > 0) return "Low stock: " + name + ", " + stock + " left";
  return "Out of stock: " + name + (stock < 0 ? " (stock " + stock + ")" : "");
}

export function onLive(type, fn) {
  if (!handlers.has(type)) handlers.set(type, []);
  handlers.get(type).push(fn);
}

export function startLive() {
  if (live) live.stop();
  live = new LiveStock({
    onSnapshot: (list) => { for (const s of list) applyStock(s, true); },
    onEvent: onLiveEvent,
    onStatus: (s, previous) => {
      showLiveState(s);
      if (s === "offline") banner("You are offline. Stock shown may be out of date.", "warn");
      else if (s === "reconnecting") banner("Connection to the server lost. Reconnecting…", "warn");
      else if ((s === "live" || s === "polling") && (previous === "reconnecting" || previous === "offline")) {
        banner("Reconnected. Stock is up to date.", "ok", 3000);
      }
    },
    onResync: () => { loadProducts().catch(() => {}); },
    onAuthLost: authLost,
  });
  live.start();
}

export function stopLive() {
  if (live) { live.stop(); live = null; }
}

function onLiveEvent(type, data) {
  if (type === "stock-updated") {
    applyStock(data, true);
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
    const p = store.products.get(data.product_id);
    if (low && p) toast(stockNote(p.name, data.current_stock), "warn");
  }
  for (const fn of handlers.get(type) || []) fn(data);
}
