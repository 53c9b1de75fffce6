// Sources: each source's directory tree with each file's state, the auto-upload switch
// (pause / resume, with who flipped it) and a manual upload by file picker or drag and drop.
import { api, upload } from "../api.js";
import { h, put } from "../dom.js";
import { fmtBytes, fmtTime } from "../format.js";
import { label, t } from "../i18n.js";
import { session } from "../session.js";
import { errorText, pageHead, showError, stateBadge, toast } from "../ui.js";

function switchRow(src, reload) {
  const paused = !!src.paused;
  const flip = async () => {
    try {
      await api(`sources/${encodeURIComponent(src.name)}/${paused ? "resume" : "pause"}`, { method: "POST" });
      toast(t(paused ? "sources.resumed" : "sources.paused_now", { name: src.name }));
      reload();
    } catch (err) {
      toast(errorText(err), "error");
    }
  };
  const who = src.paused_by;
  return h("div", { class: "switch-row" },
    h("span", { class: `badge ${paused ? "state-failed" : "state-succeeded"}` }, t(paused ? "sources.paused" : "sources.running")),
    who ? h("span", { class: "muted" }, t(paused ? "sources.paused_by" : "sources.resumed_by", { who, at: fmtTime(src.paused_at) })) : null,
    session.can("sources.pause") ? h("button", { type: "button", "data-action": paused ? "resume" : "pause", onclick: flip }, t(paused ? "sources.resume" : "sources.pause")) : null);
}

function treeView(name) {
  const box = h("div", { class: "tree" });
  async function open(path, into) {
    let body;
    try {
      body = await api(`sources/${encodeURIComponent(name)}/tree`, { query: { path } });
    } catch (err) {
      showError(into, err);
      return;
    }
    const entries = body.entries;
    put(into, entries.length ? h("ul", {}, entries.map((e) => {
      const child = path ? `${path}/${e.name}` : e.name;
      if (e.kind === "dir") {
        const sub = h("div");
        const btn = h("button", { type: "button", class: "link", "aria-expanded": "false" }, `▸ ${e.name}/`);
        btn.addEventListener("click", () => {
          const openNow = btn.getAttribute("aria-expanded") !== "true";
          btn.setAttribute("aria-expanded", String(openNow));
          btn.textContent = `${openNow ? "▾" : "▸"} ${e.name}/`;
          if (openNow) open(child, sub); else put(sub);
        });
        return h("li", { class: "dir" }, btn, sub);
      }
      return h("li", { class: "file", "data-file": child },
        e.event_id ? h("a", { href: `/console/files/${e.event_id}`, "data-link": true }, e.name) : h("span", {}, e.name),
        " ", e.state ? stateBadge(e.state) : h("span", { class: "badge" }, t("sources.not_seen")),
        " ", h("span", { class: "muted small" }, fmtBytes(e.size)));
    })) : h("p", { class: "muted" }, t("sources.empty_dir")));
  }
  open("", box);
  return box;
}

function uploader(name) {
  const input = h("input", { type: "file", multiple: true, id: `upload-${name}`, class: "sr" });
  const list = h("ul", { class: "uploads plain" });
  const send = (files) => {
    for (const file of files) {
      const bar = h("progress", { max: 1, value: 0, "aria-label": file.name });
      const note = h("span", { class: "muted small" });
      list.append(h("li", {}, h("span", { class: "path" }, file.name), " ", bar, " ", note));
      upload(`sources/${encodeURIComponent(name)}/files`, file, (f) => { bar.value = f; })
        .then(() => { note.textContent = t("sources.uploaded"); })
        .catch((err) => { note.textContent = errorText(err); note.className = "error small"; });
    }
  };
  input.addEventListener("change", () => { send(input.files); input.value = ""; });
  const zone = h("div", { class: "drop", "data-drop": name },
    h("label", { for: input.id, class: "button secondary", tabindex: "0",
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } } }, t("sources.choose")),
    " ", h("span", { class: "muted" }, t("sources.drop_here")), input);
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); send(e.dataTransfer.files); });
  return h("div", {}, zone, list);
}

function sourceCard(src, reload) {
  return h("section", { class: "card source", "data-source": src.name },
    h("h2", {}, src.name, " ", h("span", { class: "muted small path" }, src.root || ""),
      src.last_file ? h("span", { class: "muted small" }, " · ", t("sources.last_file"), " ",
        h("a", { href: `/console/files/${src.last_file.id}`, "data-link": true }, src.last_file.relpath)) : null),
    h("p", { class: "muted small" }, t("sources.counts_24h"), " ",
      Object.entries(src.counts_24h).map(([state, n]) => `${label("state", state)} ${n}`).join(" · ") || "—"),
    switchRow(src, reload),
    session.can("sources.upload") ? [h("h3", {}, t("sources.upload")), uploader(src.name)] : null,
    h("h3", {}, t("sources.tree")), treeView(src.name));
}

export async function render({ main }) {
  const body = h("div", { class: "sources" });
  put(main, pageHead(t("nav.sources")), body);
  async function load() {
    try {
      const sources = await api("sources");
      put(body, sources.length ? sources.map((src) => sourceCard(src, load)) : h("p", { class: "muted" }, t("table.empty")));
    } catch (err) {
      showError(body, err);
    }
  }
  await load();
}
