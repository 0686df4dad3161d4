// Berth: small progressive enhancements, no build step.
// - [data-src]: the element's content is loaded from that URL (HTML fragment).
// - [data-reload="#id"]: a button that reloads the fragment of #id.
// - form[data-confirm]: asks before submitting.
// - [data-status-socket]: live endpoint states over a websocket.
// - form[data-api]: posted as JSON to that API URL; the answer shows in its [data-result],
//   so a sign-off never reloads the page (forms inside fragments work too).
//   Inside such a form, a [data-json] field is sent parsed (a bad document is refused
//   here, naming the field); form[data-typed-confirm="Ops"] sends confirm=true only once
//   its [data-typed-confirm-input] holds that name, and refuses otherwise;
//   form[data-redirect-deployment="/deployments/0/"] opens the deployment the API returns;
//   form[data-done="Restarted:"] puts that before the description of the answer.
// - [data-events-socket]: Docker events of one environment, live. Inside it, each
//   [data-container="<id>"] has its [data-state-badge], [data-health-badge] (and
//   [data-health-none]) and [data-status-text] updated; a container not shown, or missed
//   events, reload the fragment named by data-events-reload. Every event is also
//   dispatched on document as "berth:container-event" for the page's own scripts.
(function () {
  "use strict";

  async function load(el, url) {
    el.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(url || el.dataset.src, {
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" },
      });
      if (!response.ok) throw new Error(response.status + " " + response.statusText);
      el.innerHTML = await response.text();
    } catch (err) {
      el.innerHTML = '<p class="msg error" role="alert">Could not load this part of the page (' +
        String(err.message).replace(/[<>&]/g, "") + "). It will retry on refresh.</p>";
    } finally {
      el.removeAttribute("aria-busy");
    }
  }

  function liveStatus(root) {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    let delay = 1000;
    function connect() {
      const socket = new WebSocket(scheme + location.host + root.dataset.statusSocket);
      socket.onopen = () => { delay = 1000; };
      socket.onmessage = (event) => {
        const message = JSON.parse(event.data);
        if (message.type !== "state") return;
        const card = root.querySelector('[data-environment="' + message.environment + '"] .state');
        if (card) load(card, card.dataset.src + "?cached=1");
      };
      socket.onclose = () => { setTimeout(connect, delay); delay = Math.min(delay * 2, 30000); };
    }
    connect();
  }

  const EVENT_STATES = { create: "created", start: "running", die: "exited", stop: "exited", destroy: "removed" };

  function pad(n) { return String(n).padStart(2, "0"); }

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
      if (value) { health.textContent = value; health.className = health.className.replace(/\bhealth-\S*/g, "").trim() + " health-" + value; }
    };
    if (state && badge) {
      badge.textContent = state;
      badge.className = badge.className.replace(/\bstate-\S*/g, "").trim() + " state-" + state;
    }
    const at = new Date(event.time);
    const when = Number.isNaN(at.getTime()) ? "" : " at " + pad(at.getHours()) + ":" + pad(at.getMinutes()) + ":" + pad(at.getSeconds());
    if (status && event.action === "start") status.textContent = "started" + when;
    if (status && event.action === "die") status.textContent = "exit code " + event.exit_code + when;
    if (event.action === "health_status") setHealth(event.health);
    else if (event.action === "start" && health && !health.hidden) setHealth("starting");
    else if (event.action === "die") setHealth("");
  }

  function liveContainers(root) {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const live = root.querySelector("[data-events-live]");
    let delay = 1000, reloadTimer = 0, connections = 0;
    function reload() {
      const target = root.dataset.eventsReload && document.querySelector(root.dataset.eventsReload);
      if (!target) return;
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => load(target), 300);
    }
    function connect() {
      const socket = new WebSocket(scheme + location.host + root.dataset.eventsSocket);
      socket.onmessage = (message) => {
        const data = JSON.parse(message.data);
        if (data.type === "ready") {
          delay = 1000;
          if (live) { live.textContent = "● updating live"; live.className = "live small-text on"; }
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
      };
      socket.onclose = () => {
        if (live) { live.textContent = "reconnecting…"; live.className = "live small-text off"; }
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }
    connect();
  }

  function apiError(data, status) {
    if (!data || typeof data !== "object") return "HTTP " + status;
    if (data.error) return data.error;
    if (data.detail) return data.detail;
    return Object.entries(data)
      .map(([field, messages]) => (field === "non_field_errors" ? "" : field + ": ") + [].concat(messages).join(" "))
      .join(" · ");
  }

  function describe(data) {
    if (data.strategy !== undefined && data.id) return "Deployment #" + data.id + " queued: opening it…";
    if (data.revision !== undefined && data.document) return "Saved revision " + data.revision + ".";
    if (data.restarted !== undefined) return "Restarted " + data.restarted + " replica(s).";
    if (data.stopped !== undefined) return "Stopped " + data.stopped + " replica(s).";
    if (data.repository !== undefined && data.name) return "Created service " + data.name + ".";
    if (data.target_reference) {
      return "Promoted to " + data.target_environment_name + ": " + (data.tags || []).join(", ") + " → " +
        data.target_reference;
    }
    if (data.repositories !== undefined) return "Read " + data.repositories + " repositories.";
    if (data.state !== undefined && data.name !== undefined) return data.name + " is " + data.state + ".";
    return "Done.";
  }

  // The request body, or an Error (shown in place) when the form must not go out.
  function formBody(form) {
    const body = {};
    new FormData(form).forEach((value, key) => {
      if (key === "csrfmiddlewaretoken" || value === "") return;
      const field = form.elements[key];
      if (field && field.dataset && field.dataset.json !== undefined) {
        try {
          body[key] = JSON.parse(value);
        } catch (err) {
          throw new Error(key + ": not valid JSON (" + err.message + ").");
        }
      } else {
        body[key] = value;
      }
    });
    const expected = form.dataset.typedConfirm;
    if (expected !== undefined) {
      const typed = form.querySelector("[data-typed-confirm-input]");
      if (!typed || typed.value.trim() !== expected) {
        if (typed) typed.focus();
        throw new Error(expected + " is protected: type " + expected + " in the confirmation box to go ahead.");
      }
      body.confirm = true;
    }
    return body;
  }

  function show(result, kind, text) {
    if (!result) return;
    result.className = "result msg" + (kind ? " " + kind : "");
    result.textContent = text;
  }

  async function submitApiForm(form) {
    const result = form.querySelector("[data-result]");
    const button = form.querySelector("button[type=submit], button:not([type])");
    let body;
    try {
      body = formBody(form);
    } catch (err) {
      show(result, "error", err.message);
      return;
    }
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    if (button) button.disabled = true;
    if (result) { result.className = "result msg"; result.textContent = "Working…"; }
    try {
      const response = await fetch(form.dataset.api, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value,
        },
        body: JSON.stringify(body),
      });
      const data = await response.json().catch(() => null);
      if (!response.ok) throw new Error(apiError(data, response.status));
      if (result) {
        result.className = "result msg success";
        result.textContent = (form.dataset.done ? form.dataset.done + " " : "") + describe(data || {});
      }
      if (form.dataset.redirectDeployment && data && data.id) {
        location.assign(form.dataset.redirectDeployment.replace(/\/0\/$/, "/" + data.id + "/"));
      } else if (form.hasAttribute("data-reload-page")) {
        setTimeout(() => location.reload(), 600);
      }
    } catch (err) {
      if (result) { result.className = "result msg error"; result.textContent = err.message; }
    } finally {
      if (button) button.disabled = false;
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    submitApiForm(form);
  });

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-src]").forEach((el) => load(el));
    document.querySelectorAll("[data-reload]").forEach((button) => {
      button.addEventListener("click", () => {
        const target = document.querySelector(button.dataset.reload);
        if (target) load(target);
      });
    });
    document.querySelectorAll("form[data-confirm]:not([data-api])").forEach((form) => {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
    document.querySelectorAll("[data-status-socket]").forEach(liveStatus);
    document.querySelectorAll("[data-events-socket]").forEach(liveContainers);
  });
})();
