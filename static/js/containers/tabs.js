// Berth: [data-tabs] on the container page: Logs / Stats / Inspect, remembered in the
// URL's #fragment. Each change is announced as "berth:tab" on document, so panels that
// draw or load lazily (stats, inspect) know when they become visible.

export function tabs(nav) {
  const buttons = Array.from(nav.querySelectorAll("[data-tab]"));
  function select(name, push) {
    const chosen = buttons.find((b) => b.dataset.tab === name) || buttons[0];
    buttons.forEach((button) => {
      const on = button === chosen;
      button.setAttribute("aria-selected", String(on));
      button.tabIndex = on ? 0 : -1;
      document.getElementById(button.getAttribute("aria-controls")).hidden = !on;
    });
    if (push) history.replaceState(null, "", "#" + chosen.dataset.tab);
    document.dispatchEvent(new CustomEvent("berth:tab", { detail: chosen.dataset.tab }));
  }
  buttons.forEach((button) => button.addEventListener("click", () => select(button.dataset.tab, true)));
  nav.addEventListener("keydown", (event) => {
    const at = buttons.indexOf(document.activeElement);
    if (at < 0 || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) return;
    const next = buttons[(at + (event.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length];
    next.focus();
    select(next.dataset.tab, true);
  });
  select(location.hash.slice(1), false);
}
