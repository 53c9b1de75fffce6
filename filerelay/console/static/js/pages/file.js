// A file's page: its timeline — every route's run, each step with its attempts, error and
// result (with links, e.g. the S3 object) — and retry / cancel for operators.
import { api } from "../api.js";
import { debounce, h, put } from "../dom.js";
import { fmtBytes, fmtSeconds, fmtTime } from "../format.js";
import { t } from "../i18n.js";
import { subscribe } from "../live.js";
import { session } from "../session.js";
import { errorText, pageHead, showError, stateBadge, toast } from "../ui.js";

function resultLinks(result) {
  if (!result || typeof result !== "object") return null;
  return h("dl", { class: "result" }, Object.entries(result).map(([k, v]) => {
    const text = typeof v === "object" ? JSON.stringify(v) : String(v);
    const isLink = /^(https?|s3):\/\//.test(text);
    return [h("dt", {}, k), h("dd", {}, isLink && !text.startsWith("s3:") ? h("a", { href: text, rel: "noreferrer", target: "_blank" }, text) : text)];
  }));
}

function stepItem(step) {
  return h("li", { class: `step state-${step.state}` },
    h("div", { class: "step-head" }, h("strong", {}, step.name || step.action), " ",
      h("span", { class: "muted" }, step.action || ""), " ", stateBadge(step.state),
      h("span", { class: "muted" }, ` ${t("file.attempts", { n: step.attempts ?? 0 })}`),
      step.duration_s !== undefined && step.duration_s !== null ? h("span", { class: "muted" }, ` · ${fmtSeconds(step.duration_s)}`) : null),
    h("div", { class: "muted small" }, [fmtTime(step.started_at), step.finished_at ? ` → ${fmtTime(step.finished_at)}` : ""]),
    step.error ? h("pre", { class: "error-text" }, step.error) : null,
    resultLinks(step.result));
}

function pipelineCard(p) {
  return h("section", { class: "card pipeline" },
    h("h2", {}, t("file.route", { route: p.route }), " ", stateBadge(p.state)),
    p.error ? h("pre", { class: "error-text" }, p.error) : null,
    h("ol", { class: "timeline" }, (p.steps || []).map(stepItem)));
}

function actionButtons(ev, reload) {
  const act = async (verb) => {
    try {
      await api(`events/${ev.id}/${verb}`, { method: "POST" });
      toast(t(`file.${verb}_done`));
      reload();
    } catch (err) {
      toast(errorText(err), "error");
    }
  };
  const buttons = [];
  if (session.can("retry") && ev.state === "failed") {
    buttons.push(h("button", { type: "button", "data-action": "retry", onclick: () => act("retry") }, t("file.retry")));
  }
  if (session.can("cancel") && ["queued", "processing"].includes(ev.state)) {
    buttons.push(h("button", { type: "button", class: "danger", "data-action": "cancel", onclick: () => act("cancel") }, t("file.cancel")));
  }
  return buttons;
}

export async function render({ main, params, onLeave }) {
  const body = h("div");
  async function load() {
    let ev;
    try {
      ev = await api(`events/${encodeURIComponent(params.id)}`);
    } catch (err) {
      showError(main, err);
      return;
    }
    put(main, pageHead(`${ev.source}/${ev.relpath}`, ...actionButtons(ev, load)), body);
    put(body,
      h("dl", { class: "facts card" },
        h("dt", {}, t("files.state")), h("dd", {}, stateBadge(ev.state)),
        h("dt", {}, t("files.size")), h("dd", {}, fmtBytes(ev.size)),
        h("dt", {}, t("file.detected")), h("dd", {}, fmtTime(ev.created_at)),
        h("dt", {}, t("file.updated")), h("dd", {}, fmtTime(ev.updated_at)),
        h("dt", {}, t("file.dedup_key")), h("dd", { class: "path" }, ev.dedup_key || "—"),
        h("dt", {}, t("file.host")), h("dd", {}, ev.host || "—"),
        ev.error ? [h("dt", {}, t("files.error")), h("dd", { class: "error-text" }, ev.error)] : null),
      h("p", {}, h("a", { href: "/console/files", "data-link": true }, `← ${t("nav.files")}`)),
      (ev.pipelines || ev.timeline || []).map(pipelineCard));
  }
  await load();
  onLeave(subscribe("stream", {}, debounce(load, 500)));
}
