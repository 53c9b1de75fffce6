// Alerts: firing and resolved alerts with their history, acknowledge and silence, and the
// alert rules with their current measure.
import { api } from "../api.js";
import { h, put } from "../dom.js";
import { fmtNumber, fmtTime } from "../format.js";
import { t } from "../i18n.js";
import { session } from "../session.js";
import { errorText, itemsOf, pageHead, pagedTable, showError, toast } from "../ui.js";

function alertActions(a, reload) {
  const post = async (verb, body) => {
    try {
      await api(`alerts/${encodeURIComponent(a.id)}/${verb}`, { method: "POST", body });
      toast(t(`alerts.${verb}_done`));
      reload();
    } catch (err) {
      toast(errorText(err), "error");
    }
  };
  if (a.state !== "firing" || !session.can("alerts.ack")) return "";
  const minutes = h("select", { "aria-label": t("alerts.silence_for") },
    [30, 60, 240, 1440].map((m) => h("option", { value: m }, t("alerts.minutes", { n: m }))));
  return h("div", { class: "row-actions" },
    a.acked_by ? h("span", { class: "muted small" }, t("alerts.acked_by", { who: a.acked_by })) : h("button", { type: "button", class: "secondary", onclick: () => post("ack") }, t("alerts.ack")),
    minutes, h("button", { type: "button", class: "secondary", onclick: () => post("silence", { minutes: Number(minutes.value) }) }, t("alerts.silence")));
}

async function rules(box) {
  try {
    const body = await api("alerts/config");
    const list = itemsOf(body.rules ? body.rules : body);
    put(box, list.length ? h("table", { class: "grid" },
      h("thead", {}, h("tr", {}, [t("alerts.rule"), t("alerts.condition"), t("alerts.measure"), t("alerts.state")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, list.map((r) => h("tr", {},
        h("td", { "data-label": t("alerts.rule") }, r.name),
        h("td", { "data-label": t("alerts.condition") }, r.condition || r.expr || r.kind || "—"),
        h("td", { "data-label": t("alerts.measure") }, r.measure === undefined || r.measure === null ? "—" : fmtNumber(r.measure, 2)),
        h("td", { "data-label": t("alerts.state") }, r.state ? h("span", { class: `badge alert-${r.state}` }, t(`alerts.${r.state}`)) : "—")))))
      : h("p", { class: "muted" }, t("alerts.no_rules")));
  } catch (err) {
    showError(box, err);
  }
}

export async function render({ main }) {
  const filter = h("select", { "aria-label": t("alerts.state") },
    ["", "firing", "resolved"].map((s) => h("option", { value: s }, s ? t(`alerts.${s}`) : t("alerts.all"))));
  const table = pagedTable({
    caption: t("nav.alerts"),
    empty: "alerts.none",
    load: (cursor) => api("alerts", { query: { cursor, limit: 50, state: filter.value } }),
    columns: [
      { label: t("alerts.rule"), cell: (a) => a.rule || a.name },
      { label: t("alerts.state"), cell: (a) => h("span", { class: `badge alert-${a.state}` }, t(`alerts.${a.state}`) === `alerts.${a.state}` ? a.state : t(`alerts.${a.state}`)) },
      { label: t("alerts.message"), cell: (a) => a.message || a.summary || "" },
      { label: t("alerts.since"), cell: (a) => fmtTime(a.fired_at || a.started_at || a.created_at) },
      { label: t("alerts.resolved_at"), cell: (a) => fmtTime(a.resolved_at) },
      { label: "", cell: (a) => alertActions(a, () => table.reload()) },
    ],
  });
  filter.addEventListener("change", () => table.first());
  const rulesBox = h("div");
  put(main, pageHead(t("nav.alerts"), h("label", { class: "field inline" }, h("span", {}, t("alerts.show")), filter)),
    table.el, h("section", { class: "card" }, h("h2", {}, t("alerts.rules")), rulesBox));
  await Promise.all([table.first(), rules(rulesBox)]);
}
