// The editors' page: suggest, decide on chips with mouse or keyboard, save to /feedback.
"use strict";

const $ = (id) => document.getElementById(id);
let current = null; // {article, suggestions, tags: Map(label -> tag), section: {top, chosen}}

function status(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.className = kind || "";
}

function token() { return $("token").value.trim(); }

async function call(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (token()) headers.Authorization = "Bearer " + token();
  const response = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) {
    let detail = data && data.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => (d.loc || []).slice(1).join(".") + ": " + d.msg).join("; ");
    throw new Error(`${response.status}: ${detail || response.statusText}`);
  }
  return data;
}

async function whoami() {
  localStorage.setItem("tagger-token", token());
  if (!token()) { $("whoami").textContent = ""; return; }
  try {
    const data = await call("GET", "/whoami");
    $("whoami").textContent = "signed in as " + data.editor;
  } catch (e) {
    $("whoami").textContent = "token not accepted";
  }
}

async function loadLabels() {
  try {
    const data = await call("GET", "/labels");
    const list = $("tag-vocab");
    list.replaceChildren(...data.tags.map((t) => Object.assign(document.createElement("option"), { value: t })));
  } catch (e) { status("could not load the label vocabulary: " + e.message, "error"); }
}

function pct(score) { return score == null ? "" : Math.round(score * 100) + "%"; }

function evidenceText(item) {
  const terms = (item.evidence || []).map((e) => e.value);
  return terms.length ? `${item.label}: ${terms.join(", ")}` : `${item.label}: no evidence shown`;
}

async function suggest() {
  const title = $("title").value, body = $("body").value;
  if (!title.trim() && !body.trim()) { status("paste or load an article first", "error"); return; }
  const article = { title, body };
  if ($("article-id").value.trim()) article.id = $("article-id").value.trim();
  status("suggesting…");
  try {
    const data = await call("POST", "/suggest", { article, top_k: 8 });
    const s = data.suggestions[0];
    article.id = s.id;
    if (!$("article-id").value.trim()) {
      $("article-id").value = s.id;
      $("article-id").dataset.auto = "1"; // derived from the text: cleared when it changes
    }
    const tags = new Map();
    for (const t of [...s.tags, ...s.tag_candidates]) {
      if (!tags.has(t.label)) tags.set(t.label, { ...t, state: "pending" });
    }
    current = { article, suggestions: s, tags, section: { top: s.section ? s.section.label : null, chosen: null } };
    render();
    $("result").hidden = false;
    status(`${s.tags.length} tag(s) over their threshold; model ${data.model.name} (${data.model.id})`);
    const first = document.querySelector("#tags .chip");
    if (first) first.focus();
  } catch (e) { status(e.message, "error"); }
}

function chip(item, kind) {
  const el = document.createElement("span");
  el.className = "chip " + (item.selected ? "suggested" : "candidate");
  el.tabIndex = 0;
  el.dataset.label = item.label;
  el.dataset.kind = kind;
  el.dataset.state = item.state || "pending";
  el.setAttribute("role", kind === "section" ? "option" : "listitem");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = item.label;
  const score = document.createElement("span");
  score.className = "score";
  score.textContent = item.source === "editor" ? "added" : pct(item.score);
  el.append(name, score);
  const yes = document.createElement("button");
  yes.type = "button"; yes.className = "accept"; yes.textContent = "✓";
  yes.title = kind === "section" ? "choose this section" : "accept";
  yes.tabIndex = -1;
  yes.addEventListener("click", () => decide(kind, item.label, "accept"));
  el.append(yes);
  if (kind === "tag") {
    const no = document.createElement("button");
    no.type = "button"; no.className = "reject"; no.textContent = "✗"; no.title = "reject"; no.tabIndex = -1;
    no.addEventListener("click", () => decide(kind, item.label, "reject"));
    el.append(no);
  }
  el.addEventListener("focus", () => { $("evidence").textContent = evidenceText(item); });
  el.addEventListener("keydown", (event) => onChipKey(event, kind, item.label));
  return el;
}

function render() {
  const s = current.suggestions;
  $("sections").replaceChildren(...s.section_candidates.map((c) => {
    const state = current.section.chosen === c.label ? "chosen" : "pending";
    return chip({ ...c, state }, "section");
  }));
  $("tags").replaceChildren(...[...current.tags.values()].map((t) => chip(t, "tag")));
}

