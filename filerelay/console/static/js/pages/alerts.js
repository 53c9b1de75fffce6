// Alerts: each rule's state with its last measure against its threshold, its firing and
// resolved instances, acknowledge and silence,
// the history of what was sent, and the rules as configured.
import { api } from "../api.js";
import { h, put } from "../dom.js";
import { fmtNumber, fmtPercent, fmtSeconds, fmtTime } from "../format.js";
import { label, t } from "../i18n.js";
import { session } from "../session.js";
import { errorText, pageHead, showError, toast } from "../ui.js";

const DURATIONS = ["30m", "1h", "4h", "1d"];

function instanceActions(rule, inst, reload) {
  if (!session.can("alerts.ack") || inst.status !== "firing") return null;
  const post = async (verb, body) => {
    try {
      await api(`alerts/${encodeURIComponent(rule)}/${verb}`, { method: "POST", body });
      toast(t(`alerts.${verb}_done`));
      reload();
    } catch (err) {
      toast(errorText(err), "error");
    }
  };
  const duration = h("select", { "aria-label": t("alerts.silence_for") },
    DURATIONS.map((d) => h("option", { value: d }, d)));
  return h("div", { class: "row-actions" },
    inst.acked_by ? null : h("button", { type: "button", class: "secondary", "data-action": "ack", onclick: () => post("ack", { instance: inst.instance }) }, t("alerts.ack")),
    duration,
    h("button", { type: "button", class: "secondary", "data-action": "silence", onclick: () => post("silence", { instance: inst.instance, duration: duration.value }) }, t("alerts.silence")));
}

// A measured value in the unit the API names.
function fmtMeasure(v, unit) {
  if (v === null || v === undefined) return "—";
  if (unit === "ratio") return fmtPercent(v);
  if (unit === "s") return fmtSeconds(v);
  if (unit === "x") return `${fmtNumber(v, 2)}×`;
  return fmtNumber(v, unit === "score" ? 1 : 0);
}

// What the evaluator last measured: the value against the threshold as a bar, and when.
function measureLine(m) {
  if (!m) return h("p", { class: "muted small", "data-measure": "none" }, t("alerts.not_measured"));
  if (m.error) {
    return h("p", { class: "error-text small", "data-measure": "error" }, t("alerts.measure_failed", { at: fmtTime(m.measured_at) }), " ", m.error);
  }
  const known = m.value !== null && m.threshold !== null;
  const share = known ? Math.min(1, m.threshold > 0 ? m.value / m.threshold : (m.value > 0 ? 1 : 0)) : 0;
  const over = known && (m.threshold > 0 ? m.value >= m.threshold : m.value > 0);
  // the width through the CSSOM: the page's CSP refuses style attributes
  const fill = h("span", { class: over ? "fill over" : "fill" });
  fill.style.width = `${(share * 100).toFixed(1)}%`;
  return h("div", { class: "measure", "data-measure": known ? "value" : "empty" },
    h("span", { class: "measure-value" }, m.value === null ? t("alerts.nothing_to_measure") : fmtMeasure(m.value, m.unit)),
    m.subject ? h("span", { class: "muted" }, ` (${m.subject})`) : null,
    h("span", { class: "meter", role: "img", "aria-label": t("alerts.of_threshold", { pct: Math.round(share * 100) }) },
      fill),
    h("span", { class: "muted small" }, t("alerts.threshold", { value: fmtMeasure(m.threshold, m.unit) }),
      " · ", t("alerts.measured_at", { at: fmtTime(m.measured_at) })));
}

function ruleCard(r, reload) {
  return h("section", { class: "card", "data-rule": r.rule },
    h("h2", {}, r.rule, " ", h("span", { class: "muted small" }, r.kind), " ",
      h("span", { class: `badge alert-${r.state}` }, label("alerts", r.state)),
      r.escalated ? h("span", { class: "badge state-failed" }, t("alerts.escalated")) : null),
    h("p", { class: "muted small" },
      r.firing_since ? t("alerts.firing_since", { at: fmtTime(r.firing_since) }) : "",
      r.last_sent ? ` · ${t("alerts.last_sent", { at: fmtTime(r.last_sent) })}` : ""),
    measureLine(r.measure),
    r.instances.length ? h("ul", { class: "plain" }, r.instances.map((inst) => h("li", { class: "instance" },
      h("span", { class: `badge alert-${inst.status}` }, label("alerts", inst.status)), " ",
      h("strong", {}, inst.instance), " ", inst.summary || "",
      inst.acked_by ? h("div", { class: "muted small" }, t("alerts.acked_by", { who: inst.acked_by, at: fmtTime(inst.acked_at) })) : null,
      inst.silenced_until ? h("div", { class: "muted small" }, t("alerts.silenced_until", { at: fmtTime(inst.silenced_until) })) : null,
      instanceActions(r.rule, inst, reload))))
      : h("p", { class: "muted" }, t("alerts.no_instances")));
}

function historyTable(rows) {
  if (!rows.length) return h("p", { class: "muted" }, t("alerts.none"));
  const cols = ["alerts.sent_at", "alerts.kind", "alerts.channel", "alerts.message", "alerts.status"];
  return h("div", { class: "scroll" }, h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, t(c))))),
    h("tbody", {}, rows.map((n) => h("tr", {},
      h("td", { "data-label": t(cols[0]) }, fmtTime(n.created_at)),
      h("td", { "data-label": t(cols[1]) }, n.kind),
      h("td", { "data-label": t(cols[2]) }, `${n.channel} → ${n.target}`),
      h("td", { "data-label": t(cols[3]) }, n.subject || n.body_excerpt || ""),
      h("td", { "data-label": t(cols[4]) }, n.status, n.error ? h("div", { class: "error-text small" }, n.error) : null))))));
}

export async function render({ main }) {
  const rulesBox = h("div");
  const historyBox = h("div");
  const configBox = h("div");
  put(main, pageHead(t("nav.alerts")), rulesBox,
    h("section", { class: "card" }, h("h2", {}, t("alerts.history")), historyBox),
    h("section", { class: "card" }, h("h2", {}, t("alerts.rules")), configBox));
  async function load() {
    try {
      const view = await api("alerts");
      put(rulesBox, view.rules.length ? view.rules.map((r) => ruleCard(r, load)) : h("p", { class: "muted" }, t("alerts.no_rules")));
      put(historyBox, historyTable(view.history));
    } catch (err) {
      showError(rulesBox, err);
    }
  }
  async function rules() {
    try {
      const section = await api("alerts/config");
      put(configBox, section.text.trim() ? h("pre", { class: "yaml" }, section.text) : h("p", { class: "muted" }, t("alerts.no_rules")));
    } catch (err) {
      showError(configBox, err);
    }
  }
  await Promise.all([load(), rules()]);
}
