// Baton's web UI: the few live parts of server-rendered pages. Plain JavaScript, no build.
// Each part starts from data-* attributes the templates put on the page.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-editor]").forEach(editor);
  document.querySelectorAll("[data-array]").forEach(arrayField);
  document.querySelectorAll("[data-autorefresh]").forEach(autoRefresh);
  document.querySelectorAll("[data-live]").forEach(liveExecution);
  document.querySelectorAll("[data-logs]").forEach(liveLogs);
  document.querySelectorAll("[data-actions]").forEach(executionActions);
  document.querySelectorAll("[data-edit-kv]").forEach(kvEdit);
  document.querySelectorAll("form[data-confirm]").forEach((form) =>
    form.addEventListener("submit", (e) => { if (!confirm(form.dataset.confirm)) e.preventDefault(); }));
  document.querySelectorAll("form[data-goto-namespace]").forEach((form) =>
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const ns = form.querySelector("input").value.trim();
      if (ns) location.href = "/ui/namespaces/" + encodeURIComponent(ns);
    }));
});

// ---- The flow editor: line numbers, Tab indents, jumping to a diagnostic. ----
function editor(box) {
  const text = box.querySelector("textarea");
  const gutter = box.querySelector(".gutter");
  const flagged = new Set((box.dataset.flagged || "").split(" ").filter(Boolean).map(Number));
  let shown = -1;
  const numbers = () => {
    const count = text.value.split("\n").length;
    if (count === shown) return;
    shown = count;
    const lines = [];
    for (let n = 1; n <= count; n++) {
      lines.push(flagged.has(n) ? `<span class="err" title="problem on this line">${n}</span>` : String(n));
    }
    gutter.innerHTML = lines.join("\n") + "\n";
  };
  numbers();
  text.addEventListener("input", numbers);
  text.addEventListener("scroll", () => { gutter.scrollTop = text.scrollTop; });
  // Tab indents; after Esc, Tab moves focus on as usual (keyboard users are never trapped).
  let released = false;
  text.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { released = true; return; }
    if (e.key !== "Tab" || released || e.ctrlKey || e.altKey || e.metaKey) { released = false; return; }
    e.preventDefault();
    const { selectionStart: start, selectionEnd: end, value } = text;
    const lineStart = value.lastIndexOf("\n", start - 1) + 1;
    if (start === end && !e.shiftKey) {
      text.setRangeText("  ", start, end, "end");
    } else {
      const block = value.slice(lineStart, end);
      const changed = e.shiftKey ? block.replace(/^ {1,2}/gm, "") : block.replace(/^/gm, "  ");
      text.setRangeText(changed, lineStart, end, "select");
    }
    text.dispatchEvent(new Event("input"));
  });
  text.addEventListener("blur", () => { released = false; });
  const jump = (line, column) => {
    const lines = text.value.split("\n");
    let at = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) at += lines[i].length + 1;
    at += Math.max(0, Math.min(column - 1, (lines[line - 1] || "").length));
    text.focus();
    text.setSelectionRange(at, at);
    const lineHeight = parseFloat(getComputedStyle(text).lineHeight) || 19;
    text.scrollTop = Math.max(0, (line - 4) * lineHeight);
  };
  document.querySelectorAll("a[data-line]").forEach((link) =>
    link.addEventListener("click", (e) => {
      e.preventDefault();
      jump(Number(link.dataset.line), Number(link.dataset.column));
    }));
}

// ---- ARRAY inputs: add and remove items. ----
function arrayField(box) {
  const add = box.querySelector("[data-add-item]");
  const wire = (item) => item.querySelector("[data-remove-item]").addEventListener("click", () => {
    const items = box.querySelectorAll(".array-item");
    if (items.length > 1) { item.remove(); } else { item.querySelector("input").value = ""; }
    box.querySelector(".array-item input")?.focus();
  });
  box.querySelectorAll(".array-item").forEach(wire);
  add.addEventListener("click", () => {
    const items = box.querySelectorAll(".array-item");
    const item = items[items.length - 1].cloneNode(true);
    const input = item.querySelector("input");
    input.value = "";
    input.setAttribute("aria-label", input.getAttribute("aria-label").replace(/\d+$/, String(items.length + 1)));
    add.before(item);
    wire(item);
    input.focus();
  });
}

// ---- The executions list: the first page refreshes itself while the box is ticked. ----
function autoRefresh(box) {
  const body = document.querySelector("tbody[data-rows]");
  if (!body) return;
  setInterval(async () => {
    if (!box.checked || document.hidden) return;
    const url = new URL(location.href);
    url.searchParams.set("fragment", "rows");
    try {
      const response = await fetch(url, { credentials: "same-origin" });
      if (response.ok) body.innerHTML = await response.text();
    } catch (_) { /* the next tick tries again */ }
  }, 5000);
}

