// Config: the running YAML (secrets masked), validated as it is edited with each error at its
// line, a diff against the running version, push and rollback (admin), and the history.
import { api } from "../api.js";
import { debounce, h, put } from "../dom.js";
import { lineDiff } from "../diff.js";
import { fmtTime } from "../format.js";
import { t } from "../i18n.js";
import { session } from "../session.js";
import { errorText, pageHead, showError, toast } from "../ui.js";

function editor(text, onInput) {
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const area = h("textarea", { spellcheck: "false", wrap: "off", "aria-label": t("config.editor"), id: "config-text" });
  area.value = text;
  const marks = new Set();
  const drawGutter = () => {
    const count = area.value.split("\n").length;
    put(gutter, Array.from({ length: count }, (_, i) =>
      h("div", { class: marks.has(i + 1) ? "ln bad" : "ln", "data-line": i + 1 }, String(i + 1))));
  };
  area.addEventListener("scroll", () => { gutter.scrollTop = area.scrollTop; });
  area.addEventListener("input", () => { drawGutter(); onInput(area.value); });
  drawGutter();
  return {
    el: h("div", { class: "editor" }, gutter, area),
    area,
    mark(lines) { marks.clear(); lines.forEach((l) => marks.add(l)); drawGutter(); },
    goTo(line) {
      const lines = area.value.split("\n");
      const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
      area.focus();
      area.setSelectionRange(start, start + (lines[line - 1] || "").length);
      area.scrollTop = Math.max(0, (line - 5) * 18);
    },
  };
}

function diffView(running, edited) {
  const rows = lineDiff(running.split("\n"), edited.split("\n"));
  if (!rows.some((r) => r.op !== " ")) return h("p", { class: "muted" }, t("config.no_changes"));
  return h("pre", { class: "diff" }, rows.filter((r, i) => r.op !== " " || rows.slice(Math.max(0, i - 2), i + 3).some((x) => x.op !== " "))
    .map((r) => h("div", { class: r.op === "+" ? "add" : r.op === "-" ? "del" : "ctx" }, `${r.op} ${r.text}`)));
}

async function history(box, runningVersion, reload) {
  try {
    const versions = await api("config/versions", { query: { limit: 20 } });
    if (!versions.length) { put(box, h("p", { class: "muted" }, t("config.no_versions"))); return; }
    put(box, h("table", { class: "grid" }, h("thead", {}, h("tr", {},
      [t("config.version"), t("config.pushed_by"), t("config.pushed_at"), t("config.comment"), ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, versions.map((v) => h("tr", {},
      h("td", { "data-label": t("config.version") }, String(v.version), v.version === runningVersion ? h("span", { class: "badge state-succeeded" }, t("config.running")) : null),
      h("td", { "data-label": t("config.pushed_by") }, v.created_by),
      h("td", { "data-label": t("config.pushed_at") }, fmtTime(v.created_at)),
      h("td", { "data-label": t("config.comment") }, v.comment || ""),
      h("td", {}, session.can("config.write") && v.version !== runningVersion ? h("button", { type: "button", class: "secondary", "data-rollback": v.version, onclick: async () => {
        try { await api(`config/rollback/${v.version}`, { method: "POST" }); toast(t("config.rolled_back")); reload(); } catch (err) { toast(errorText(err), "error"); }
      } }, t("config.rollback")) : null))))));
  } catch (err) {
    showError(box, err);
  }
}

export async function render({ main }) {
  let current;
  try {
    current = await api("config");
  } catch (err) {
    showError(main, err);
    return;
  }
  const running = current.text;
  const problems = h("ul", { class: "problems", "aria-live": "polite" });
  const diffBox = h("div");
  const historyBox = h("div");
  const comment = h("input", { type: "text", "aria-label": t("config.comment") });
  const push = h("button", { type: "button", "data-action": "push" }, t("config.push"));
  let valid = true;
  const ed = editor(running, debounce(validate, 400));

  async function validate(text) {
    put(diffBox, diffView(running, text));
    let list;
    try {
      list = (await api("config/validate", { method: "POST", body: { text } })).problems;
    } catch (err) {
      list = [{ line: null, field: "", message: errorText(err) }];
    }
    valid = list.length === 0;
    push.disabled = !valid || text === running;
    ed.mark(list.map((p) => p.line).filter(Boolean));
    put(problems, valid ? h("li", { class: "ok" }, t("config.valid")) : list.map((p) =>
      h("li", { class: "error-text" }, p.line ? h("button", { type: "button", class: "link", "data-line": p.line, onclick: () => ed.goTo(p.line) }, t("config.at_line", { line: p.line })) : null,
        " ", p.field ? h("code", {}, p.field) : null, " ", p.message)));
  }
  push.disabled = true;
  push.addEventListener("click", async () => {
    try {
      await api("config", { method: "POST", body: { text: ed.area.value, comment: comment.value || null } });
      toast(t("config.pushed"));
      render({ main });
    } catch (err) {
      toast(errorText(err), "error");
    }
  });
  const canPush = session.can("config.write");
  put(main, pageHead(t("nav.config"), current.version !== null ? h("span", { class: "muted" }, t("config.running_version", { v: current.version })) : null),
    h("div", { class: "config-grid" },
      h("section", { class: "card" }, h("h2", {}, t("config.current")), h("p", { class: "muted small" }, h("span", { class: "path" }, current.path), " · ", t("config.masked")), ed.el,
        h("h3", {}, t("config.problems")), problems,
        canPush ? h("div", { class: "push-row" }, h("label", { class: "field" }, h("span", {}, t("config.comment")), comment), push) : h("p", { class: "muted" }, t("config.admin_only"))),
      h("section", { class: "card" }, h("h2", {}, t("config.diff")), diffBox)),
    h("section", { class: "card" }, h("h2", {}, t("config.history")), historyBox));
  put(diffBox, diffView(running, running));
  put(problems, h("li", { class: "ok" }, t("config.valid")));
  history(historyBox, current.version, () => render({ main }));
}
