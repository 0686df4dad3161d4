// Berth: the page frame. The menu button collapses the navigation on narrow screens
// (keyboard: Enter/Space toggles, Escape closes and returns focus); the theme button
// cycles auto → light → dark, remembered in localStorage (see theme.js).

const KEY = "berth-theme";
const ORDER = ["auto", "light", "dark"];
const LABELS = { auto: "follows the system", light: "light", dark: "dark" };

function currentTheme() {
  return document.documentElement.dataset.theme || "auto";
}

function showTheme(button) {
  const theme = currentTheme();
  button.textContent = "Theme: " + theme;
  button.title = "Colour theme: " + LABELS[theme] + ". Press to change it";
}

export function themeToggles() {
  document.querySelectorAll("[data-theme-toggle]").forEach((button) => {
    showTheme(button);
    button.addEventListener("click", () => {
      const next = ORDER[(ORDER.indexOf(currentTheme()) + 1) % ORDER.length];
      if (next === "auto") delete document.documentElement.dataset.theme;
      else document.documentElement.dataset.theme = next;
      try {
        if (next === "auto") localStorage.removeItem(KEY);
        else localStorage.setItem(KEY, next);
      } catch (e) { /* not remembered, still applied */ }
      document.querySelectorAll("[data-theme-toggle]").forEach(showTheme);
    });
  });
}

export function menuToggle() {
  const button = document.querySelector(".menu-toggle");
  const bar = document.querySelector(".topbar");
  if (!button || !bar) return;
  document.documentElement.classList.add("js-menu");
  const set = (open) => {
    bar.classList.toggle("open", open);
    button.setAttribute("aria-expanded", String(open));
  };
  button.addEventListener("click", () => set(!bar.classList.contains("open")));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && bar.classList.contains("open")) {
      set(false);
      button.focus();
    }
  });
}
