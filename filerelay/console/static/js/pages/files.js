// Files: the file log, newest first, with keyword search and filters; new rows arrive live
// while the first page is shown.
import { api } from "../api.js";
import { debounce, h, put } from "../dom.js";
import { fmtBytes, fmtTime } from "../format.js";
import { t } from "../i18n.js";
import { subscribe } from "../live.js";
import { field, liveBadge, pageHead, pagedTable, stateBadge } from "../ui.js";

export const STATES = ["queued", "processing", "succeeded", "failed", "duplicate", "vanished", "skipped"];

function filters(onChange) {
  const params = new URLSearchParams(location.search);
  const q = h("input", { type: "search", name: "q", value: params.get("q") || "", placeholder: t("files.search_hint") });
  const state = h("select", { name: "state" }, h("option", { value: "" }, t("files.any_state")),
    STATES.map((s) => h("option", { value: s, selected: params.get("state") === s }, t(`state.${s}`))));
  const source = h("input", { type: "text", name: "source", value: params.get("source") || "" });
  const read = () => ({ q: q.value.trim(), state: state.value, source: source.value.trim() });
  const changed = () => {
    const f = read();
    const qs = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
    history.replaceState(null, "", `/console/files${qs.toString() ? `?${qs}` : ""}`);
    onChange(f);
  };
  q.addEventListener("input", debounce(changed, 300));
  state.addEventListener("change", changed);
  source.addEventListener("input", debounce(changed, 300));
  const form = h("form", { class: "filters", role: "search", onsubmit: (e) => { e.preventDefault(); changed(); } },
    field(t("files.search"), q), field(t("files.state"), state), field(t("files.source"), source));
  return { form, read };
}

export async function render({ main, onLeave }) {
  const badge = liveBadge();
  let current = null;
  const { form, read } = filters((f) => { current = f; table.first(); });
  current = read();
  const table = pagedTable({
    caption: t("nav.files"),
    empty: "files.empty",
    load: (cursor) => api("events", { query: { ...current, cursor, limit: 50 } }),
    columns: [
      { label: t("files.time"), cell: (e) => fmtTime(e.created_at) },
      { label: t("files.file"), cell: (e) => h("a", { href: `/console/files/${e.id}`, "data-link": true, class: "path" }, `${e.source}/${e.relpath}`) },
      { label: t("files.state"), cell: (e) => stateBadge(e.state) },
      { label: t("files.size"), cell: (e) => fmtBytes(e.size) },
      { label: t("files.routes"), cell: (e) => (e.routes || []).join(", ") },
      { label: t("files.reason"), cell: (e) => h("span", { class: "clip", title: e.reason || "" }, e.reason || "") },
    ],
  });
  put(main, pageHead(t("nav.files"), badge.el), form, table.el);
  await table.first();
  const refresh = debounce(() => { if (table.onFirstPage()) table.reload(); }, 400);
  onLeave(subscribe("stream", {}, refresh, badge.set));
}