function decide(kind, label, action) {
  if (!current) return;
  if (kind === "section") {
    current.section.chosen = action === "accept" ? label : null;
  } else {
    const tag = current.tags.get(label);
    if (!tag) return;
    if (action === "accept") tag.state = tag.source === "editor" ? "added" : "accepted";
    else if (action === "reject") {
      if (tag.source === "editor") current.tags.delete(label); else tag.state = "rejected";
    } else tag.state = "pending";
  }
  render();
  const again = document.querySelector(`#${kind === "section" ? "sections" : "tags"} .chip[data-label="${CSS.escape(label)}"]`);
  if (again) again.focus();
}

function onChipKey(event, kind, label) {
  const chips = [...event.currentTarget.parentElement.querySelectorAll(".chip")];
  const i = chips.indexOf(event.currentTarget);
  const key = event.key;
  if (key === "a" || key === "Enter") decide(kind, label, "accept");
  else if (kind === "tag" && (key === "r" || key === "Delete" || key === "Backspace")) decide(kind, label, "reject");
  else if (key === "u") decide(kind, label, "clear");
  else if (key === "ArrowRight" || key === "ArrowDown") chips[Math.min(i + 1, chips.length - 1)].focus();
  else if (key === "ArrowLeft" || key === "ArrowUp") chips[Math.max(i - 1, 0)].focus();
  else if (key === "+") $("add-tag").focus();
  else return;
  event.preventDefault();
}

function addTag() {
  const label = $("add-tag").value.trim();
  if (!current || !label) return;
  const existing = current.tags.get(label);
  if (existing) existing.state = "accepted";
  else current.tags.set(label, { label, score: null, selected: false, evidence: [], source: "editor", state: "added" });
  $("add-tag").value = "";
  render();
  status(`added ${label}`);
}

async function save() {
  if (!current) return;
  const decisions = [];
  for (const tag of current.tags.values()) {
    if (tag.state === "accepted") decisions.push({ action: "accept", kind: "tag", label: tag.label });
    else if (tag.state === "rejected") decisions.push({ action: "reject", kind: "tag", label: tag.label });
    else if (tag.state === "added") decisions.push({ action: "add", kind: "tag", label: tag.label });
  }
  const chosen = current.section.chosen;
  if (chosen) decisions.push({ action: chosen === current.section.top ? "accept" : "section", kind: "section", label: chosen });
  if (!decisions.length) { status("nothing decided yet", "error"); return; }
  if (!token()) { status("enter your editor token to save", "error"); $("token").focus(); return; }
  try {
    const data = await call("POST", "/feedback", {
      article: current.article, suggestions: current.suggestions, decisions, done: true,
    });
    status(`Saved ${data.decisions.length} decision(s) for ${data.article_id} as ${data.editor}`, "ok");
  } catch (e) { status("not saved: " + e.message, "error"); }
}

function loadFile(event) {
  const file = event.target.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    const text = String(reader.result);
    if (/\.jsonl?$/i.test(file.name)) {
      try {
        const obj = JSON.parse(text.split("\n").find((l) => l.trim()) || "{}");
        $("title").value = obj.title || obj.headline || "";
        $("body").value = obj.body || obj.text || obj.content || "";
        $("article-id").value = obj.id || "";
        delete $("article-id").dataset.auto;
      } catch (e) { status(`${file.name}: not valid JSON (${e.message})`, "error"); return; }
    } else {
      const lines = text.replace(/\r\n?/g, "\n").split("\n");
      const first = lines.findIndex((l) => l.trim());
      $("title").value = first >= 0 ? lines[first].trim() : "";
      $("body").value = lines.slice(first + 1).join("\n").trim();
      $("article-id").value = "";
      delete $("article-id").dataset.auto;
    }
    status(`loaded ${file.name}`);
  };
  reader.readAsText(file);
}

document.addEventListener("DOMContentLoaded", () => {
  $("token").value = localStorage.getItem("tagger-token") || "";
  $("token").addEventListener("change", whoami);
  $("suggest").addEventListener("click", suggest);
  $("add").addEventListener("click", addTag);
  $("add-tag").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addTag(); } });
  $("save").addEventListener("click", save);
  $("file").addEventListener("change", loadFile);
  const textChanged = () => {
    if ($("article-id").dataset.auto) { $("article-id").value = ""; delete $("article-id").dataset.auto; }
  };
  $("title").addEventListener("input", textChanged);
  $("body").addEventListener("input", textChanged);
  $("article-id").addEventListener("input", () => { delete $("article-id").dataset.auto; });
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); suggest(); }
    if ((e.ctrlKey || e.metaKey) && e.key === "s") { e.preventDefault(); save(); }
  });
  loadLabels();
  whoami();
});
