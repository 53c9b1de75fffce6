// Pieces every page uses: a table that pages through a keyset API, a toast, a live badge.
import { h, put } from "./dom.js";
import { label, t } from "./i18n.js";

export function toast(message, kind = "info") {
  const box = document.getElementById("toast");
  const item = h("div", { class: `toast ${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), 6000);
}

export function errorText(err) {
  if (err && err.status === 403) return t("error.forbidden");
  return `${t("error.prefix")}: ${err && err.message ? err.message : err}`;
}

export function showError(where, err) {
  put(where, h("p", { class: "error", role: "alert" }, errorText(err)));
}

/** The items of a list answer, whatever its envelope is called. */
export function itemsOf(body) {
  if (Array.isArray(body)) return body;
  return body.items || body.data || body.results || [];
}

export function nextCursorOf(body) {
  return Array.isArray(body) ? null : body.next_cursor || null;
}

/**
 * A table fed by a keyset-paginated list: load(cursor) resolves to the API's answer.
 * columns: [{label, cell(row) -> node|string}]. Returns {el, reload(), first()}.
 */
export function pagedTable({ columns, load, empty = "table.empty", caption }) {
  const body = h("tbody");
  const status = h("span", { class: "muted", "aria-live": "polite" });
  const prev = h("button", { type: "button", class: "secondary" }, t("table.previous"));
  const next = h("button", { type: "button", class: "secondary" }, t("table.next"));
  const stack = [];
  let cursor = null;
  let nextCursor = null;

  async function show(c) {
    let answer;
    try {
      answer = await load(c);
    } catch (err) {
      put(body, h("tr", {}, h("td", { colspan: columns.length, class: "error" }, errorText(err))));
      return;
    }
    cursor = c;
    nextCursor = nextCursorOf(answer);
    const rows = itemsOf(answer);
    put(body, rows.length
      ? rows.map((row) => h("tr", {}, columns.map((col) =>
        h("td", { "data-label": col.label }, col.cell(row)))))
      : h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, t(empty))));
    prev.disabled = stack.length === 0;
    next.disabled = !nextCursor;
    status.textContent = t("table.page", { n: stack.length + 1 });
  }
  prev.addEventListener("click", () => show(stack.pop() ?? null));
  next.addEventListener("click", () => { stack.push(cursor); show(nextCursor); });

  const table = h("table", { class: "grid" },
    caption ? h("caption", { class: "sr" }, caption) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
    body);
  return {
    el: h("div", { class: "paged" }, h("div", { class: "scroll" }, table),
      h("div", { class: "pager" }, prev, status, next)),
    reload: () => show(cursor),
    first: () => { stack.length = 0; return show(null); },
    onFirstPage: () => stack.length === 0,
  };
}

export function stateBadge(state) {
  return h("span", { class: `badge state-${state}` }, label("state", state));
}

export function liveBadge() {
  const el = h("span", { class: "live off", role: "status" }, t("live.connecting"));
  return {
    el,
    set(on) {
      el.className = `live ${on ? "on" : "off"}`;
      el.textContent = on ? t("live.on") : t("live.off");
    },
  };
}

export function field(labelText, control) {
  return h("label", { class: "field" }, h("span", {}, labelText), control);
}

export function pageHead(title, ...extra) {
  return h("div", { class: "page-head" }, h("h1", {}, title), h("div", { class: "actions" }, extra));
}
