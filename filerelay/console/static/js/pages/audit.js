// Audit (admin): every mutation with its actor, role, address, action, target and outcome.
import { api } from "../api.js";
import { debounce, h, put } from "../dom.js";
import { fmtTime } from "../format.js";
import { t } from "../i18n.js";
import { field, pageHead, pagedTable } from "../ui.js";

export async function render({ main }) {
  const actor = h("input", { type: "text", name: "actor" });
  const action = h("input", { type: "text", name: "action" });
  const table = pagedTable({
    caption: t("nav.audit"),
    load: (cursor) => api("audit", { query: { cursor, limit: 50, actor: actor.value.trim(), action: action.value.trim() } }),
    columns: [
      { label: t("audit.at"), cell: (r) => fmtTime(r.at || r.created_at) },
      { label: t("audit.actor"), cell: (r) => r.role ? `${r.actor} (${r.role})` : r.actor },
      { label: t("audit.address"), cell: (r) => r.address || "—" },
      { label: t("audit.action"), cell: (r) => r.action },
      { label: t("audit.target"), cell: (r) => h("span", { class: "path" }, r.target || "—") },
      { label: t("audit.parameters"), cell: (r) => h("code", { class: "clip" }, r.params ? JSON.stringify(r.params) : "") },
      { label: t("audit.outcome"), cell: (r) => r.outcome },
    ],
  });
  const again = debounce(() => table.first(), 300);
  actor.addEventListener("input", again);
  action.addEventListener("input", again);
  put(main, pageHead(t("nav.audit")),
    h("form", { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() }, field(t("audit.actor"), actor), field(t("audit.action"), action)),
    table.el);
  await table.first();
}
