// Logs: a live tail of the agents' log lines with agent, level and keyword filters.
import { api } from "../api.js";
import { debounce, h, put } from "../dom.js";
import { fmtTime } from "../format.js";
import { t } from "../i18n.js";
import { subscribe } from "../live.js";
import { field, liveBadge, pageHead, showError } from "../ui.js";

const LEVELS = ["debug", "info", "warning", "error", "critical"];
const KEEP = 500;

function line(rec) {
  const level = (rec.level || "info").toLowerCase();
  return h("div", { class: `log-line level-${level}` },
    h("span", { class: "muted" }, fmtTime(rec.at)), " ",
    h("span", { class: "lvl" }, level.toUpperCase()), " ",
    h("span", { class: "agent" }, rec.agent), " ",
    h("span", {}, rec.event), " ",
    h("span", { class: "muted" }, Object.entries(rec.fields || {}).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ")));
}

export async function render({ main, onLeave }) {
  const badge = liveBadge();
  const agent = h("input", { type: "text", name: "agent" });
  const level = h("select", { name: "level" }, h("option", { value: "" }, t("logs.any_level")), LEVELS.map((l) => h("option", { value: l }, l)));
  const q = h("input", { type: "search", name: "q" });
  const pause = h("button", { type: "button", class: "secondary", "aria-pressed": "false" }, t("logs.pause"));
  const out = h("div", { class: "log", role: "log", "aria-live": "off", tabindex: "0" });
  let close = () => {};
  let held = false;
  pause.addEventListener("click", () => { held = !held; pause.setAttribute("aria-pressed", String(held)); pause.textContent = t(held ? "logs.follow" : "logs.pause"); });
  const add = (rec) => {
    out.querySelector(":scope > .muted")?.remove();
    out.append(line(rec));
    while (out.childElementCount > KEEP) out.firstElementChild.remove();
    if (!held) out.scrollTop = out.scrollHeight;
  };
  async function restart() {
    close();
    const query = { agent: agent.value.trim(), level: level.value, q: q.value.trim() };
    try {
      const recent = (await api("logs", { query: { ...query, limit: 200 } })).items;
      put(out, recent.slice().reverse().map(line));
      if (!recent.length) out.append(h("div", { class: "muted" }, t("logs.empty")));
      out.scrollTop = out.scrollHeight;
    } catch (err) {
      showError(out, err);
    }
    close = subscribe("logs/stream", query, add, badge.set);
  }
  const again = debounce(restart, 300);
  [agent, q].forEach((el) => el.addEventListener("input", again));
  level.addEventListener("change", restart);
  put(main, pageHead(t("nav.logs"), pause, badge.el),
    h("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); restart(); } },
      field(t("logs.agent"), agent), field(t("logs.level"), level), field(t("logs.keyword"), q)),
    out);
  await restart();
  onLeave(() => close());
}
