// Agents: every watcher and worker with its heartbeat, version, config version, resources and
// recent errors; those whose heartbeat stopped are marked offline.
import { api } from "../api.js";
import { h, put } from "../dom.js";
import { fmtBytes, fmtNumber, fmtTime } from "../format.js";
import { label, t } from "../i18n.js";
import { pageHead, showError } from "../ui.js";

function resources(d) {
  const parts = [];
  if (d.cpu_percent !== undefined) parts.push(`CPU ${fmtNumber(d.cpu_percent, 1)}%`);
  if (d.rss_bytes !== undefined) parts.push(`${t("agents.memory")} ${fmtBytes(d.rss_bytes)}`);
  if (d.host_memory_percent !== undefined) parts.push(`${t("agents.host_memory")} ${fmtNumber(d.host_memory_percent, 0)}%`);
  for (const [path, free] of Object.entries(d.disk_free_bytes || {})) {
    parts.push(`${t("agents.disk_free")} ${fmtBytes(free)} (${path})`);
  }
  if (d.inotify_watches !== undefined) {
    parts.push(`inotify ${fmtNumber(d.inotify_watches)}${d.inotify_limit ? ` / ${fmtNumber(d.inotify_limit)}` : ""}`);
  }
  if (d.open_files !== undefined) parts.push(`${t("agents.open_files")} ${fmtNumber(d.open_files)}`);
  return parts.length ? h("ul", { class: "plain small" }, parts.map((p) => h("li", {}, p))) : "—";
}

function errorsCell(a) {
  const box = h("div", {}, h("button", { type: "button", class: "link", onclick: async () => {
    try {
      const detail = await api(`agents/${encodeURIComponent(a.id)}`);
      put(box, detail.recent_errors.length
        ? h("ul", { class: "plain small" }, detail.recent_errors.slice(0, 5).map((r) =>
          h("li", { class: r.level === "error" ? "error-text" : "" }, `${fmtTime(r.at)} ${r.event} `,
            h("span", { class: "muted" }, Object.entries(r.fields).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ")))))
        : h("span", { class: "muted" }, t("agents.no_errors")));
    } catch (err) {
      showError(box, err);
    }
  } }, t("agents.show_errors")));
  return box;
}

function row(a) {
  const d = a.details || {};
  const cell = (key, ...content) => h("td", { "data-label": t(key) }, ...content);
  return h("tr", { class: a.state === "online" ? "" : "offline", "data-agent": a.id },
    cell("agents.agent", h("span", { class: "path" }, a.id), h("div", { class: "muted small" }, `${a.host} · pid ${a.pid}`)),
    cell("agents.kind", label("role", a.role)),
    cell("agents.status", h("span", { class: `badge state-${a.state}` }, label("agent", a.state))),
    cell("agents.heartbeat", fmtTime(a.last_heartbeat_at)),
    cell("agents.version", a.version),
    cell("agents.config_version", d.config_sha256 ? h("span", { class: "path", title: d.config_sha256 }, d.config_sha256.slice(0, 12)) : "—"),
    cell("agents.resources", resources(d)),
    cell("agents.errors", errorsCell(a)));
}

export async function render({ main }) {
  const body = h("div", { class: "scroll" });
  put(main, pageHead(t("nav.agents")), body);
  try {
    const agents = await api("agents");
    const head = ["agents.agent", "agents.kind", "agents.status", "agents.heartbeat", "agents.version",
      "agents.config_version", "agents.resources", "agents.errors"];
    put(body, h("table", { class: "grid" }, h("caption", { class: "sr" }, t("nav.agents")),
      h("thead", {}, h("tr", {}, head.map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, agents.length ? agents.map(row) : h("tr", {}, h("td", { colspan: head.length, class: "muted" }, t("table.empty"))))));
  } catch (err) {
    showError(body, err);
  }
}
