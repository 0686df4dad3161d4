// Berth: small progressive enhancements, no build step.
// - [data-src]: the element's content is loaded from that URL (HTML fragment).
// - [data-reload="#id"]: a button that reloads the fragment of #id.
// - form[data-confirm]: asks before submitting.
// - [data-status-socket]: live endpoint states over a websocket.
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

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-src]").forEach((el) => load(el));
    document.querySelectorAll("[data-reload]").forEach((button) => {
      button.addEventListener("click", () => {
        const target = document.querySelector(button.dataset.reload);
        if (target) load(target);
      });
    });
    document.querySelectorAll("form[data-confirm]").forEach((form) => {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
    document.querySelectorAll("[data-status-socket]").forEach(liveStatus);
  });
})();
