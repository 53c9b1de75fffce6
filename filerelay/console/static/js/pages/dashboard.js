// Dashboard: tiles, throughput, queue-depth and latency trends over 1 h / 24 h / 7 d, failures by route and
// by error class, the stuck files; redrawn when the live stream reports outcomes.
import { api } from "../api.js";
import { barChart, lineChart } from "../chart.js";
import { debounce, h, put } from "../dom.js";
import { fmtNumber, fmtPercent, fmtSeconds, fmtTime } from "../format.js";
import { t } from "../i18n.js";
import { subscribe } from "../live.js";
import { liveBadge, pageHead, showError } from "../ui.js";

const WINDOWS = ["1h", "24h", "7d"];

function tile(key, value, hint) {
  return h("div", { class: "tile", "data-tile": key },
    h("div", { class: "tile-label" }, t(`dash.${key}`)),
    h("div", { class: "tile-value" }, value),
    hint ? h("div", { class: "tile-hint muted" }, hint) : null);
}

function windowMinutes(w) {
  return { "1h": 60, "24h": 1440, "7d": 10080 }[w];
}

function tiles(sum) {
  const c = sum.counts || {};
  const finished = (c.succeeded || 0) + (c.failed || 0);
  const backlog = (c.queued || 0) + (c.processing || 0);
  // The window's p95 is not one of the summary's numbers: the tile shows the latest bucket's.
  const latest = [...(sum.series || [])].reverse().find((pt) => pt.p95_ms !== null);
  const p95 = latest ? latest.p95_ms : null;
  return h("div", { class: "tiles" },
    tile("files_per_minute", fmtNumber(finished / windowMinutes(sum.window), 2)),
    tile("success_rate", fmtPercent(sum.success_rate)),
    tile("backlog", fmtNumber(backlog)),
    tile("queue_depth", sum.queue_depth === null || sum.queue_depth === undefined ? "—" : fmtNumber(sum.queue_depth)),
    tile("p95_latency", p95 === null ? "—" : fmtSeconds(p95 / 1000), t("dash.p95_hint", { min: Math.round((sum.bucket_s || 60) / 60) })),
    tile("stuck", fmtNumber(sum.stuck || 0), t("dash.stuck_hint", { min: Math.round((sum.stuck_after_s || 900) / 60) })));
}

// The queue-depth trend: the deepest total of each bucket, and each queue's own line when
// there are several (at most QUEUE_LINES, the deepest ones).
const QUEUE_LINES = 4;

function depthChart(depth) {
  const fig = h("figure", { class: "card", "data-chart": "queue_depth" });
  if (!depth) {
    return put(fig, h("figcaption", {}, t("dash.queue_trend")),
      h("p", { class: "muted" }, t("dash.queue_trend_unavailable")));
  }
  const points = depth.points || [];
  const peak = (q) => Math.max(0, ...points.map((p) => p.by_queue[q] || 0));
  const queues = depth.queues.length > 1
    ? [...depth.queues].sort((a, b) => peak(b) - peak(a)).slice(0, QUEUE_LINES) : [];
  const series = [
    ...queues.map((q, i) => ({ name: q, cls: `q${i}`, points: points.map((p) => ({ t: p.t, v: p.by_queue[q] ?? null })) })),
    { name: "total", cls: "depth", points: points.map((p) => ({ t: p.t, v: p.total })) },
  ];
  const end = Date.now();
  const span = [end - windowMinutes(depth.window) * 60000, end];
  const legend = h("span", { class: "legend" }, h("i", { class: "depth" }), t("dash.queue_total"),
    queues.map((q, i) => [h("i", { class: `q${i}` }), q]));
  put(fig, h("figcaption", {}, t("dash.queue_trend"), legend),
    points.length ? lineChart({ title: t("dash.queue_trend"), series, span })
      : h("p", { class: "muted", "data-empty": "true" }, t("dash.queue_trend_empty")));
  return fig;
}

