// Berth: one deployment, live. Follows /ws/deployments/<id>/ (lib/socket.js): renders
// the snapshot (status, progress, every event so far), then appends each new event,
// skipping any seq already shown. While the deployment is pending or running a closed
// socket reconnects; the next snapshot replaces what is shown, so nothing is lost or
// doubled. Once it finished the socket stops for good and the API gives the outcome.

import { clock, stamp } from "./lib/format.js";
import { openSocket, reconnectingIn } from "./lib/socket.js";

const FINISHED = ["succeeded", "failed", "cancelled"];
const LABELS = { pending: "pending", running: "running", succeeded: "succeeded", failed: "failed", cancelled: "cancelled" };

function seconds(ms) {
  const s = ms / 1000;
  return s < 60 ? s.toFixed(1) + " s" : Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s";
}

function timeElement(iso, short) {
  const el = document.createElement("time");
  el.dateTime = iso;
  el.textContent = short ? clock(new Date(iso)) : stamp(new Date(iso));
  return el;
}

function follow(root) {
  const badge = document.querySelector("[data-status]");
  const live = document.querySelector("[data-live]");
  const bar = root.querySelector("[data-progress]");
  const fill = bar.querySelector(".fill");
  const percent = root.querySelector("[data-progress-text]");
  const current = root.querySelector("[data-current-step]");
  const outcome = root.querySelector("[data-outcome]");
  const noun = root.dataset.noun || "Deployment"; // or "Stop", "Restart": an operation
  const steps = document.querySelector("[data-steps]");
  const replicas = document.querySelector("[data-replicas]");
  const note = document.querySelector("[data-replicas-note]");
  let status = root.dataset.state;
  let seen = new Set();
  let lastPull = null;
  let socket = null;

  function setLive(text, kind) {
    live.textContent = text;
    live.className = "live small-text " + (kind || "");
  }

  function setProgress(value) {
    if (value === null || value === undefined) return;
    const v = Math.max(0, Math.min(100, Number(value)));
    bar.setAttribute("aria-valuenow", String(v));
    fill.style.width = v + "%";
    percent.textContent = v + "%";
  }

  function setStatus(value, reason, took) {
    status = value;
    badge.textContent = LABELS[value] || value;
    badge.className = "badge big status-" + value;
    bar.className = "progress " + value;
    note.hidden = value !== "failed" && value !== "cancelled";
    if (!FINISHED.includes(value)) { outcome.hidden = true; return; }
    outcome.hidden = false;
    current.textContent = "";
    if (value === "succeeded") {
      outcome.className = "msg success outcome";
      outcome.textContent = noun + " succeeded" + (took ? " in " + took : "") + ".";
    } else {
      outcome.className = "msg error outcome";
      outcome.textContent = noun + " " + value + (reason ? ": " + reason : ".");
    }
    setLive("", "");
  }

  function setReplica(slot, state, container) {
    const none = replicas.querySelector("[data-none]");
    if (none) none.remove();
    let item = replicas.querySelector('[data-slot="' + slot + '"]');
    if (!item) {
      item = document.createElement("li");
      item.dataset.slot = slot;
      const name = document.createElement("span");
      name.textContent = "Replica " + (Number(slot) + 1);
      item.append(name, " ", document.createElement("span"));
      const later = Array.from(replicas.children).find((li) => Number(li.dataset.slot) > Number(slot));
      replicas.insertBefore(item, later || null);
    }
    // A replica whose container is named links to the container page.
    if (container && replicas.dataset.containerBase && item.firstElementChild.tagName !== "A") {
      const link = document.createElement("a");
      link.href = replicas.dataset.containerBase + encodeURIComponent(container) + "/";
      link.title = "Container " + container;
      link.textContent = item.firstElementChild.textContent;
      item.firstElementChild.replaceWith(link);
    }
    const label = item.lastElementChild;
    label.className = "badge replica-" + state;
    label.textContent = state;
  }

  function addEvent(event, replay) {
    if (seen.has(event.seq)) return;
    seen.add(event.seq);
    current.textContent = event.message;
    // Pull progress comes as many events: they update one line instead of adding many.
    if (event.kind === "pull" && lastPull) {
      lastPull.querySelector(".message").textContent = event.message;
      lastPull.dataset.seq = event.seq;
    } else {
      const item = document.createElement("li");
      item.className = "kind-" + event.kind;
      item.dataset.seq = event.seq;
      const message = document.createElement("span");
      message.className = "message";
      message.textContent = event.message;
      item.append(timeElement(event.at, true), " ", message);
      steps.append(item);
      lastPull = event.kind === "pull" ? item : null;
    }
    const data = event.data || {};
    if (event.kind === "replica" && data.slot !== undefined) setReplica(data.slot, data.state || "", data.container || "");
    if (status === "pending" && event.seq > 1) setStatus("running");
    if (!replay && (event.kind === "done" || event.kind === "failed")) finish();
  }

  function renderSnapshot(snapshot) {
    seen = new Set();
    lastPull = null;
    steps.replaceChildren();
    replicas.replaceChildren();
    const none = document.createElement("li");
    none.className = "muted";
    none.dataset.none = "";
    none.textContent = "No replica started yet.";
    replicas.append(none);
    (snapshot.events || []).forEach((event) => addEvent(event, true));
    setProgress(snapshot.progress);
    if (FINISHED.includes(snapshot.status)) finish();
    else setStatus(snapshot.status);
  }

  // The socket says that it ended; the API has the reason, the times and the duration.
  async function finish() {
    if (socket) socket.stop();
    try {
      const response = await fetch(root.dataset.apiUrl, { credentials: "same-origin" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const d = await response.json();
      const took = d.started_at && d.finished_at ? seconds(new Date(d.finished_at) - new Date(d.started_at)) : "";
      setProgress(d.progress);
      setStatus(d.status, d.reason, took);
      // A blue-green deployment that kept the previous colour: reload to offer Switch back.
      if (d.status === "succeeded" && root.hasAttribute("data-reload-when-finished")) {
        window.location.reload();
        return;
      }
      for (const field of ["started_at", "finished_at"]) {
        const cell = root.querySelector('[data-field="' + field + '"]');
        if (cell && d[field]) {
          cell.replaceChildren(timeElement(d[field]));
          if (field === "finished_at" && took) cell.append(" (" + took + ")");
        }
      }
    } catch (err) {
      const last = steps.lastElementChild;
      const failed = last && last.classList.contains("kind-failed");
      setStatus(failed ? "failed" : "succeeded", failed ? last.textContent.replace(/^.*?Deployment \w+: /, "") : "");
    }
  }

  // Times in the browser's zone, like the ones added live.
  root.querySelectorAll("time[datetime]").forEach((el) => { el.textContent = stamp(new Date(el.dateTime)); });
  steps.querySelectorAll("time[datetime]").forEach((el) => { el.textContent = clock(new Date(el.dateTime)); });
  steps.querySelectorAll("li").forEach((li) => seen.add(Number(li.dataset.seq)));
  if (FINISHED.includes(status)) return;
  setLive("connecting…", "");
  socket = openSocket({
    url: root.dataset.deploymentSocket,
    onOpen() { setLive("● live", "on"); },
    onMessage(data) {
      if (data.type === "snapshot") renderSnapshot(data);
      else if (data.type === "event") { addEvent(data.event); setProgress(data.progress); }
    },
    onClose(event) {
      if (event.code === 4401 || event.code === 4404) {
        this.stop();
        setLive("not allowed to follow this deployment: reload the page", "off");
      } else if (FINISHED.includes(status)) {
        this.stop();
      }
    },
    onRetry(secondsLeft) { setLive(reconnectingIn(secondsLeft), "off"); },
  });
}

document.querySelectorAll("[data-deployment-socket]").forEach(follow);
