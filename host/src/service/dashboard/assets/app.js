// wfhost dashboard: follows a run's event stream (recolouring its graph and
// steps without a reload), sends the wait forms in place, and refreshes the
// runs list. No framework; the pages work without it, only less live.
"use strict";

const ENDED = new Set(["succeeded", "failed", "cancelled"]);

function setBadge(element, status) {
  if (!element) return;
  element.textContent = status;
  element.className = element.className.replace(/\bs-[a-z]+\b/g, "").trim() + " s-" + status;
}

function setStep(step, status) {
  for (const node of document.querySelectorAll("g.node[data-step]")) {
    if (node.dataset.step === step) {
      node.dataset.state = status;
      if (node.hasAttribute("aria-label")) node.setAttribute("aria-label", step + ": " + status);
    }
  }
  for (const row of document.querySelectorAll("tr[data-step]")) {
    if (row.dataset.step === step) setBadge(row.querySelector("[data-status]"), status);
  }
  for (const link of document.querySelectorAll(".grouped a[data-step]")) {
    if (link.dataset.step === step) link.dataset.state = status;
  }
  if (status !== "waiting") {
    const wait = document.getElementById("wait-" + step);
    if (wait) wait.closest("section").classList.add("answered");
  }
}

function appendEvent(list, seq, kind, body) {
  if (!list) return;
  const item = document.createElement("li");
  item.dataset.seq = seq;
  const strong = document.createElement("strong");
  strong.textContent = kind;
  item.append(new Date().toISOString() + " ", strong);
  if (body.step) {
    const code = document.createElement("code");
    code.textContent = body.step;
    item.append(" ", code);
  }
  list.append(item);
}

function followRun(root) {
  const id = root.dataset.run;
  const status = document.getElementById("run-status");
  const list = document.getElementById("events");
  if (ENDED.has(root.dataset.status)) return;
  const last = list && list.lastElementChild ? list.lastElementChild.dataset.seq : "0";
  const source = new EventSource("/v1/runs/" + encodeURIComponent(id) + "/events?after=" + encodeURIComponent(last));
  const on = (kind, handle) => source.addEventListener(kind, (message) => {
    let body = {};
    try { body = JSON.parse(message.data); } catch (_) { /* a body that is not JSON: shown by kind only */ }
    handle(body);
    appendEvent(list, message.lastEventId, kind, body);
  });
  on("step_started", (b) => setStep(b.step, "running"));
  on("step_waiting", (b) => setStep(b.step, "waiting"));
  on("step_skipped", (b) => setStep(b.step, "skipped"));
  on("step_finished", (b) => setStep(b.step, b.status));
  on("run_waiting", () => setBadge(status, "waiting"));
  on("run_continued", () => setBadge(status, "running"));
  on("run_finished", (b) => {
    setBadge(status, b.status);
    root.dataset.status = b.status;
    // An ended run is neither cancelled nor paused any more.
    for (const button of document.querySelectorAll(".actions button[value=cancel], .actions button[value=cancel-now], .actions button[value=pause]")) {
      button.hidden = true;
    }
    source.close();
  });
  for (const kind of ["step_succeeded", "step_failed", "step_retrying", "step_output", "signal_received", "route_taken", "vars_set", "run_started"]) {
    on(kind, () => {});
  }
}

function scriptForms() {
  for (const form of document.querySelectorAll("form[data-scripted]")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new URLSearchParams(new FormData(form));
      if (event.submitter && event.submitter.name) data.append(event.submitter.name, event.submitter.value);
      const error = form.querySelector(".form-error");
      const done = form.querySelector(".form-done");
      error.hidden = true;
      done.hidden = true;
      try {
        const response = await fetch(form.action, {
          method: "POST",
          headers: { "X-Requested-With": "fetch", "Content-Type": "application/x-www-form-urlencoded" },
          body: data,
          credentials: "same-origin",
        });
        const answer = await response.json().catch(() => ({ message: response.statusText }));
        if (response.ok) {
          done.hidden = false;
        } else {
          error.textContent = answer.message || ("refused: HTTP " + response.status);
          error.hidden = false;
        }
      } catch (failure) {
        error.textContent = "could not reach the server: " + failure;
        error.hidden = false;
      }
    });
  }
}

// A step's details open under its row, fetched the first time (a run of
// thousands of steps does not carry them all in its page).
function stepPanels() {
  document.addEventListener("click", async (event) => {
    const link = event.target.closest("a[data-panel]");
    if (!link) return;
    event.preventDefault();
    const row = link.closest("tr");
    const open = row.nextElementSibling && row.nextElementSibling.classList.contains("panel-row");
    if (open) {
      row.nextElementSibling.remove();
      link.setAttribute("aria-expanded", "false");
      return;
    }
    const panel = document.createElement("tr");
    panel.className = "panel-row";
    const cell = document.createElement("td");
    cell.colSpan = row.children.length;
    cell.textContent = "loading…";
    panel.append(cell);
    row.after(panel);
    link.setAttribute("aria-expanded", "true");
    try {
      const response = await fetch(link.href, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" });
      cell.innerHTML = await response.text();
    } catch (failure) {
      cell.textContent = "could not load the step: " + failure;
    }
  });
}

// A graph's node opens its step (a child workflow's step lists its runs):
// by click, or by keyboard (each node is focusable, Enter opens it).
function graphLinks(root) {
  for (const node of document.querySelectorAll("g.node[data-step]")) {
    node.setAttribute("tabindex", "0");
    node.setAttribute("role", "link");
    node.setAttribute("aria-label", node.dataset.step + ": " + node.dataset.state);
    const open = () => { location.href = "/runs/" + encodeURIComponent(root.dataset.run) + "/steps/" + encodeURIComponent(node.dataset.step); };
    node.addEventListener("click", open);
    node.addEventListener("keydown", (event) => { if (event.key === "Enter") open(); });
  }
}

function refreshLive(region) {
  setInterval(async () => {
    if (document.hidden || region.contains(document.activeElement) && document.activeElement.tagName === "SELECT") return;
    try {
      const response = await fetch(location.href, { credentials: "same-origin" });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById(region.id);
      if (fresh && fresh.innerHTML !== region.innerHTML) region.innerHTML = fresh.innerHTML;
    } catch (_) { /* the next tick tries again */ }
  }, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  const run = document.getElementById("run");
  if (run) {
    followRun(run);
    graphLinks(run);
  }
  scriptForms();
  stepPanels();
  for (const region of document.querySelectorAll("[data-live=refresh]")) refreshLive(region);
});
