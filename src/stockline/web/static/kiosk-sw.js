/* stockline kiosk service worker: the shell and its assets from a cache when the server is away.
 *
 * The first line (written by the server) sets self.STOCKLINE_SHELL = {version, page, assets}.
 * Only the kiosk page and /static/ files are answered here; API calls and the event stream
 * go to the network untouched, so a sale is never "answered" by a cache: the page queues it.
 */
"use strict";

const SHELL = self.STOCKLINE_SHELL;
const PREFIX = "stockline-kiosk-";
const CACHE = PREFIX + SHELL.version;
// a server that does not answer at all should not keep a customer staring at a blank page
const NAVIGATION_TIMEOUT_MS = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll([SHELL.page, ...SHELL.assets]);
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
  });
}

/** The page: the network's copy when it answers (and keep it), else the last one kept. */
async function page(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await withTimeout(fetch(request), NAVIGATION_TIMEOUT_MS);
    // a 502/503 from a proxy whose app is down is no better than no answer
    if (response.status < 500) {
      if (response.ok) await cache.put(SHELL.page, response.clone());
      return response;
    }
    const kept = await cache.match(SHELL.page);
    return kept || response;
  } catch (err) {
    const kept = await cache.match(SHELL.page);
    if (kept) return kept;
    throw err;
  }
}

/** Static files carry a content hash in their URL: a kept copy is always the right one. */
async function asset(request) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(request);
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === SHELL.page) event.respondWith(page(request));
  else if (url.pathname.startsWith("/static/")) event.respondWith(asset(request));
});