// ---- The execution page: redraw its middle whenever the execution changes. ----
function liveExecution(box) {
  fillTaskRuns(box);
  if (box.hasAttribute("data-ended")) return;
  let pending = null;
  let last = 0;
  const redraw = async () => {
    pending = null;
    last = Date.now();
    try {
      const response = await fetch(box.dataset.live, { credentials: "same-origin" });
      if (!response.ok) return;
      box.innerHTML = await response.text();
      fillTaskRuns(box);
      const facts = box.querySelector(".facts");
      if (facts) {
        document.querySelector('[data-action="kill"]')?.toggleAttribute("hidden", facts.dataset.canKill !== "true");
        document.querySelector('[data-action="restart"]')?.toggleAttribute("hidden", facts.dataset.canRestart !== "true");
        document.title = document.title.replace(/\b[A-Z]+( · Baton)$/, facts.dataset.state + "$1");
      }
    } catch (_) { /* the next change redraws */ }
  };
  // At most four redraws a second, and always one after the last change.
  const schedule = () => {
    if (pending) return;
    pending = setTimeout(redraw, Math.max(0, 250 - (Date.now() - last)));
  };
  const follow = () => {
    const source = new EventSource(box.dataset.follow);
    source.onmessage = (e) => {
      schedule();
      if (e.lastEventId === "end") source.close();
    };
    source.onerror = () => {
      source.close();
      // A dropped stream (a restart of the server) is picked up again.
      setTimeout(() => { if (!document.hidden) follow(); }, 2000);
    };
  };
  follow();
}

// Task runs appear while an execution runs: add the new ones to the filter and replay lists.
function fillTaskRuns(box) {
  const template = box.querySelector("template[data-taskruns]");
  if (!template) return;
  document.querySelectorAll("select[data-taskrun-select]").forEach((select) => {
    const known = new Set([...select.options].map((o) => o.value));
    template.content.querySelectorAll("option").forEach((option) => {
      if (!known.has(option.value)) select.append(option.cloneNode(true));
    });
  });
}

// ---- Live logs over SSE, with level and task filters (a filter change reconnects). ----
function liveLogs(box) {
  const level = document.querySelector("[data-log-level]");
  const task = document.querySelector("[data-log-task]");
  let source = null;
  const connect = () => {
    source?.close();
    box.replaceChildren();
    const empty = document.createElement("p");
    empty.className = "muted";
    empty.dataset.logsEmpty = "";
    empty.textContent = "No log line yet.";
    box.append(empty);
    const url = new URL(box.dataset.logs, location.href);
    if (level.value !== "TRACE") url.searchParams.set("minLevel", level.value);
    if (task.value) url.searchParams.set("taskRunId", task.value);
    source = new EventSource(url);
    source.onmessage = (e) => {
      const line = JSON.parse(e.data);
      box.querySelector("[data-logs-empty]")?.remove();
      const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 30;
      const row = document.createElement("div");
      row.className = "line lvl-" + line.level;
      const cell = (cls, text) => {
        const span = document.createElement("span");
        span.className = cls;
        span.textContent = text;
        row.append(span);
      };
      cell("time", (line.timestamp || "").replace("T", " ").slice(11, 23));
      cell("lvl", line.level);
      cell("task", line.taskId || "");
      cell("msg", line.message);
      box.append(row);
      if (atBottom) box.scrollTop = box.scrollHeight;
    };
    source.addEventListener("end", () => source.close());
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) return;
      source.close();
    };
  };
  level.addEventListener("change", connect);
  task.addEventListener("change", connect);
  connect();
}

// ---- Kill, Restart, Replay: calls to the REST API. ----
function executionActions(bar) {
  const id = bar.dataset.execution;
  const result = bar.querySelector("[data-action-result]");
  const call = async (path, button) => {
    button.disabled = true;
    result.textContent = "";
    try {
      const response = await fetch(path, { method: "POST", credentials: "same-origin" });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        result.textContent = body.message || `${response.status} ${response.statusText}`;
        return null;
      }
      return body;
    } catch (error) {
      result.textContent = String(error);
      return null;
    } finally {
      button.disabled = false;
    }
  };
  bar.querySelectorAll("[data-action]").forEach((button) =>
    button.addEventListener("click", async () => {
      const action = button.dataset.action;
      if (action === "replay") {
        const from = bar.querySelector("#replay-from").value;
        if (!from) { result.textContent = "Choose the task run to replay from."; return; }
        const body = await call(`/api/v1/executions/${id}/replay?taskRunId=${encodeURIComponent(from)}`, button);
        if (body && body.id) location.href = "/ui/executions/" + body.id;
        return;
      }
      const body = await call(`/api/v1/executions/${id}/${action}`, button);
      if (!body) return;
      result.textContent = action === "kill" ? "Kill requested." : "Restart requested.";
      // A restart is taken by the executor a moment later: once the execution runs again,
      // reload the page to follow it live.
      if (action === "restart") {
        const ended = ["SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "SKIPPED"];
        for (let i = 0; i < 50; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          const response = await fetch(`/api/v1/executions/${id}`, { credentials: "same-origin" });
          const execution = response.ok ? await response.json() : null;
          if (execution && !ended.includes(execution.state)) break;
        }
        location.reload();
      }
    }));
}

// ---- KV: an Edit button fills the form below. ----
function kvEdit(button) {
  button.addEventListener("click", () => {
    document.getElementById("kv-key").value = button.dataset.key;
    const value = document.getElementById("kv-value");
    value.value = button.dataset.value;
    value.focus();
  });
}
