/* A stock-over-time chart as inline SVG (no library, no CDN). It reads without colour:
 * stock is a solid line with round markers, units sold are hatched bars, the low-stock
 * threshold a dashed line with its value written on it, and a legend names each. */

const NS = "http://www.w3.org/2000/svg";
const W = 640, H = 240;
const PAD = { left: 44, right: 16, top: 16, bottom: 40 };

function svgEl(tag, attrs, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  for (const c of children) node.append(typeof c === "string" ? document.createTextNode(c) : c);
  return node;
}

/** Round numbers for the y axis: 0, a step, …, top ≥ max. */
function ticks(min, max) {
  const span = Math.max(1, max - min);
  const raw = span / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.floor(min / step) * step; v <= max + step / 2; v += step) out.push(Math.round(v));
  if (out[out.length - 1] < max) out.push(out[out.length - 1] + step);
  return out;
}

function shortDate(iso) {
  const d = new Date(iso + "T00:00:00Z");
  return isNaN(d) ? iso : d.toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

/**
 * series: [{date: "YYYY-MM-DD", stock, sold}] oldest first; threshold: number or null.
 * Returns an <svg role="img"> whose label says what it shows in words.
 */
export function stockChart(series, threshold, label) {
  const n = series.length;
  const stocks = series.map((p) => p.stock);
  const sold = series.map((p) => p.sold);
  const lo = Math.min(0, ...stocks);
  const hi = Math.max(1, ...stocks, ...sold, threshold ?? 0);
  const yt = ticks(lo, hi);
  const y0 = yt[0], y1 = yt[yt.length - 1];
  const innerW = W - PAD.left - PAD.right, innerH = H - PAD.top - PAD.bottom;
  const slot = innerW / Math.max(1, n);
  const x = (i) => PAD.left + slot * (i + 0.5);
  const y = (v) => PAD.top + innerH - ((v - y0) / (y1 - y0 || 1)) * innerH;

  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H + 28}`, role: "img", class: "chart", "aria-label": label });
  svg.append(svgEl("defs", {}, svgEl("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse",
    patternTransform: "rotate(45)" }, svgEl("rect", { width: 6, height: 6, fill: "#fff" }),
  svgEl("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#5f6b80", "stroke-width": 2.5 }))));

  const grid = svgEl("g", { class: "chart-grid" });
  for (const v of yt) {
    grid.append(svgEl("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), stroke: v === 0 ? "#5f6b80" : "#e2e6ed" }));
    grid.append(svgEl("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end", class: "chart-tick" }, String(v)));
  }
  const labelled = new Set([0, Math.floor((n - 1) / 2), n - 1]);
  series.forEach((p, i) => {
    if (labelled.has(i)) grid.append(svgEl("text", { x: x(i), y: H - PAD.bottom + 16, "text-anchor": "middle", class: "chart-tick" }, shortDate(p.date)));
  });
  svg.append(grid);

  const bars = svgEl("g", { class: "chart-sold" });
  series.forEach((p, i) => {
    if (!p.sold) return;
    const top = y(p.sold), base = y(Math.max(0, y0));
    bars.append(svgEl("rect", { x: x(i) - slot * 0.35, width: slot * 0.7, y: top, height: Math.max(1, base - top),
      fill: "url(#hatch)", stroke: "#5f6b80", "stroke-width": 1 }, svgEl("title", {}, p.date + ": " + p.sold + " sold")));
  });
  svg.append(bars);

  if (threshold !== null && threshold !== undefined) {
    svg.append(svgEl("g", { class: "chart-threshold" },
      svgEl("line", { x1: PAD.left, x2: W - PAD.right, y1: y(threshold), y2: y(threshold), stroke: "#8a5a00",
        "stroke-width": 1.5, "stroke-dasharray": "6 4" }),
      svgEl("text", { x: W - PAD.right - 4, y: y(threshold) - 5, "text-anchor": "end", class: "chart-note" }, "threshold " + threshold)));
  }

  const path = stocks.map((v, i) => (i ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1)).join(" ");
  const line = svgEl("g", { class: "chart-stock" }, svgEl("path", { d: path, fill: "none", stroke: "#18202f", "stroke-width": 2.5 }));
  series.forEach((p, i) => line.append(svgEl("circle", { cx: x(i), cy: y(p.stock), r: n > 60 ? 1.8 : 3, fill: "#18202f" },
    svgEl("title", {}, p.date + ": stock " + p.stock))));
  if (n) {
    const last = stocks[n - 1];
    line.append(svgEl("text", { x: x(n - 1) - 6, y: y(last) - 8, "text-anchor": "end", class: "chart-note" }, "stock " + last));
  }
  svg.append(line);

  // legend: a shape and a word for each mark
  const ly = H + 14;
  svg.append(svgEl("g", { class: "chart-legend" },
    svgEl("line", { x1: PAD.left, x2: PAD.left + 24, y1: ly, y2: ly, stroke: "#18202f", "stroke-width": 2.5 }),
    svgEl("circle", { cx: PAD.left + 12, cy: ly, r: 3, fill: "#18202f" }),
    svgEl("text", { x: PAD.left + 30, y: ly + 4, class: "chart-tick" }, "stock at end of day"),
    svgEl("rect", { x: PAD.left + 170, y: ly - 6, width: 14, height: 12, fill: "url(#hatch)", stroke: "#5f6b80" }),
    svgEl("text", { x: PAD.left + 190, y: ly + 4, class: "chart-tick" }, "units sold that day"),
    threshold === null || threshold === undefined ? "" : svgEl("line", { x1: PAD.left + 330, x2: PAD.left + 354, y1: ly, y2: ly,
      stroke: "#8a5a00", "stroke-width": 1.5, "stroke-dasharray": "6 4" }),
    threshold === null || threshold === undefined ? "" : svgEl("text", { x: PAD.left + 360, y: ly + 4, class: "chart-tick" }, "low-stock threshold")));
  return svg;
}
