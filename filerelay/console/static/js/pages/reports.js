// Reports: a period's figures beside the previous period (tiles), the daily series (chart),
// per source and per route, the top errors, the SLOs' attainment and error budget, and a
// link to the self-contained HTML report of the same period.
import { api, url } from "../api.js";
import { lineChart } from "../chart.js";
import { h, put } from "../dom.js";
import { fmtBytes, fmtNumber, fmtPercent, fmtSeconds } from "../format.js";
import { t } from "../i18n.js";
import { pageHead, showError } from "../ui.js";

const PERIODS = ["day", "week", "month"];
const TILES = [
  ["files", fmtNumber], ["bytes", fmtBytes], ["succeeded", fmtNumber], ["failed", fmtNumber],
  ["failure_rate", fmtPercent], ["retries", fmtNumber], ["files_per_hour", (v) => fmtNumber(v, 2)],
];

function change(c) {
  if (c === null || c === undefined) return "";
  const pct = Math.round(c * 100);
  return t("reports.change", { pct: `${pct > 0 ? "+" : ""}${pct}` });
}

function tiles(summary) {
  return h("div", { class: "tiles" }, TILES.map(([key, fmt]) => {
    const f = summary[key] || {};
    const value = f.current === null || f.current === undefined ? "—" : fmt(f.current);
    return h("div", { class: "tile", "data-tile": key },
      h("div", { class: "tile-label" }, t(`reports.${key}`)),
      h("div", { class: "tile-value" }, value),
      h("div", { class: "tile-hint muted" }, change(f.change)));
  }), h("div", { class: "tile", "data-tile": "stuck" },
    h("div", { class: "tile-label" }, t("reports.stuck")),
    h("div", { class: "tile-value" }, fmtNumber((summary.stuck || {}).current || 0))));
}

/** Every day of the period (a day without files counts 0), so the axis spans the period. */
function everyDay(period, days) {
  const known = new Map(days.map((d) => [d.day, d]));
  const out = [];
  const end = Date.parse(period.until);
  for (let at = Date.parse(period.since.slice(0, 10)); at < end; at += 86_400_000) {
    const day = new Date(at).toISOString().slice(0, 10);
    out.push(known.get(day) || { day, files: 0, bytes: 0, failed: 0 });
  }
  return out;
}

function dailyChart(period, found) {
  const days = everyDay(period, found);
  const chart = lineChart({
    title: t("reports.daily"),
    series: [
      { name: "failed", cls: "bad", points: days.map((d) => ({ t: `${d.day}T00:00:00Z`, v: d.failed })) },
      { name: "files", cls: "ok", points: days.map((d) => ({ t: `${d.day}T00:00:00Z`, v: d.files })) },
    ],
  });
  return h("figure", { class: "card", "data-chart": "daily" },
    h("figcaption", {}, t("reports.daily"), h("span", { class: "legend" },
      h("i", { class: "ok" }), t("reports.files"), h("i", { class: "bad" }), t("reports.failed"))),
    found.length ? chart : h("p", { class: "muted" }, t("table.empty")));
}

function table(caption, head, rows) {
  return h("div", { class: "scroll" }, h("table", { class: "grid" }, h("caption", {}, caption),
    h("thead", {}, h("tr", {}, head.map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rows.length ? rows.map((cells) => h("tr", {}, cells.map((c, i) =>
      h("td", { "data-label": t(head[i]) }, c))))
      : h("tr", {}, h("td", { colspan: head.length, class: "muted" }, t("table.empty"))))));
}

function groups(caption, rows) {
  const secs = (v) => (v === null || v === undefined ? "—" : fmtSeconds(v));
  return table(caption, ["reports.name", "reports.files", "reports.bytes", "reports.failed", "reports.failure_rate", "reports.p95"],
    rows.map((r) => [r.name, fmtNumber(r.files), fmtBytes(r.bytes), fmtNumber(r.failed), fmtPercent(r.failure_rate), secs(r.p95)]));
}

function slos(rows) {
  return h("section", { class: "card", "data-section": "slos" }, h("h2", {}, t("reports.slos")),
    rows.length ? table(t("reports.slos"), ["reports.name", "reports.objective", "reports.attainment", "reports.budget", "reports.burn", "reports.met"],
      rows.map((s) => [s.name, fmtPercent(s.objective), fmtPercent(s.attainment), fmtPercent(s.error_budget_remaining),
        fmtNumber(s.burn_rate_1h, 2), h("span", { class: `badge state-${s.met ? "succeeded" : "failed"}` }, t(s.met ? "reports.slo_met" : "reports.slo_missed"))]))
      : h("p", { class: "muted" }, t("reports.no_slos")));
}

export async function render({ main }) {
  let period = sessionStorage.getItem("filerelay.period") || "week";
  const body = h("div", { class: "report" });
  const link = h("a", { target: "_blank", rel: "noopener", "data-report-html": true }, t("reports.html"));
  const picker = h("div", { class: "seg", role: "group", "aria-label": t("reports.period") },
    PERIODS.map((p) => h("button", { type: "button", "data-period": p, "aria-pressed": String(p === period), onclick: () => {
      period = p;
      sessionStorage.setItem("filerelay.period", p);
      picker.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.period === p)));
      load();
    } }, t(`reports.period_${p}`))));
  put(main, pageHead(t("nav.reports"), picker, link), body);

  async function load() {
    link.href = url("reports.html", { period }).pathname + url("reports.html", { period }).search;
    try {
      const r = await api("reports", { query: { period } });
      put(body,
        h("p", { class: "muted small" }, t("reports.span", { since: r.period.since.slice(0, 16), until: r.period.until.slice(0, 16) })),
        tiles(r.summary), dailyChart(r.period, r.by_day), slos(r.slos),
        h("section", { class: "card", "data-section": "groups" },
          groups(t("reports.by_source"), r.by_source), groups(t("reports.by_route"), r.by_route)),
        h("section", { class: "card", "data-section": "errors" }, table(t("reports.errors"),
          ["reports.error", "reports.count", "reports.previous"],
          r.errors.map((e) => [e.error, fmtNumber(e.count), fmtNumber(e.previous)]))));
    } catch (err) {
      showError(body, err);
    }
  }
  await load();
}
