// Berth log viewer: the viewer's markup, its named parts ([data-lv-<name>]), and the
// display preferences remembered in localStorage.

const STORAGE = "berth.logviewer.";

const BAR = `
  <div class="lv-bar">
    <span class="lv-state" data-lv-state role="status" aria-live="polite">connecting…</span>
    <span class="lv-count" data-lv-count></span>
    <span class="spacer"></span>
    <button type="button" class="small" data-lv-older hidden>Load older lines</button>
    <details class="lv-download" data-lv-download-box>
      <summary class="button small">Download</summary>
      <div class="lv-popover">
        <label>Since <input type="datetime-local" step="1" data-lv-since></label>
        <label>Until <input type="datetime-local" step="1" data-lv-until></label>
        <a class="button small primary" data-lv-download download href="#">Download the whole log</a>
        <p class="muted small-text">Streamed from the engine, whatever its size. Times are in your time zone; empty means from the start / up to now.</p>
      </div>
    </details>
    <button type="button" class="small" data-lv-follow>Pause</button>
  </div>
  <div class="lv-bar lv-tools">
    <input type="search" placeholder="Search (press /)" aria-label="Search the log" data-lv-search autocomplete="off" spellcheck="false">
    <label class="toggle"><input type="checkbox" data-lv-filter> Only matching</label>
    <label class="toggle"><input type="checkbox" data-lv-regex> Regex</label>
    <span class="lv-matches" data-lv-matches></span>
    <select data-lv-replica aria-label="Replica" hidden><option value="">All replicas</option></select>
    <span class="spacer"></span>
    <label class="toggle"><input type="checkbox" data-lv-ts> Timestamps</label>
    <label class="toggle"><input type="checkbox" data-lv-wrap> Wrap</label>
  </div>
  <div class="lv-body">
    <div class="lv-scroller" data-lv-scroller tabindex="0" role="region" aria-label="Log lines">
      <div class="lv-canvas" data-lv-canvas><div class="lv-rows" data-lv-rows></div></div>
    </div>
    <p class="lv-empty" data-lv-empty hidden></p>
    <button type="button" class="lv-new" data-lv-new hidden></button>
  </div>
  <dialog class="lv-dialog" data-lv-dialog>
    <header><strong data-lv-dialog-title></strong><span class="spacer"></span>
      <button type="button" class="small" data-lv-copy>Copy</button>
      <button type="button" class="small" data-lv-close>Close</button></header>
    <pre data-lv-dialog-text></pre>
  </dialog>`;

// Fills root and returns its parts by camelCased name: els.dialogTitle is [data-lv-dialog-title].
export function build(root) {
  root.innerHTML = BAR;
  const els = {};
  root.querySelectorAll("*").forEach((el) => {
    for (const name of el.getAttributeNames()) {
      if (name.startsWith("data-lv-")) els[name.slice(8).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = el;
    }
  });
  return els;
}

export function stored(name, fallback) {
  try {
    const value = localStorage.getItem(STORAGE + name);
    return value === null ? fallback : value === "1";
  } catch (err) {
    return fallback;
  }
}

export function store(name, value) {
  try { localStorage.setItem(STORAGE + name, value ? "1" : "0"); } catch (err) { /* private mode */ }
}

// Only when it changed: the bar is refreshed every frame while lines arrive.
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
