// Times in the viewer's own time zone, numbers and sizes in the current language.
import { language } from "./i18n.js";

export function timeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** A date and time in the viewer's time zone; an ISO string or epoch seconds. */
export function fmtTime(value) {
  const d = toDate(value);
  if (!d) return "—";
  return new Intl.DateTimeFormat(language(), {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  }).format(d);
}

/** A short axis label for a chart: the time only for short windows, else day and hour. */
export function fmtTick(value, spanS) {
  const d = toDate(value);
  if (!d) return "";
  const opts = spanS > 2 * 86400
    ? { month: "2-digit", day: "2-digit", hour: "2-digit", hour12: false }
    : { hour: "2-digit", minute: "2-digit", hour12: false };
  return new Intl.DateTimeFormat(language(), opts).format(d);
}

export function fmtNumber(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return "—";
  return new Intl.NumberFormat(language(), { maximumFractionDigits: digits }).format(Number(n));
}

export function fmtPercent(ratio) {
  if (ratio === null || ratio === undefined) return "—";
  return new Intl.NumberFormat(language(), { style: "percent", maximumFractionDigits: 1 })
    .format(Number(ratio));
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${fmtNumber(v, i ? 1 : 0)} ${units[i]}`;
}

export function fmtSeconds(s) {
  if (s === null || s === undefined) return "—";
  const v = Number(s);
  if (v < 1) return `${fmtNumber(v * 1000)} ms`;
  if (v < 120) return `${fmtNumber(v, 1)} s`;
  return `${fmtNumber(v / 60, 1)} min`;
}
