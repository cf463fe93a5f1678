// The editors' page: suggest, decide on chips with mouse or keyboard, save to /feedback.
"use strict";

const $ = (id) => document.getElementById(id);
// current: {article, suggestions, tags: Map(label -> tag), section: {top, states: Map(label -> state)},
//           saved: Map("kind:label" -> action already stored)}
let current = null;
// label -> {id, parent} of vocabulary concepts: the model's tags and completions seen
const concepts = new Map();
const MIN_SECTION_SCORE = 0.05; // section candidates under this are hidden (the top one always shows)

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
  editorName = null;
  if (!token()) { $("whoami").textContent = ""; return; }
  try {
    const data = await call("GET", "/whoami");
    editorName = data.editor;
    $("whoami").textContent = "signed in as " + data.editor;
  } catch (e) {
    $("whoami").textContent = "token not accepted";
  }
}

async function loadLabels() {
  try {
    const data = await call("GET", "/labels");
    for (const [label, c] of Object.entries(data.concepts || {})) concepts.set(label, c);
    fillCompletions(data.tags.map((t) => ({ label: t, ...(concepts.get(t) || {}) })));
  } catch (e) { status("could not load the label vocabulary: " + e.message, "error"); }
}

function conceptText(c) {
  return c && c.id ? c.id + (c.parent ? " · in " + c.parent.label : "") : "";
}

function fillCompletions(items) {
  $("tag-vocab").replaceChildren(...items.map((c) =>
    Object.assign(document.createElement("option"), { value: c.label, label: conceptText(c) || c.label })));
}

function showConcept() {
  $("tag-concept").textContent = conceptText(concepts.get($("add-tag").value.trim()));
}

let completing = 0;
async function completeTag() {
  // Preferred labels and aliases of current concepts (never retired), with id and parent.
  showConcept();
  const q = $("add-tag").value.trim();
  if (!q) return;
  const ticket = ++completing;
  try {
    const data = await call("GET", "/vocab/complete?limit=12&q=" + encodeURIComponent(q));
    if (ticket !== completing) return; // an older answer arriving late
    for (const c of data.concepts) if (c.id) concepts.set(c.label, { id: c.id, parent: c.parent });
    fillCompletions(data.concepts);
    showConcept();
  } catch (e) { /* completion helps; typing still works without it */ }
}

function pct(score) { return score == null ? "" : Math.round(score * 100) + "%"; }

// The same text as the table and the review screen (tagger.suggestions.evidence_text):
// each term or entity with its contribution, as rounded in the JSON.
function evidenceText(item) {
  const terms = (item.evidence || []).map((e) => `${e.value} (${Number(e.weight || 0).toFixed(4)})`);
  return terms.length ? `${item.label}: ${terms.join(", ")}` : `${item.label}: no evidence shown`;
}

async function suggest() {
  const title = $("title").value, body = $("body").value;
  if (!title.trim() && !body.trim()) { status("paste or load an article first", "error"); return; }
  const article = { title, body };
  if ($("article-id").value.trim()) article.id = $("article-id").value.trim();
  status("suggesting…");
  try {
    const data = await call("POST", "/suggest", { article, top_k: 8, entities: true });
    const s = data.suggestions[0];
    article.id = s.id;
    if (!$("article-id").value.trim()) {
      $("article-id").value = s.id;
      $("article-id").dataset.auto = "1"; // derived from the text: cleared when it changes
    }
    show(article, data);
  } catch (e) { status(e.message, "error"); }
}

function show(article, data) {
  // The suggestions for an article (from /suggest or the queue) as chips, first tag focused.
  const s = data.suggestions[0];
  const tags = new Map();
  for (const t of [...s.tags, ...s.tag_candidates]) {
    if (!tags.has(t.label)) tags.set(t.label, { ...t, state: "pending" });
  }
  current = {
    article, suggestions: s, tags, saved: new Map(),
    section: { top: s.section ? s.section.label : null, states: new Map() },
  };
  render();
  $("result").hidden = false;
  const version = data.model.version ? ` ${data.model.version}` : "";
  status(`${s.tags.length} tag(s) over their threshold; model ${data.model.name}${version} (${data.model.id})`);
  const first = document.querySelector("#tags .chip");
  if (first) first.focus();
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
  const concept = concepts.get(item.label) || (item.id ? { id: item.id } : null);
  if (concept && concept.id) el.title = conceptText(concept);
  const score = document.createElement("span");
  score.className = "score";
  score.textContent = item.source === "editor" ? "added" : pct(item.score);
  el.append(name, score);
  const added = item.source === "editor";
  if (!added) { // an added tag is already accepted: it only needs a way out
    const yes = document.createElement("button");
    yes.type = "button"; yes.className = "accept"; yes.textContent = "✓";
    yes.title = kind === "section" ? "choose this section" : "accept";
    yes.tabIndex = -1;
    yes.addEventListener("click", () => decide(kind, item.label, "accept"));
    el.append(yes);
  }
  const no = document.createElement("button");
  no.type = "button"; no.className = "reject"; no.textContent = "✗"; no.tabIndex = -1;
  no.title = added ? "remove" : kind === "section" ? "reject this section" : "reject";
  no.addEventListener("click", () => decide(kind, item.label, "reject"));
  el.append(no);
  el.addEventListener("focus", () => { $("evidence").textContent = evidenceText(item); });
  el.addEventListener("keydown", (event) => onChipKey(event, kind, item.label));
  return el;
}

