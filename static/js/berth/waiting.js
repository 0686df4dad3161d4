// Berth: "Waiting for you" in the navigation: every approval and confirmation the user
// can give, live over /ws/pipelines/waiting/ (the whole list is sent again whenever one
// opens or closes), each linking to its run.

import { openSocket } from "../lib/socket.js";

export function waitingForYou(root) {
  const counter = root.querySelector("[data-waiting-count]");
  const list = root.querySelector("[data-waiting-list]");
  openSocket({
    url: root.dataset.waitingSocket,
    onMessage(message) {
      if (message.type !== "snapshot") return;
      const items = message.items || [];
      counter.textContent = String(items.length);
      counter.setAttribute("aria-label", items.length + " waiting");
      counter.classList.toggle("warn", items.length > 0);
      root.classList.toggle("has-items", items.length > 0);
      list.replaceChildren();
      if (!items.length) {
        const none = document.createElement("li");
        none.className = "muted";
        none.textContent = "Nothing waits for you.";
        list.append(none);
      }
      for (const item of items) {
        const li = document.createElement("li");
        const link = document.createElement("a");
        link.href = item.url;
        link.dataset.waitingRun = item.run;
        link.textContent = (item.kind === "approval" ? "Approve " : "Confirm ") + item.stage + " · " +
          item.service + " · " + item.pipeline + " #" + item.run;
        const where = document.createElement("span");
        where.className = "muted small-text";
        where.textContent = " in " + item.environment + (item.digest ? " · " + item.digest.slice(7, 19) : "");
        li.append(link, where);
        list.append(li);
      }
    },
  });
}
