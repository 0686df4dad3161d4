// Berth: small progressive enhancements on every page, no build step (ES modules).
// - [data-src]: the element's content is loaded from that URL (HTML fragment).
// - [data-reload="#id"]: a button that reloads the fragment of #id.
// - API forms and confirmations: berth/forms.js.
// - Live endpoint states and container events: berth/live.js.
// - The menu button and the theme toggle: berth/frame.js.
// - "Waiting for you" (approvals and confirmations) in the navigation: berth/waiting.js.

import { load } from "./lib/fragments.js";
import { enhanceForms } from "./berth/forms.js";
import { liveChanges, liveContainers, liveStatus } from "./berth/live.js";
import { menuToggle, themeToggles } from "./berth/frame.js";
import { waitingForYou } from "./berth/waiting.js";

menuToggle();
themeToggles();

enhanceForms();
document.querySelectorAll("[data-src]").forEach((el) => load(el));
document.querySelectorAll("[data-reload]").forEach((button) => {
  button.addEventListener("click", () => {
    const target = document.querySelector(button.dataset.reload);
    if (target) load(target);
  });
});
document.querySelectorAll("[data-status-socket]").forEach(liveStatus);
document.querySelectorAll("[data-events-socket]").forEach(liveContainers);
document.querySelectorAll("[data-changes-socket]").forEach(liveChanges);
document.querySelectorAll("[data-waiting-socket]").forEach(waitingForYou);
