/* The catalogue as the portal knows it: products with their stock, and shop-wide tracking.
 *
 * Views do not keep their own copies: they read `store.products` and listen with
 * on("change" | "reload" | "tracking", fn), so a live event repaints every view. */
import { api } from "./api.js";
import { isAuthError, handleBackgroundError, toast } from "./ui.js";

export const store = {
  products: new Map(), // id → product with its snapshot fields flattened
  globalTracking: true,
};

const listeners = { change: [], reload: [], tracking: [] };

/** change(p, flash): one product changed; reload(): the list was reloaded; tracking(on). */
export function on(kind, fn) { listeners[kind].push(fn); }

function emit(kind, ...args) { for (const fn of listeners[kind]) fn(...args); }

const STOCK_FIELDS = ["current_stock", "low_stock_flag", "negative_flag", "tracking_enabled", "last_activity_at"];

export function fromProduct(p) {
  const s = p.snapshot || {};
  return {
    id: p.id, sku: p.sku, name: p.name, price_cents: p.price_cents,
    low_stock_threshold: p.low_stock_threshold, active: p.active,
    category: p.category ?? null, barcode: p.barcode ?? null,
    current_stock: s.current_stock ?? p.stock_quantity, low_stock_flag: Boolean(s.low_stock_flag),
    negative_flag: Boolean(s.negative_flag), tracking_enabled: s.tracking_enabled !== false,
    last_activity_at: s.last_activity_at || null,
    snooze: s.snooze || null, // SPEC §7.4: {until, until_restocked, created_at} while snoozed
  };
}

const PAGE = 1000; // the API's largest page

/** Every product, page by page (sorted by id, so paging never skips one). */
async function fetchAll() {
  const out = new Map();
  for (let offset = 0; ; offset += PAGE) {
    const page = await api("GET", "/api/products?sort=id&limit=" + PAGE + "&offset=" + offset);
    const before = out.size;
    for (const raw of page) out.set(raw.id, raw);
    // fewer than a page: the end; nothing new: a server that ignores paging sent it all
    if (page.length < PAGE || out.size === before) break;
  }
  return [...out.values()];
}

export async function loadProducts() {
  const list = await fetchAll();
  const seen = new Set();
  for (const raw of list) {
    const p = fromProduct(raw);
    seen.add(p.id);
    store.products.set(p.id, p);
  }
  for (const id of [...store.products.keys()]) if (!seen.has(id)) store.products.delete(id);
  emit("reload");
}

/** A product answer of the API (create, edit): replace ours and tell the views. */
export function putProduct(raw, flash) {
  const p = fromProduct(raw);
  const known = store.products.has(p.id);
  store.products.set(p.id, p);
  if (known) emit("change", p, flash);
  else emit("reload");
  return p;
}

export async function loadGlobalTracking() {
  try {
    const cfg = await api("GET", "/api/admin/config");
    setGlobalTracking(Boolean(cfg.inventory_tracking_enabled));
  } catch (err) {
    if (isAuthError(err)) throw err;
  }
}

export function setGlobalTracking(enabled) {
  store.globalTracking = enabled;
  emit("tracking", enabled);
}

/** Merge a snapshot (event, poll or API answer) into a product and tell the views. */
export function applyStock(s, flash) {
  const id = s.product_id ?? s.id;
  const p = store.products.get(id);
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
  // API answers carry the snooze (null when none); events do not, so leave it then
  if (s.snooze !== undefined && JSON.stringify(s.snooze) !== JSON.stringify(p.snooze)) {
    p.snooze = s.snooze;
    changed = true;
  }
  if (!changed) return;
  emit("change", p, flash && moved);
}

/** PUT tracking for one product; `input` (a switch) flips back when it fails. */
export async function setTracking(id, enabled, input) {
  try {
    const snap = await api("PUT", "/api/inventory/" + id + "/tracking", { enabled });
    applyStock(snap, true);
    const p = store.products.get(id);
    toast("Tracking " + (enabled ? "on" : "off") + " for " + (p ? p.name : "#" + id));
  } catch (err) {
    if (input) input.checked = !enabled;
    handleBackgroundError(err, "Tracking");
  }
}
