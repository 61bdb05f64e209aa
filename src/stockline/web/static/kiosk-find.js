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

  /**
   * A scanner is a keyboard that types fast: characters less than `gapMs` apart, then
   * Enter. A burst of at least `minLength` such characters is a scan wherever the focus is;
   * characters it typed into the search box are taken out again when the code is known.
   * People type slower; their Enter in the search box looks the text up as a code too.
   * onScan(code, how) returns true when it added a product.
   */
  class Scanner {
    constructor(onScan, options) {
      this.onScan = onScan;
      this.opts = Object.assign({ gapMs: 100, minLength: 3 }, options || {});
      this.burst = "";
      this.last = 0;
      this.before = null; // the search box's text before the burst began
      document.addEventListener("keydown", (ev) => this.key(ev), true);
    }

    key(ev) {
      if (ev.ctrlKey || ev.altKey || ev.metaKey) return;
      const now = performance.now();
      const fresh = now - this.last > this.opts.gapMs;
      const input = ev.target instanceof HTMLInputElement ? ev.target : null;
      if (ev.key === "Enter") {
        const code = fresh ? "" : this.burst;
        const before = this.before;
        this.reset();
        if (code.length >= this.opts.minLength) {
          ev.preventDefault();
          ev.stopPropagation();
          // a scan into the search box: take its characters out again once the code is known
          const typedInto = input && before !== null && input.value.endsWith(code);
          if (this.onScan(code, typedInto ? "scanner-in-search" : "scanner") && typedInto) {
            input.value = before;
            input.dispatchEvent(new Event("input", { bubbles: true }));
          }
        } else if (input && input.type === "search" && input.value.trim()) {
          ev.preventDefault();
          this.onScan(input.value.trim(), "typed");
        }
        return;
      }
      if (ev.key.length !== 1) return; // Shift, Tab, arrows…
      if (fresh) {
        this.burst = "";
        this.before = input ? input.value : null;
      }
      this.burst += ev.key;
      this.last = now;
    }

    reset() { this.burst = ""; this.before = null; this.last = 0; }
  }

  SL.KioskFind = { fold, matches, initials, categories, byCode, Scanner };
})();
