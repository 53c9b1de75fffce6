// The console's only way to the server: the HTTP API under /api/v1. The session is an
// HttpOnly cookie; every request that changes something carries the CSRF token that came
// with the session.

const BASE = "/api/v1/";
const CSRF_KEY = "filerelay.csrf";
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** Called with no argument whenever the API says the session is gone (HTTP 401). */
export function onUnauthorized(fn) {
  listeners.add(fn);
}

export function setCsrf(token) {
  if (token) localStorage.setItem(CSRF_KEY, token);
  else localStorage.removeItem(CSRF_KEY);
}

export function url(path, query) {
  const u = new URL(BASE + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  }
  return u;
}

async function problemOf(r) {
  try {
    const body = await r.json();
    if (typeof body.detail === "string" || body.title) return body;
    if (Array.isArray(body.detail)) {
      return { ...body, detail: body.detail.map((e) => e.msg || JSON.stringify(e)).join("; ") };
    }
    return { detail: JSON.stringify(body) };
  } catch {
    return { detail: r.statusText };
  }
}

function headersFor(method, json) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = localStorage.getItem(CSRF_KEY) || "";
  if (json) headers["Content-Type"] = "application/json";
  return headers;
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** Call the API: api("events", {query: {limit: 50}}), api("sources/a/pause", {method: "POST"}). */
export async function api(path, { method = "GET", query, body, quiet401 = false } = {}) {
  const json = body !== undefined && !(body instanceof FormData);
  const send = () => fetch(url(path, query), {
    method,
    headers: headersFor(method, json),
    body: json ? JSON.stringify(body) : body,
    credentials: "same-origin",
  });
  let r = await send();
  // 503 says "try again" (e.g. a busy SQLite store): a read is asked again, twice at most.
  for (const wait of [300, 1000]) {
    if (r.status !== 503 || method !== "GET") break;
    await sleep(wait);
    r = await send();
  }
  if (r.status === 401 && !quiet401) listeners.forEach((fn) => fn());
  if (!r.ok) throw new ApiError(r.status, await problemOf(r));
  if (r.status === 204) return null;
  const type = r.headers.get("Content-Type") || "";
  return type.includes("json") ? r.json() : r.text();
}

/** Upload one file as multipart form data, reporting progress as a 0..1 fraction. */
export function upload(path, file, onProgress, fields = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url(path));
    xhr.setRequestHeader("X-CSRF-Token", localStorage.getItem(CSRF_KEY) || "");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError(0, { detail: "network error" }));
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText || "{}"); } catch { body = {}; }
      if (xhr.status >= 200 && xhr.status < 300) { onProgress(1); resolve(body); return; }
      reject(new ApiError(xhr.status, { detail: body.detail || body.title || xhr.statusText }));
    };
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) if (v) form.append(k, v);
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

/** Exchange a token for the session cookie; keeps the CSRF token for later requests. */
export async function login(token) {
  const body = await api("session", { method: "POST", body: { token }, quiet401: true });
  setCsrf(body.csrf_token);
  return body;
}

export async function logout() {
  try { await api("session", { method: "DELETE", quiet401: true }); } finally { setCsrf(""); }
}
