// A file's page: its timeline — every run of every route, each step with its attempts, error
// and result (with links, e.g. the S3 object) — and retry / cancel for operators.
import { api } from "../api.js";
import { debounce, h, put } from "../dom.js";
import { fmtBytes, fmtSeconds, fmtTime } from "../format.js";
import { label, t } from "../i18n.js";
import { subscribe } from "../live.js";
import { session } from "../session.js";
import { errorText, pageHead, showError, stateBadge, toast } from "../ui.js";

function resultValue(v) {
  const text = typeof v === "object" ? JSON.stringify(v) : String(v);
  // Only web addresses become links; anything else (an S3 key, an ETag) stays text.
  if (/^https?:\/\//.test(text)) return h("a", { href: text, rel: "noreferrer noopener", target: "_blank" }, text);
  return text;
}

function resultList(result) {
  if (!result || typeof result !== "object" || !Object.keys(result).length) return null;
  return h("dl", { class: "result" }, Object.entries(result).map(([k, v]) => [h("dt", {}, k), h("dd", {}, resultValue(v))]));
}

// A step put back to wait for its next attempt after an error: "retrying", as the live
// stream names it.
function stepState(step) {
  return step.status === "pending" && step.last_error && step.next_attempt_at ? "retrying" : step.status;
}

function stepItem(step) {
  const state = stepState(step);
  // an ended step keeps the time of the retry it once waited for: not shown any more
  const next = step.status === "pending" ? step.next_attempt_at : null;
  const when = [fmtTime(step.started_at), step.finished_at ? ` → ${fmtTime(step.finished_at)}` : ""];
  return h("li", { class: `step state-${state}`, "data-step": step.name, "data-step-id": step.id },
    h("div", { class: "step-head" }, h("strong", {}, step.name), " ",
      h("span", { class: "muted" }, step.action), " ", h("span", { class: "step-state" }, stateBadge(state)),
      step.phase && step.phase !== "main" ? h("span", { class: "badge" }, label("phase", step.phase)) : null,
      h("span", { class: "muted step-attempts" }, ` ${t("file.attempts", { n: step.attempts, max: step.max_attempts })}`),
      step.duration_ms !== null ? h("span", { class: "muted" }, ` · ${fmtSeconds(step.duration_ms / 1000)}`) : null),
    step.started_at ? h("div", { class: "muted small" }, when) : null,
    h("div", { class: "muted small step-next", hidden: !next }, next ? t("file.next_attempt", { at: fmtTime(next) }) : ""),
    h("pre", { class: "error-text step-error", hidden: !step.last_error }, step.last_error || ""),
    resultList(step.result));
}

// A step outcome from the live stream, shown at once on its row (the full timeline, with
// durations and results, is read again shortly after). True when the row was on the page.
function showStepOutcome(main, o) {
  const li = main.querySelector(`li[data-step-id="${Number(o.id)}"]`);
  if (!li) return false;
  li.className = `step state-${o.state}`;
  li.dataset.liveState = o.state;
  put(li.querySelector(".step-state"), stateBadge(o.state));
  li.querySelector(".step-attempts").textContent = ` ${t("file.attempts", { n: o.attempt, max: o.max_attempts })}`;
  const next = li.querySelector(".step-next");
  next.textContent = o.next_attempt_at ? t("file.next_attempt", { at: fmtTime(o.next_attempt_at) }) : "";
  next.hidden = !o.next_attempt_at;
  // a later success keeps the last attempt's error on show, as the timeline does
  if (o.error) {
    const error = li.querySelector(".step-error");
    error.textContent = o.error;
    error.hidden = false;
  }
  return true;
}

function pipelineCard(p) {
  return h("section", { class: "card pipeline", "data-route": p.route },
    h("h2", {}, t("file.route", { route: p.route, run: p.run }), " ", stateBadge(p.status)),
    h("div", { class: "muted small" }, fmtTime(p.created_at), p.finished_at ? ` → ${fmtTime(p.finished_at)}` : ""),
    p.error ? h("pre", { class: "error-text" }, p.error) : null,
    h("ol", { class: "timeline" }, p.steps.map(stepItem)));
}

function actionButtons(ev, reload, navigate) {
  const act = async (path, doneKey, body) => {
    try {
      const out = await api(path, { method: "POST", body });
      toast(t(doneKey));
      // A finished event is run again as a new event: follow it there.
      const renewed = out && out.renewed && out.renewed[0];
      if (renewed) navigate(`/console/files/${renewed.to}`);
      else reload();
    } catch (err) {
      toast(errorText(err), "error");
    }
  };
  const buttons = [];
  if (session.can("events.retry") && ev.state === "failed") {
    buttons.push(h("button", { type: "button", "data-action": "retry", onclick: () => act(`events/${ev.id}/retry`, "file.retry_done") }, t("file.retry")));
  }
  const running = ev.pipelines.filter((p) => p.status === "running");
  if (session.can("pipelines.cancel") && running.length) {
    buttons.push(h("button", { type: "button", class: "danger", "data-action": "cancel",
      onclick: () => Promise.all(running.map((p) => act(`pipelines/${p.id}/cancel`, "file.cancel_done"))) }, t("file.cancel")));
    // also undo what completed (the uploaded object deleted...), as after a failure
    buttons.push(h("button", { type: "button", class: "danger", "data-action": "cancel-compensate",
      onclick: () => Promise.all(running.map((p) => act(`pipelines/${p.id}/cancel`, "file.cancel_undo_done", { compensate: true }))) }, t("file.cancel_undo")));
  }
  return buttons;
}

function facts(ev) {
  const row = (key, value) => [h("dt", {}, t(key)), h("dd", {}, value)];
  return h("dl", { class: "facts card" },
    row("files.state", stateBadge(ev.state)),
    ev.reason ? row("files.reason", h("span", { class: "error-text" }, ev.reason)) : null,
    row("files.size", fmtBytes(ev.size)),
    row("file.path", h("span", { class: "path" }, ev.path)),
    row("file.detected", fmtTime(ev.detected_at)),
    row("file.updated", fmtTime(ev.updated_at)),
    row("file.signal", ev.stable_signal),
    row("file.host", ev.host),
    row("file.dedup_key", h("span", { class: "path" }, ev.dedup_key)),
    ev.sha256 ? row("file.sha256", h("span", { class: "path" }, ev.sha256)) : null,
    ev.duplicate_of ? row("file.duplicate_of", h("a", { href: `/console/files/${ev.duplicate_of}`, "data-link": true }, ev.duplicate_of)) : null);
}

export async function render({ main, params, onLeave, navigate }) {
  async function load() {
    let ev;
    try {
      ev = await api(`events/${encodeURIComponent(params.id)}`);
    } catch (err) {
      showError(main, err);
      return;
    }
    put(main, pageHead(`${ev.source}/${ev.relpath}`, ...actionButtons(ev, load, navigate)),
      facts(ev),
      h("p", {}, h("a", { href: "/console/files", "data-link": true }, `← ${t("nav.files")}`)),
      ev.pipelines.length ? ev.pipelines.map(pipelineCard) : h("p", { class: "muted" }, t("file.no_runs")));
  }
  await load();
  // This file's outcomes only: each step's shows on its row at once (a new run's steps need
  // the timeline read again), each pipeline's and the file's reload the page.
  const reload = debounce(load, 500);
  onLeave(subscribe("stream", { event_id: params.id }, (data, kind) => {
    if (kind !== "step" || !showStepOutcome(main, data)) reload();
    else if (data.state !== "running") reload();
  }));
}
