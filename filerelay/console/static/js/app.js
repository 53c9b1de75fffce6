// The console's entry point: the session (a ?token= in the address is exchanged for the
// cookie and removed from the address bar), the page router, the navigation and the
// language switch.
import { api, login, logout, onUnauthorized } from "./api.js";
import { h, put } from "./dom.js";
import { timeZone } from "./format.js";
import { language, pickLanguage, setLanguage, t } from "./i18n.js";
import { session } from "./session.js";
import { field, toast, errorText } from "./ui.js";

const PAGES = [
  { path: "", key: "nav.dashboard", module: "dashboard" },
  { path: "files", key: "nav.files", module: "files" },
  { path: "sources", key: "nav.sources", module: "sources" },
  { path: "agents", key: "nav.agents", module: "agents" },
  { path: "config", key: "nav.config", module: "config" },
  { path: "alerts", key: "nav.alerts", module: "alerts" },
  { path: "logs", key: "nav.logs", module: "logs" },
  { path: "reports", key: "nav.reports", module: "reports" },
  { path: "fleet", key: "nav.fleet", module: "fleet" },
  { path: "audit", key: "nav.audit", module: "audit", action: "audit.read" },
];
const ROOT = "/console/";
let leave = [];

function route() {
  const rest = location.pathname.startsWith(ROOT) ? location.pathname.slice(ROOT.length) : "";
  const [first, ...more] = rest.split("/").filter(Boolean).map(decodeURIComponent);
  const page = PAGES.find((p) => p.path === (first || "")) || null;
  if (page && page.module === "files" && more.length) return { module: "file", params: { id: more.join("/") }, nav: page };
  return page ? { module: page.module, params: { rest: more }, nav: page } : null;
}

/** Go to a console address without reloading the page. */
export function navigate(href, replace = false) {
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  render();
}

function drawNav(current) {
  const nav = document.getElementById("nav");
  put(nav, h("ul", {}, PAGES.filter((p) => !p.action || session.can(p.action)).map((p) =>
    h("li", {}, h("a", {
      href: ROOT + p.path, "data-link": true,
      "aria-current": current && current.nav === p ? "page" : null,
    }, t(p.key))))));
  const who = document.getElementById("who");
  put(who, session.me
    ? [h("span", { class: "muted" }, `${session.me.name} · ${t(`role.${session.me.role}`)}`),
      h("button", { type: "button", class: "link", onclick: doLogout }, t("login.logout"))]
    : []);
  document.getElementById("lang-label").textContent = t("lang.label");
  document.getElementById("skip").textContent = t("nav.skip");
  put(document.getElementById("foot"), t("foot.timezone", { tz: timeZone() }));
}

async function doLogout() {
  await logout();
  session.me = null;
  render();
}

function loginPage(main) {
  const input = h("input", { type: "password", name: "token", autocomplete: "current-password", required: true });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "card login", onsubmit: async (e) => {
    e.preventDefault();
    error.textContent = "";
    try {
      await login(input.value.trim());
      await session.load();
      render();
    } catch (err) {
      error.textContent = err.status === 401 || err.status === 403 ? t("login.bad_token") : errorText(err);
    }
  } },
  h("h1", {}, t("login.title")), h("p", { class: "muted" }, t("login.help")),
  field(t("login.token"), input), h("button", { type: "submit" }, t("login.submit")), error);
  put(main, form);
  input.focus();
}

async function render() {
  leave.forEach((fn) => { try { fn(); } catch { /* a page's cleanup never blocks the next */ } });
  leave = [];
  const main = document.getElementById("main");
  const current = session.me ? route() : null;
  drawNav(current);
  if (!session.me) { loginPage(main); return; }
  if (!current || (current.nav.action && !session.can(current.nav.action))) {
    put(main, h("h1", {}, t("error.not_found")));
    return;
  }
  document.title = `${t(current.nav.key)} · filerelay`;
  put(main, h("p", { class: "muted" }, t("table.loading")));
  try {
    const page = await import(`./pages/${current.module}.js`);
    await page.render({ main, params: current.params, onLeave: (fn) => leave.push(fn), navigate });
  } catch (err) {
    put(main, h("p", { class: "error", role: "alert" }, errorText(err)));
  }
}

async function tokenFromAddress() {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  if (!token) return;
  params.delete("token");
  const rest = params.toString();
  // Out of the address bar (and the history) before anything else happens.
  history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  try {
    await login(token);
  } catch (err) {
    toast(t("login.bad_token"), "error");
  }
}

async function start() {
  await setLanguage(pickLanguage());
  const select = document.getElementById("lang");
  select.value = language();
  select.addEventListener("change", async () => { await setLanguage(select.value, true); render(); });
  onUnauthorized(() => { if (session.me) { session.me = null; render(); } });
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[data-link]");
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(a.getAttribute("href"));
  });
  window.addEventListener("popstate", render);
  await tokenFromAddress();
  await session.load();
  render();
}

start();
