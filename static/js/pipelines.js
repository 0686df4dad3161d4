// Berth: pipeline pages. Every change is a form[data-api] (berth/forms.js) posted to the
// pipelines API; this file only adds what those pages need on top:
// - form[data-show-secret]: the webhook secret the API answers, shown here this once;
// - approve / reject buttons of one decision form choose the API action they post to;
// - [data-run-socket]: the run follows /ws/pipeline-runs/<id>/ (a snapshot with the
//   history so far, then each event): log lines go to the log pane, every other event
//   to the history, and the stage graph fragment is reloaded.

import { load } from "./lib/fragments.js";
import { openSocket, reconnectingIn } from "./lib/socket.js";
import { clock } from "./lib/format.js";

document.addEventListener("berth:api-done", (event) => {
  const form = event.target;
  const data = event.detail || {};
  if (form.hasAttribute("data-show-secret") && data.webhook_secret) {
    const box = form.querySelector("[data-secret]");
    box.hidden = false;
    box.replaceChildren();
    const lead = document.createElement("p");
    lead.className = "msg warn";
    lead.textContent = "The webhook secret, shown this once: copy it into your CI now.";
    const code = document.createElement("code");
    code.className = "secret";
    code.textContent = data.webhook_secret;
    box.append(lead, code);
    if (data.id && data.name) {
      const link = document.createElement("a");
      link.href = "/pipelines/" + data.id + "/";
      link.textContent = "Open pipeline " + data.name;
      box.append(link);
    }
  }
  const graph = form.closest("[data-graph-src]");
  if (graph) {
    // What was typed is sent: clear it, or the graph (which never replaces a form being
    // filled in) would stay as it was, the decision not shown, until the page reloads.
    form.reset();
    setTimeout(() => load(graph, graph.dataset.graphSrc), 100);
  }
});

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-decision]");
  if (!button) return;
  const form = button.form;
  form.dataset.api = button.dataset.decision === "reject" ? form.dataset.rejectApi : form.dataset.approveApi;
  form.dataset.done = button.dataset.decision === "reject" ? "Rejected." : "Approved.";
});

function followRun(root) {
  const graph = root.querySelector("[data-graph-src]");
  const logPane = root.querySelector("[data-log]");
  const logLabel = root.querySelector("[data-log-stage]");
  const history = root.querySelector("[data-events]");
  const live = document.querySelector("[data-run-live]");
  const logs = new Map();
  const withheld = new Map(); // stage name → why its log is not shown (no view_logs there)
  let selected = "";
  let chosen = false; // the user picked a stage: the log stays on it
  let reloadTimer = 0;

  const showLog = () => {
    logLabel.textContent = selected ? "· " + selected : "";
    const atEnd = logPane.scrollTop + logPane.clientHeight >= logPane.scrollHeight - 4;
    logPane.textContent =
      withheld.get(selected) || logs.get(selected) || (selected ? "(no output yet)" : "");
    if (atEnd) logPane.scrollTop = logPane.scrollHeight;
  };
  const select = (name) => { if (name && name !== selected) { selected = name; showLog(); } };
  const reloadGraph = () => {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => load(graph, graph.dataset.graphSrc), 150);
  };
  const addHistory = (event) => {
    const item = document.createElement("li");
    const at = new Date(event.at);
    item.textContent = (Number.isNaN(at.getTime()) ? "" : clock(at) + " ") +
      (event.stage ? event.stage + ": " : "") + (event.message || event.kind);
    item.dataset.kind = event.kind;
    history.append(item);
  };
  const apply = (event) => {
    if (event.kind === "log") {
      // Bounded like the stage's own log: the newest 256 KiB.
      logs.set(event.stage, ((logs.get(event.stage) || "") + event.message).slice(-262144));
      if (!chosen) select(event.stage);
      if (event.stage === selected) showLog();
      return;
    }
    addHistory(event);
    if (event.stage && !chosen && (event.data || {}).status === "running") select(event.stage);
  };

  root.addEventListener("click", (event) => {
    const button = event.target.closest("[data-show-log]");
    if (!button) return;
    chosen = true;
    select(button.dataset.showLog);
    showLog();
  });

  openSocket({
    url: root.dataset.runSocket,
    onOpen() { if (live) { live.textContent = "live"; live.className = "live on"; } },
    onRetry(seconds) { if (live) { live.textContent = reconnectingIn(seconds); live.className = "live off"; } },
    onRefused(text) { if (live) { live.textContent = "not live: " + text; live.className = "live off"; } },
    onMessage(message) {
      if (message.type === "snapshot") {
        logs.clear();
        history.replaceChildren();
        withheld.clear();
        for (const stage of message.stages) {
          if (stage.log) logs.set(stage.name, stage.log);
          if (stage.log_withheld) withheld.set(stage.name, stage.log_withheld);
        }
        // History is replayed: the snapshot's events already hold the log lines.
        const running = message.stages.find((s) => s.status === "running" || s.status === "waiting");
        const last = [...message.stages].reverse().find((s) => s.status !== "pending");
        for (const event of message.events) if (event.kind !== "log") addHistory(event);
        if (!chosen) select((running || last || message.stages[0] || {}).name || "");
        showLog();
        reloadGraph();
      } else if (message.type === "event") {
        apply(message.event);
        if (message.event.kind !== "log") reloadGraph();
      }
    },
  });
}

document.querySelectorAll("[data-run-socket]").forEach(followRun);
