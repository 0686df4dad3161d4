// Berth: the colour theme, applied before the page is drawn (a classic script in <head>,
// so there is no flash of the other theme). "auto" follows the system setting
// (prefers-color-scheme); "light" and "dark" are remembered in localStorage. The toggle
// button ([data-theme-toggle]) is wired up by berth.js.
(function () {
  var KEY = "berth-theme";
  var saved = null;
  try { saved = localStorage.getItem(KEY); } catch (e) { /* storage refused: auto */ }
  if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
})();
