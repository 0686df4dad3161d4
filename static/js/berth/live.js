// Berth: live badges over websockets (lib/socket.js).
// - [data-status-socket]: endpoint states of the dashboard; a changed environment's
//   card fragment is reloaded from the server's cache.
// - [data-events-socket]: Docker events of one environment. Inside it, each
//   [data-container="<id>"] has its [data-state-badge], [data-health-badge] (and
//   [data-health-none]) and [data-status-text] updated; a container not shown, or missed
//   events, reload the fragment named by data-events-reload. Every event is also
//   dispatched on document as "berth:container-event" for the page's own scripts.
// - [data-changes-socket]: "something changed" in the environments one can view (a
//   promotion, a push, a deployment finished). The element named by data-changes-reload
//   reloads: a fragment ([data-src]) from its URL, any other from the page's URL; only
//   for data-changes-environment's changes when given. Several changes in a row make one
//   reload; nothing is replaced while someone types in it.

import { load, reloadRegion } from "../lib/fragments.js";
import { clock } from "../lib/format.js";
import { openSocket, reconnectingIn } from "../lib/socket.js";

const EVENT_STATES = { create: "created", start: "running", die: "exited", stop: "exited", destroy: "removed" };

export function liveStatus(root) {
  openSocket({
    url: root.dataset.statusSocket,
    onMessage(message) {
      if (message.type !== "state") return;
      const card = root.querySelector('[data-environment="' + message.environment + '"] .state');
      if (card) load(card, card.dataset.src + "?cached=1");
    },
  });
}

function swapClass(el, prefix, value) {
  const pattern = new RegExp("\\b" + prefix + "\\S*", "g");
  el.className = el.className.replace(pattern, "").trim() + " " + prefix + value;
}

function applyEvent(row, event) {
  const state = EVENT_STATES[event.action];
  const badge = row.querySelector("[data-state-badge]");
  const health = row.querySelector("[data-health-badge]");
  const none = row.querySelector("[data-health-none]");
  const status = row.querySelector("[data-status-text]");
  const setHealth = (value) => {
    if (!health) return;
    health.hidden = !value;
    if (none) none.hidden = Boolean(value);
    if (value) { health.textContent = value; swapClass(health, "health-", value); }
  };
  if (state && badge) {
    badge.textContent = state;
    swapClass(badge, "state-", state);
  }
  const at = new Date(event.time);
  const when = Number.isNaN(at.getTime()) ? "" : " at " + clock(at);
  if (status && event.action === "start") status.textContent = "started" + when;
  if (status && event.action === "die") status.textContent = "exit code " + event.exit_code + when;
  if (event.action === "health_status") setHealth(event.health);
  else if (event.action === "start" && health && !health.hidden) setHealth("starting");
  else if (event.action === "die") setHealth("");
}

export function liveContainers(root) {
  const live = root.querySelector("[data-events-live]");
  let reloadTimer = 0, connections = 0;
  const setLive = (text, kind) => {
    if (live) { live.textContent = text; live.className = "live small-text " + kind; }
  };
  function reload() {
    const target = root.dataset.eventsReload && document.querySelector(root.dataset.eventsReload);
    if (!target) return;
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => load(target), 300);
  }
  openSocket({
    url: root.dataset.eventsSocket,
    onMessage(data) {
      if (data.type === "ready") {
        setLive("● updating live", "on");
        if (connections++) reload(); // events may have been missed while away
      } else if (data.type === "skipped") {
        reload();
      } else if (data.type === "event") {
        const event = data.event;
        const rows = root.querySelectorAll('[data-container="' + CSS.escape(event.id) + '"]');
        if (!rows.length || event.action === "create" || event.action === "destroy") reload();
        rows.forEach((row) => applyEvent(row, event));
        document.dispatchEvent(new CustomEvent("berth:container-event", { detail: event }));
      }
    },
    onRetry(seconds) { setLive(reconnectingIn(seconds), "off"); },
    onRefused(text) { setLive("not live: " + text, "off"); },
  });
}

export function liveChanges(root) {
  const target = document.querySelector(root.dataset.changesReload) || root;
  const only = root.dataset.changesEnvironment;
  let timer = 0, connections = 0;
  const reload = () => {
    clearTimeout(timer);
    timer = setTimeout(() => (target.dataset.src ? load(target) : reloadRegion(target)), 250);
  };
  openSocket({
    url: root.dataset.changesSocket,
    onMessage(data) {
      if (data.type === "snapshot") {
        if (connections++) reload(); // changes may have been missed while away
      } else if (data.type === "changed" && (!only || data.environment === only)) {
        reload();
      }
    },
  });
}
