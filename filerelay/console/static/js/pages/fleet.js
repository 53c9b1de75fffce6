// Fleet: the config center's versions and the rollout under way, the agents per version
// (assigned, running, refused), and the destinations' circuit breakers, which an operator
// may close by hand.
import { api } from "../api.js";
import { h, put } from "../dom.js";
import { fmtNumber, fmtTime } from "../format.js";
import { t } from "../i18n.js";
import { session } from "../session.js";
import { errorText, pageHead, showError, toast } from "../ui.js";

const v = (n) => (n === null || n === undefined ? "—" : `v${n}`);

function grid(caption, head, rows, attrs = () => ({})) {
  return h("div", { class: "scroll" }, h("table", { class: "grid" }, h("caption", { class: "sr" }, caption),
    h("thead", {}, h("tr", {}, head.map((k) => h("th", { scope: "col" }, t(k))))),
    h("tbody", {}, rows.length ? rows.map((r) => h("tr", attrs(r), r.cells.map((c, i) =>
      h("td", { "data-label": t(head[i]) }, c))))
      : h("tr", {}, h("td", { colspan: head.length, class: "muted" }, t("table.empty"))))));
}

function selector(s) {
  if (!s) return t("fleet.every_agent");
  if (s.labels) return Object.entries(s.labels).map(([k, val]) => `${k}=${val}`).join(",");
  return (s.agents || []).join(", ");
}

function rolloutCard(fleet) {
  const a = fleet.active;
  return h("section", { class: "card", "data-section": "rollout" }, h("h2", {}, t("fleet.rollout")),
    h("p", {}, t("fleet.baseline"), ": ", h("strong", {}, v(fleet.baseline && fleet.baseline.version))),
    a ? h("p", {}, `${v(a.version)} → ${selector(a.selector)} `,
      h("span", { class: `badge state-${a.state === "canary" ? "running" : "failed"}` }, t(`fleet.state_${a.state}`)),
      a.reason ? h("span", { class: "muted" }, ` ${a.reason}`) : null)
      : h("p", { class: "muted" }, t("fleet.no_rollout")));
}

function versions(fleet) {
  const running = {};
  for (const a of fleet.agents) if (a.running !== null) running[a.running] = (running[a.running] || 0) + 1;
  const rows = [...fleet.versions].reverse().map((ver) => ({ cells: [v(ver.version),
    h("span", { class: "path", title: ver.sha256 }, ver.sha256.slice(0, 12)), ver.note || "—",
    fmtTime(ver.created_at), fmtNumber(running[ver.version] || 0)] }));
  return h("section", { class: "card", "data-section": "versions" }, h("h2", {}, t("fleet.versions")),
    grid(t("fleet.versions"), ["fleet.version", "fleet.sha256", "fleet.note", "fleet.created", "fleet.agents_running"], rows));
}

function agents(fleet) {
  const rows = fleet.agents.map((a) => ({ cells: [h("span", { class: "path" }, a.agent),
    Object.entries(a.labels).map(([k, val]) => `${k}=${val}`).join(", ") || "—", a.roles.join(" + "),
    h("span", { class: `badge state-${a.state}` }, t(`state.${a.state}`)), v(a.assigned), v(a.running),
    a.refused ? h("span", { class: "error-text" }, `${v(a.refused.version)} ${a.refused.reason || ""}`) : "—"] }));
  return h("section", { class: "card", "data-section": "agents" }, h("h2", {}, t("fleet.agents")),
    grid(t("fleet.agents"), ["fleet.agent", "fleet.labels", "fleet.roles", "fleet.status", "fleet.assigned", "fleet.running", "fleet.refused"], rows));
}

function breakers(rows, reload) {
  const close = (b) => h("button", { type: "button", class: "secondary", "data-close": b.destination, onclick: async () => {
    try {
      await api(`breakers/${encodeURIComponent(b.destination)}/close`, { method: "POST" });
      toast(t("fleet.closed", { dest: b.destination }));
      reload();
    } catch (err) {
      toast(errorText(err), "error");
    }
  } }, t("fleet.close"));
  const can = session.can("breakers.close");
  const cells = rows.map((b) => ({ destination: b.destination, cells: [b.destination,
    h("span", { class: `badge breaker-${b.state} state-${b.state === "closed" ? "succeeded" : "failed"}` }, t(`fleet.breaker_${b.state}`)),
    fmtNumber(b.failures), fmtNumber(b.opens), b.open_for_s === null ? "—" : `${fmtNumber(b.open_for_s, 0)} s`,
    b.last_error || "—", can && b.state !== "closed" ? close(b) : ""] }));
  return h("section", { class: "card", "data-section": "breakers" }, h("h2", {}, t("fleet.breakers")),
    grid(t("fleet.breakers"), ["fleet.destination", "fleet.status", "fleet.failures", "fleet.opens", "fleet.open_for", "fleet.last_error", "fleet.action"],
      cells, (r) => ({ "data-breaker": r.destination })));
}

export async function render({ main }) {
  const body = h("div", { class: "fleet" });
  put(main, pageHead(t("nav.fleet")), body);
  async function load() {
    try {
      const [fleet, rows] = await Promise.all([api("fleet"), api("breakers")]);
      put(body, rolloutCard(fleet), versions(fleet), agents(fleet), breakers(rows, load));
    } catch (err) {
      showError(body, err);
    }
  }
  await load();
}