function entityChip(entity) {
  const el = document.createElement("span");
  el.className = "entity";
  el.dataset.type = entity.type || "";
  el.title = `${entity.count || 1} mention(s), salience ${entity.salience ?? "?"}`;
  const name = document.createElement("span");
  name.textContent = entity.name || entity.text || "";
  const type = document.createElement("span");
  type.className = "type";
  type.textContent = entity.type || "";
  el.append(name, type);
  return el;
}

function visibleSections() {
  // Clutter-free: the top candidate, others only with a real score, and any already decided.
  const states = current.section.states;
  return current.suggestions.section_candidates.filter(
    (c, i) => i === 0 || (c.score || 0) >= MIN_SECTION_SCORE || states.has(c.label),
  );
}

function render() {
  const s = current.suggestions;
  const states = current.section.states;
  $("sections").replaceChildren(...visibleSections().map((c) => chip({ ...c, state: states.get(c.label) || "pending" }, "section")));
  $("tags").replaceChildren(...[...current.tags.values()].map((t) => chip(t, "tag")));
  const entities = s.entities || []; // ranked by salience already
  $("entities").replaceChildren(...entities.map(entityChip));
  $("entities-block").hidden = !entities.length;
}

function decide(kind, label, action) {
  if (!current) return;
  if (kind === "section") {
    const states = current.section.states;
    if (action === "accept") {
      for (const [other, state] of states) if (state === "chosen") states.delete(other);
      states.set(label, "chosen");
    } else if (action === "reject") states.set(label, "rejected");
    else states.delete(label);
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
  else if (key === "r" || key === "Delete" || key === "Backspace") decide(kind, label, "reject");
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
  $("tag-concept").textContent = "";
  render();
  status(`added ${label}`);
}

const TAG_ACTIONS = { accepted: "accept", rejected: "reject", added: "add" };

function wanted() {
  // What the page shows as decided: Map("kind:label" -> {action, kind, label}), sections last-chosen.
  const out = new Map();
  for (const tag of current.tags.values()) {
    const action = TAG_ACTIONS[tag.state];
    if (!action) continue;
    const d = { action, kind: "tag", label: tag.label };
    const concept = tag.id || (concepts.get(tag.label) || {}).id;
    if (concept) d.concept_id = concept; // stored with the decision
    out.set("tag:" + tag.label, d);
  }
  // Rejections first: one section per article, so the chosen one must be the latest decision.
  const states = [...current.section.states].sort((a, b) => (a[1] === "chosen") - (b[1] === "chosen"));
  for (const [label, state] of states) {
    const action = state === "rejected" ? "reject" : label === current.section.top ? "accept" : "section";
    out.set("section:" + label, { action, kind: "section", label });
  }
  return out;
}

function unsaved() {
  // Only what changed since the last save: a second Save with nothing new posts nothing.
  const want = wanted(), decisions = [];
  for (const [key, d] of want) if (current.saved.get(key) !== d.action) decisions.push(d);
  // An undo takes back the editor's latest decision on the key, and an article has one
  // section key: while some section stays decided, a cleared one is moot, so left alone.
  const sectionWanted = [...want.keys()].some((k) => k.startsWith("section:"));
  for (const [key, action] of current.saved) {
    if (!want.has(key) && action !== "undo") {
      const [kind, ...rest] = key.split(":");
      if (kind === "section" && sectionWanted) continue;
      decisions.push({ action: "undo", kind, label: rest.join(":") });
    }
  }
  return decisions;
}

let saving = false;

async function save(finish) {
  // Outside the queue every save finishes the article (as it always did); in the queue
  // Ctrl+S keeps the lease and "Done, next" (finish) finishes it, decided or not.
  if (!current || saving) return false;
  const decisions = unsaved();
  const done = !queue || finish === true;
  if (!decisions.length && !(queue && finish)) {
    status(current.saved.size ? "nothing new to save" : "nothing decided yet", current.saved.size ? "" : "error");
    return false;
  }
  if (!token()) { status("enter your editor token to save", "error"); $("token").focus(); return false; }
  saving = true; // Ctrl+S twice in a row must not post the same decisions twice
  try {
    const which = queue ? { article_id: current.article.id } : { article: current.article };
    const data = await call("POST", "/feedback", {
      ...which, suggestions: current.suggestions, decisions, done,
    });
    for (const d of decisions) {
      const key = d.kind + ":" + d.label;
      if (d.action === "undo") current.saved.delete(key); else current.saved.set(key, d.action);
    }
    status(`Saved ${data.decisions.length} decision(s) for ${data.article_id} as ${data.editor}`, "ok");
    return true;
  } catch (e) { status("not saved: " + e.message, "error"); return false; }
  finally { saving = false; }
}

// -- the review queue: the page opens on the editor's next article when one waits --------

let queue = null; // {lease, skipped: [article ids], timer}
let editorName = null;

function showCounts(c) {
  const mine = (c.editors || {})[editorName] || { done: 0, leased: 0 };
  $("queue-bar").textContent = `Review queue: ${c.waiting} waiting · ${c.leased} leased · ${c.done} done`
    + (editorName ? ` · ${editorName}: ${mine.done} done` : "");
  $("queue-bar").hidden = false;
}

function leaveQueue(message) {
  if (queue) clearInterval(queue.timer);
  queue = null;
  $("queue-article").hidden = true;
  $("input").hidden = false;
  if (message) { $("result").hidden = true; current = null; status(message); }
}

let asking = false; // one /queue/next at a time (a token's change event may fire twice)

async function nextInQueue(skip) {
  if (!token() || !editorName || asking) return false;
  asking = true;
  try { return await askQueue(skip); } finally { asking = false; }
}

async function askQueue(skip) {
  const skipped = queue ? queue.skipped : [];
  if (skip && queue) skipped.push(queue.lease.article_id);
  let data;
  try { data = await call("POST", "/queue/next", { skip: skipped, top_k: 8 }); }
  catch (e) { status("review queue: " + e.message, "error"); return false; }
  showCounts(data.counts);
  if (!data.article) {
    leaveQueue(queue ? "the review queue is empty: nothing else waits for you" : "");
    return false;
  }
  if (queue && !skip && current && current.article.id === data.article.id) {
    queue.lease = data.lease; // the article on screen, renewed: keep what was decided
    return true;
  }
  if (queue) clearInterval(queue.timer);
  const every = Math.max(5, data.lease.seconds / 3) * 1000;
  queue = { lease: data.lease, skipped, timer: setInterval(renewLease, every) };
  $("input").hidden = true;
  $("queue-article").hidden = false;
  $("q-title").textContent = data.article.title;
  $("q-body").textContent = data.article.body;
  const { id, title, body } = data.article;
  show({ id, title, body }, data);
  return true;
}

async function renewLease() {
  if (!queue) return;
  try { await call("POST", `/queue/${encodeURIComponent(queue.lease.article_id)}/renew`); }
  catch (e) { status("lease lost: " + e.message, "error"); }
}

async function finishAndNext() {
  if (!queue) return;
  if (await save(true)) await nextInQueue(false);
}

function typing(event) {
  const tag = event.target && event.target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA";
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
  let checked = null; // the token last signed in with (change fires again on blur)
  $("token").addEventListener("change", () => {
    if (token() === checked) return;
    checked = token();
    whoami().then(() => nextInQueue(false));
  });
  $("queue-next").addEventListener("click", finishAndNext);
  $("queue-skip").addEventListener("click", () => nextInQueue(true));
  $("suggest").addEventListener("click", suggest);
  $("add").addEventListener("click", addTag);
  $("add-tag").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addTag(); } });
  $("add-tag").addEventListener("input", completeTag);
  $("save").addEventListener("click", () => save());
  $("file").addEventListener("change", loadFile);
  const textChanged = () => {
    if ($("article-id").dataset.auto) { $("article-id").value = ""; delete $("article-id").dataset.auto; }
  };
  $("title").addEventListener("input", textChanged);
  $("body").addEventListener("input", textChanged);
  $("article-id").addEventListener("input", () => { delete $("article-id").dataset.auto; });
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); if (queue) finishAndNext(); else suggest(); }
    if ((e.ctrlKey || e.metaKey) && e.key === "s") { e.preventDefault(); save(); }
    if (queue && !typing(e) && !e.ctrlKey && !e.metaKey && !e.altKey) {
      if (e.key === "n") { e.preventDefault(); finishAndNext(); }
      if (e.key === "s") { e.preventDefault(); nextInQueue(true); }
    }
  });
  loadLabels();
  checked = token();
  whoami().then(() => nextInQueue(false));
});
