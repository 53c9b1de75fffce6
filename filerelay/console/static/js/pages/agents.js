// Agents: every watcher and worker with its heartbeat, version, config version, recent errors
// and resources; those whose heartbeat stopped are marked offline.
import { api } from "../api.js";
import { h, put } from "../dom.js";
import { fmtBytes, fmtNumber, fmtPercent, fmtTime } from "../format.js";
import { t } from "../i18n.js";
import { pageHead, pagedTable, stateBadge } from "../ui.js";

function resources(a) {
  const r = a.resources || a;
  const parts = [];
  if (r.cpu_percent !== undefined && r.cpu_percent !== null) parts.push(`CPU ${fmtNumber(r.cpu_percent, 1)}%`);
  if (r.memory_rss_bytes ?? r.rss_bytes) parts.push(`${t("agents.memory")} ${fmtBytes(r.memory_rss_bytes ?? r.rss_bytes)}`);
  if (r.disk_free_bytes !== undefined && r.disk_free_bytes !== null) parts.push(`${t("agents.disk_free")} ${fmtBytes(r.disk_free_bytes)}`);
  if (r.disk_used_ratio !== undefined && r.disk_used_ratio !== null) parts.push(`${t("agents.disk")} ${fmtPercent(r.disk_used_ratio)}`);
  if (r.inotify_watches !== undefined && r.inotify_watches !== null) parts.push(`inotify ${fmtNumber(r.inotify_watches)}${r.inotify_limit ? ` / ${fmtNumber(r.inotify_limit)}` : ""}`);
  return parts.length ? parts.join(" · ") : "—";
}

export async function render({ main }) {
  const table = pagedTable({
    caption: t("nav.agents"),
    load: (cursor) => api("agents", { query: { cursor, limit: 50 } }),
    columns: [
      { label: t("agents.agent"), cell: (a) => h("span", { class: "path" }, a.agent_id || a.id || a.name) },
      { label: t("agents.kind"), cell: (a) => a.kind || a.role || "—" },
      { label: t("agents.status"), cell: (a) => (a.online === false || a.status === "offline" ? h("span", { class: "badge state-failed" }, t("agents.offline")) : stateBadge("online")) },
      { label: t("agents.heartbeat"), cell: (a) => fmtTime(a.last_heartbeat || a.heartbeat_at || a.last_seen) },
      { label: t("agents.version"), cell: (a) => a.version || "—" },
      { label: t("agents.config_version"), cell: (a) => a.config_version || "—" },
      { label: t("agents.resources"), cell: resources },
      { label: t("agents.errors"), cell: (a) => (a.recent_errors && a.recent_errors.length ? h("ul", { class: "plain small" }, a.recent_errors.slice(0, 3).map((e) => h("li", { class: "error-text" }, typeof e === "string" ? e : e.message || JSON.stringify(e)))) : "—") },
    ],
  });
  put(main, pageHead(t("nav.agents")), table.el);
  await table.first();
}
