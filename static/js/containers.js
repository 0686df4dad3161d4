// Berth: one container's page. The header's badges follow the environment's events
// (berth/live.js); this wires the page's own parts:
// - tabs (containers/tabs.js), stats sparklines (containers/stats.js), the inspect
//   document (containers/inspect.js), the console (containers/console.js);
// - when the container starts again, the stats and a log viewer that ended (the old run
//   exited) follow the new run.

import { consolePanel } from "./containers/console.js";
import { inspect } from "./containers/inspect.js";
import { stats } from "./containers/stats.js";
import { tabs } from "./containers/tabs.js";

const head = document.querySelector(".container-head[data-container]");
const statsRoots = Array.from(document.querySelectorAll("[data-stats-socket]")).map(stats);
document.querySelectorAll("[data-inspect-url]").forEach(inspect);
document.querySelectorAll("[data-exec-socket]").forEach(consolePanel);
document.querySelectorAll("[data-tabs]").forEach(tabs);
// The action buttons follow the container's state: each enables only in the states its
// data-when lists (no Start while running, no Stop while stopped), from the answer of an
// action and from the engine's events; an answer clears the other buttons' old messages.
const actionsRow = document.querySelector("[data-container-actions]");
const EVENT_STATE = { start: "running", die: "exited", stop: "exited", restart: "running", pause: "paused", unpause: "running" };
function followState(state) {
  if (!actionsRow || !state) return;
  actionsRow.dataset.state = state;
  actionsRow.querySelectorAll("button[data-when]").forEach((button) => {
    button.disabled = !button.dataset.when.split(" ").includes(state);
    delete button.dataset.busy; // decided here: forms.js leaves it as it is
  });
}
if (actionsRow) {
  actionsRow.addEventListener("berth:api-done", (event) => {
    actionsRow.querySelectorAll("[data-result]").forEach((result) => {
      if (!event.target.contains(result)) { result.textContent = ""; result.className = "result"; }
    });
    followState(event.detail && event.detail.state);
  });
  document.addEventListener("berth:container-event", (event) => {
    if (head && event.detail.id === head.dataset.container) followState(EVENT_STATE[event.detail.action]);
  });
}
// A restart races two messages: the engine's "start" event and the old run's log "end".
// Whichever comes second reconnects an ended viewer, once per start.
let startsToFollow = 0;
function followNewRun() {
  document.querySelectorAll(".logviewer").forEach((el) => {
    if (el.berthLogViewer && el.berthLogViewer.ended()) { el.berthLogViewer.reconnect(); startsToFollow = 0; }
  });
}
document.addEventListener("berth:container-event", (event) => {
  if (!head || event.detail.id !== head.dataset.container || event.detail.action !== "start") return;
  statsRoots.forEach((s) => s.restart());
  startsToFollow = 1;
  followNewRun();
});
document.addEventListener("berth:log-ended", () => { if (startsToFollow) followNewRun(); });
