// The conflux dev dashboard: polls /api/state, posts through /api/post and
// pauses or resumes a feed's consumer through /api/pause and /api/resume.
"use strict";

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function api(method, path, body) {
  const resp = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await resp.json();
  if (!resp.ok) throw new Error(data.error || resp.statusText);
  return data;
}

function renderStages(stages) {
  const tbody = $("#stages tbody");
  tbody.replaceChildren();
  for (const s of stages) {
    const action = el("td");
    if (s.pausable) {
      const b = el("button", { "data-consumer": s.name, class: "toggle" }, s.paused ? "resume" : "pause");
      b.onclick = () => api("POST", "/api/" + (s.paused ? "resume" : "pause") + "?consumer=" + encodeURIComponent(s.name)).then(refresh);
      action.append(b);
      if (s.paused) action.append(" ", el("span", { class: "paused" }, "paused"));
    } else if (s.consumer) {
      action.append(el("span", { class: "note" }, "cannot pause"));
    }
    tbody.append(el("tr", { "data-stage": s.name },
      el("td", {}, s.name + (s.consumer ? " (consumer)" : " (log head)")),
      el("td", { class: "num seq" }, s.seq),
      el("td", { class: "num lag" }, s.consumer ? s.lag : ""),
      action));
  }
}

function renderPosts(posts, feeds) {
  const box = $("#posts");
  box.replaceChildren();
  for (const p of posts) {
    const stages = ["host a", "relay", "appview", ...feeds.slice().sort()];
    const hops = el("ul", { class: "hops" });
    for (const stage of stages) {
      const h = p.hops.find((x) => x.stage === stage);
      let label = stage + ": " + (h ? h.ms + " ms" : p.done ? "not matched" : "waiting");
      if (h && h.seq) label += " (seq " + h.seq + ")";
      hops.append(el("li", { class: "hop" + (h ? " reached" : ""), "data-hop": stage, "data-ms": h ? h.ms : "" }, label));
    }
    box.append(el("div", { class: "post", "data-uri": p.uri },
      el("div", {}, p.text, " ", el("span", { class: "uri" }, "[" + p.langs.join(",") + "] " + p.uri)),
      hops));
  }
}

function renderEvents(events) {
  const tbody = $("#events tbody");
  tbody.replaceChildren();
  for (const e of events) {
    tbody.append(el("tr", {},
      el("td", { class: "num" }, e.seq), el("td", {}, e.type), el("td", {}, e.repo || ""),
      el("td", { class: "ops" }, (e.ops || []).join(", "))));
  }
}

async function refresh() {
  try {
    const st = await api("GET", "/api/state");
    $("#account").textContent = st.account;
    renderStages(st.stages || []);
    renderPosts(st.posts || [], st.feeds || []);
    renderEvents(st.events || []);
  } catch (err) {
    $("#post-error").textContent = "state: " + err.message;
  }
}

async function post(text) {
  $("#post-error").textContent = "";
  try {
    await api("POST", "/api/post", { text });
    $("#post-text").value = "";
  } catch (err) {
    $("#post-error").textContent = err.message;
  }
  refresh();
}

$("#post-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  post($("#post-text").value);
});

refresh();
setInterval(refresh, 500);