function charts(sum, depth) {
  const series = sum.series || [];
  const perMin = 60 / (sum.bucket_s || 60);
  const throughput = lineChart({
    title: t("dash.throughput"),
    series: [
      // failed first, so that succeeded is drawn on top where the two lines meet
      { name: "failed", cls: "bad", points: series.map((p) => ({ t: p.at, v: p.failed * perMin })) },
      { name: "succeeded", cls: "ok", points: series.map((p) => ({ t: p.at, v: p.succeeded * perMin })) },
    ],
  });
  const latency = lineChart({
    title: t("dash.latency"),
    series: [{ name: "p95", cls: "lat", points: series.map((p) => ({ t: p.at, v: p.p95_ms === null ? null : p.p95_ms / 1000 })) }],
  });
  return h("div", { class: "charts" },
    h("figure", { class: "card", "data-chart": "throughput" }, h("figcaption", {}, t("dash.throughput"),
      h("span", { class: "legend" }, h("i", { class: "ok" }), t("state.succeeded"), h("i", { class: "bad" }), t("state.failed"))), throughput),
    depthChart(depth),
    h("figure", { class: "card", "data-chart": "latency" }, h("figcaption", {}, t("dash.latency")), latency),
    h("figure", { class: "card", "data-chart": "routes" }, h("figcaption", {}, t("dash.failures_by_route")),
      barChart({ title: t("dash.failures_by_route"), rows: Object.entries(sum.failures_by_route || {}).map(([label, value]) => ({ label, value })) })),
    h("figure", { class: "card", "data-chart": "classes" }, h("figcaption", {}, t("dash.failures_by_class")),
      barChart({ title: t("dash.failures_by_class"), rows: Object.entries(sum.failures_by_class || {}).map(([label, value]) => ({ label, value })) })));
}

function stuckList(sum, stuckRows) {
  const oldest = sum.oldest_pending;
  return h("section", { class: "card", "data-stuck": sum.stuck }, h("h2", {}, t("dash.stuck_list")),
    stuckRows.length
      ? h("ul", { class: "plain" }, stuckRows.map((e) => h("li", {},
        h("a", { href: `/console/files/${e.id}`, "data-link": true }, `${e.source}/${e.relpath}`),
        " ", h("span", { class: "muted" }, `${t(`state.${e.state}`)} · ${fmtTime(e.created_at)}`))))
      : h("p", { class: "muted" }, t("dash.none_stuck")),
    oldest ? h("p", { class: "muted small" }, t("dash.oldest_pending"), " ",
      h("a", { href: `/console/files/${oldest.id}`, "data-link": true }, `${oldest.source}/${oldest.relpath}`),
      ` · ${fmtTime(oldest.created_at)}`) : null);
}

export async function render({ main, onLeave }) {
  let win = sessionStorage.getItem("filerelay.window") || "1h";
  const body = h("div", { class: "dash" });
  const badge = liveBadge();
  const picker = h("div", { class: "seg", role: "group", "aria-label": t("dash.window") },
    WINDOWS.map((w) => h("button", { type: "button", "data-window": w, "aria-pressed": String(w === win), onclick: () => { win = w; sessionStorage.setItem("filerelay.window", w); picker.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.window === w))); load(); } }, t(`dash.window_${w}`))));
  put(main, pageHead(t("nav.dashboard"), picker, badge.el), body);

  async function load() {
    try {
      // the trend is a chart of its own: a store without its history yet leaves the rest
      const [sum, depth] = await Promise.all([
        api("summary", { query: { window: win } }),
        api("queues/depth", { query: { window: win } }).catch(() => null),
      ]);
      // Stuck: queued or processing for longer than the summary's threshold.
      const until = `${Math.round(sum.stuck_after_s / 60)}m`;
      const lists = sum.stuck ? await Promise.all(["processing", "queued"].map((state) =>
        api("events", { query: { state, until, limit: 10 } }))) : [];
      const stuckRows = lists.flatMap((l) => l.items).slice(0, 20);
      put(body, tiles(sum), charts(sum, depth), stuckList(sum, stuckRows));
    } catch (err) {
      showError(body, err);
    }
  }
  await load();
  const refresh = debounce(load, 1500);
  onLeave(subscribe("stream", {}, refresh, badge.set));
}
