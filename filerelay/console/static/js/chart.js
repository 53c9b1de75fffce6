// Small SVG charts: a time-series line chart and horizontal bars. The SVG scales with its
// box (viewBox), so one drawing serves a desktop and a phone.
import { s } from "./dom.js";
import { fmtNumber, fmtTick } from "./format.js";

const W = 600;
const H = 220;
const PAD = { left: 48, right: 12, top: 12, bottom: 28 };

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function toMs(t) {
  return typeof t === "number" ? t * 1000 : Date.parse(t);
}

/**
 * A line chart of points [{t, v}] (t an ISO time or epoch seconds), one line per series:
 * lineChart({title, series: [{name, points, cls}], span}); span [fromMs, toMs] fixes the time
 * axis (e.g. the whole window when the data covers part of it).
 */
export function lineChart({ title, series, span }) {
  // A point whose value is null (no data in its bucket) widens the time axis but is not drawn.
  const all = series.flatMap((se) => se.points.map((p) => ({ x: toMs(p.t), y: p.v })));
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  svg.append(s("title", {}, title));
  if (!all.length) return svg;
  const x0 = span ? span[0] : Math.min(...all.map((p) => p.x));
  const x1 = span ? Math.max(span[1], x0 + 1) : Math.max(...all.map((p) => p.x), x0 + 1);
  const yMax = niceMax(Math.max(0, ...all.filter((p) => p.y !== null).map((p) => Number(p.y))));
  const px = (x) => PAD.left + ((x - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const py = (y) => H - PAD.bottom - (y / yMax) * (H - PAD.top - PAD.bottom);
  for (let i = 0; i <= 4; i += 1) {
    const y = (yMax * i) / 4;
    svg.append(s("line", { x1: PAD.left, x2: W - PAD.right, y1: py(y), y2: py(y), class: "grid-line" }));
    svg.append(s("text", { x: PAD.left - 6, y: py(y) + 4, class: "tick", "text-anchor": "end" }, fmtNumber(y, 2)));
  }
  const spanS = (x1 - x0) / 1000;
  for (let i = 0; i <= 4; i += 1) {
    const x = x0 + ((x1 - x0) * i) / 4;
    const anchor = i === 0 ? "start" : i === 4 ? "end" : "middle";
    svg.append(s("text", { x: px(x), y: H - 8, class: "tick", "text-anchor": anchor }, fmtTick(x / 1000, spanS)));
  }
  series.forEach((se, i) => {
    const pts = se.points.filter((p) => p.v !== null)
      .map((p) => `${px(toMs(p.t)).toFixed(1)},${py(Number(p.v)).toFixed(1)}`);
    if (!pts.length) return;
    const cls = se.cls || `series-${i}`;
    if (pts.length === 1) {
      const [cx, cy] = pts[0].split(",");
      svg.append(s("circle", { cx, cy, r: 3, class: `dot ${cls}` }));
    }
    svg.append(s("polyline", { points: pts.join(" "), class: `line ${cls}`, "data-series": se.name }));
  });
  return svg;
}

/** Horizontal bars of rows [{label, value}], longest first. */
export function barChart({ title, rows }) {
  const sorted = [...rows].sort((a, b) => b.value - a.value).slice(0, 10);
  const rowH = 24;
  const height = Math.max(sorted.length, 1) * rowH + 8;
  const max = Math.max(1, ...sorted.map((r) => r.value));
  const labelW = 200;
  const svg = s("svg", { viewBox: `0 0 ${W} ${height}`, class: "chart bars", role: "img", "aria-label": title });
  svg.append(s("title", {}, title));
  sorted.forEach((r, i) => {
    const y = 4 + i * rowH;
    const w = ((W - labelW - 60) * r.value) / max;
    svg.append(s("text", { x: labelW - 8, y: y + 16, class: "tick", "text-anchor": "end" }, String(r.label).slice(0, 30)));
    svg.append(s("rect", { x: labelW, y: y + 3, width: Math.max(w, 1), height: rowH - 8, class: "bar", rx: 2 }));
    svg.append(s("text", { x: labelW + w + 6, y: y + 16, class: "tick" }, fmtNumber(r.value)));
  });
  return svg;
}
