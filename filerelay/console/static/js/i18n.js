// English and Simplified Chinese. The language comes from the saved choice, else the
// browser's languages; t() falls back to English, then to the key itself.

const LANGS = ["en", "zh-CN"];
const STORE_KEY = "filerelay.lang";
let current = "en";
let messages = {};
let english = {};

async function load(lang) {
  const r = await fetch(`/console/static/i18n/${lang}.json`, { credentials: "same-origin" });
  return r.json();
}

/** The language to use: a saved choice first, then the browser's preference. */
export function pickLanguage() {
  const saved = localStorage.getItem(STORE_KEY);
  if (LANGS.includes(saved)) return saved;
  for (const lang of navigator.languages || [navigator.language || "en"]) {
    if (lang.toLowerCase().startsWith("zh")) return "zh-CN";
    if (lang.toLowerCase().startsWith("en")) return "en";
  }
  return "en";
}

export async function setLanguage(lang, save = false) {
  current = LANGS.includes(lang) ? lang : "en";
  if (save) localStorage.setItem(STORE_KEY, current);
  english = Object.keys(english).length ? english : await load("en");
  messages = current === "en" ? english : await load(current);
  document.documentElement.lang = current;
}

export function language() {
  return current;
}

/** The message for key, with {name} placeholders filled from vars. */
export function t(key, vars) {
  const text = messages[key] ?? english[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** A state or enum value shown in the current language when a message exists for it. */
export function label(group, value) {
  const key = `${group}.${value}`;
  return key in messages || key in english ? t(key) : String(value);
}
