/* stockline kiosk: finding a product. Search as you type, categories, tile initials that
 * tell products apart, and a barcode scanner that types its code and Enter. */
"use strict";

(function () {
  /** Lower case, accents off: "Crème brûlée" is found by "creme brulee". */
  function fold(text) {
    return String(text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  /** Every word of the query appears in the name, SKU, barcode or category. */
  function matches(p, query) {
    const words = fold(query).split(/\s+/).filter(Boolean);
    if (!words.length) return true;
    const hay = fold([p.name, p.sku, p.barcode, p.category].filter(Boolean).join(" "));
    return words.every((w) => hay.includes(w));
  }

  function letters(name) {
    return String(name || "").match(/[\p{L}\p{N}]+/gu) || [];
  }

  /** Tile labels of one or two characters, different for every product: the initials of
   *  the first two words ("Cola Zero" → "CZ"), else the first two letters ("Water" → "Wa"),
   *  else the first letter and a later one, else the first letter and a number. */
  function initials(products) {
    const taken = new Set();
    const out = new Map();
    const sorted = [...products].sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
    for (const p of sorted) {
      const words = letters(p.name);
      const first = words.length ? words[0].charAt(0).toUpperCase() : "?";
      const candidates = [];
      if (words.length >= 2) candidates.push(first + words[1].charAt(0).toUpperCase());
      const rest = words.join("").slice(1);
      for (const c of rest) candidates.push(first + c.toLowerCase());
      for (let n = 2; n < 1000; n += 1) candidates.push(first + n);
      const label = candidates.find((c) => !taken.has(fold(c))) || first;
      taken.add(fold(label));
      out.set(p.id, label);
    }
    return out;
  }

  /** Categories present among the products, sorted, each once. */
  function categories(products) {
    const seen = new Map();
    for (const p of products) {
      const c = (p.category || "").trim();
      if (c && !seen.has(fold(c))) seen.set(fold(c), c);
    }
    return [...seen.values()].sort((a, b) => a.localeCompare(b));
  }

  /** The product a scanned code names: its barcode, else its SKU (case-insensitive). */
  function byCode(products, code) {
    const c = String(code || "").trim();
    if (!c) return null;
    for (const p of products) if (p.barcode && p.barcode === c) return p;
    const f = fold(c);
    for (const p of products) if (fold(p.sku) === f) return p;
    return null;
  }

  /** A code at the end of what is in the search box: a scan that landed after a search
   *  word ("sca" + "4006381333931"). Codes of 4 or more characters only, so a search word
   *  does not read as a short SKU. Returns {product, rest} or null. */
  function byCodeAtEnd(products, text) {
    const t = String(text || "").trim();
    let best = null;
    for (const p of products) {
      for (const c of [p.barcode, p.sku]) {
        if (!c || c.length < 4 || c.length > t.length) continue;
        if (fold(t.slice(t.length - c.length)) !== fold(c)) continue;
        if (!best || c.length > best.length) best = { product: p, length: c.length };
      }
    }
    return best && { product: best.product, rest: t.slice(0, t.length - best.length).trim() };
  }

  /**
   * A scanner is a keyboard that types its code and Enter. Outside a text box nobody else
   * types on a kiosk, so those keys and Enter are a scan, however fast they come (a loaded
   * machine delivers them late; a pause of `resetMs` starts a new code). In the search box
   * Enter hands its text over: a code there (all of it, or at its end) is a scan too.
   * onScan(code, how) gets how = "scanner" or "search".
   */
  class Scanner {
    constructor(onScan, options) {
      this.onScan = onScan;
      this.opts = Object.assign({ resetMs: 1500, minLength: 3 }, options || {});
      this.burst = "";
      this.last = 0;
      document.addEventListener("keydown", (ev) => this.key(ev), true);
    }

    key(ev) {
      if (ev.ctrlKey || ev.altKey || ev.metaKey) return;
      const target = ev.target;
      if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) {
        if (ev.key === "Enter" && target.type === "search" && target.value.trim()) {
          ev.preventDefault();
          this.onScan(target.value.trim(), "search");
        }
        return;
      }
      const now = performance.now();
      if (now - this.last > this.opts.resetMs) this.burst = "";
      this.last = now;
      if (ev.key === "Enter") {
        const code = this.burst;
        this.burst = "";
        if (code.length >= this.opts.minLength) {
          // a focused card must not be pressed by the scanner's Enter
          ev.preventDefault();
          ev.stopPropagation();
          this.onScan(code, "scanner");
        }
        return;
      }
      if (ev.key.length === 1) this.burst += ev.key; // not Shift, Tab, arrows…
    }
  }

  SL.KioskFind = { fold, matches, initials, categories, byCode, byCodeAtEnd, Scanner };
})();
