// Berth: a log viewer built for volume. Mounted on
//   <div class="logviewer" data-log-socket="/ws/..." data-download-url="..."
//        data-older-url="..." data-mode="container|service">
// This entry wires the parts under logviewer/:
// - lines.js: the ring buffer (200,000 lines, 64 MiB) and its shown / matching indexes;
// - layout.js + rows.js: virtualised rendering, following and pausing;
// - ansi.js: colours; search.js: search and filters; replicas.js: a service's replicas;
// - protocol.js: the log socket, resume without duplicates; older.js: "Load older lines".
// Each viewer's element gets .berthLogViewer (lineCount() and friends, used by
// containers.js and the browser tests); window.berthLogViewer lists those of the page.

import { count } from "./lib/format.js";
import { Layout } from "./logviewer/layout.js";
import { Lines } from "./logviewer/lines.js";
import { build, setText, store, stored } from "./logviewer/markup.js";
import { fetchOlder } from "./logviewer/older.js";
import { LogStream } from "./logviewer/protocol.js";
import { Replicas } from "./logviewer/replicas.js";
import { tsClock } from "./logviewer/rows.js";
import { Search } from "./logviewer/search.js";

function mount(root) {
  const service = root.dataset.mode === "service";
  const downloadUrl = root.dataset.downloadUrl || "";
  const olderUrl = service ? "" : root.dataset.olderUrl || "";
  const els = build(root);
  root.classList.add(service ? "mode-service" : "mode-container");

  const search = new Search();
  const lines = new Lines(search);
  lines.atStart = !olderUrl;
  const replicas = new Replicas(els.replica, (width) => {
    root.style.setProperty("--rep-width", width + "ch");
    relayoutSoon();
  });
  const look = { showTs: stored("ts", true), service, colours: replicas.colours, search, current: null, downloadUrl };
  const layout = new Layout(els, lines, look);
  layout.wrap = stored("wrap", false);
  layout.onFrame = updateBar;
  let stateText = "", loadingOlder = false, searchTimer = 0, relayoutPending = false;

  const stream = new LogStream({
    path: root.dataset.logSocket,
    service,
    tail: root.dataset.tail || "",
    firstLine: () => lines.firstLine(),
    on: {
      lines(batch) {
        for (const line of batch) {
          if (line.replica) replicas.add(line.replica);
          lines.append(line);
        }
        if (!layout.following) layout.newWhilePaused += batch.length;
        layout.schedule();
      },
      marker(kind, text, extra) {
        lines.append(Object.assign({ marker: kind, ts: "", stream: "", text: "", replica: "", plain: text }, extra));
        layout.schedule();
      },
      replicas(names) {
        names.forEach((name) => replicas.add(name));
        layout.schedule();
      },
      live(wholeLog) {
        if (wholeLog) lines.atStart = true;
        layout.schedule();
      },
      state(text, kind) {
        stateText = text;
        setText(els.state, text);
        els.state.className = "lv-state " + (kind || "");
        if (kind === "ended") root.dispatchEvent(new CustomEvent("berth:log-ended", { bubbles: true }));
      },
    },
  });

  function updateBar() {
    const held = lines.lineCount;
    let text = count(held) + (held === 1 ? " line" : " lines");
    if (search.narrowing) text = "showing " + count(lines.shownCount - lines.markers) + " of " + text;
    if (lines.evicted) text += " · " + count(lines.evicted) + " older dropped from the viewer (download has them)";
    setText(els.count, text);
    const n = lines.matchCount;
    setText(els.matches, search.invalid ? "not a valid regex" : search.matcher ? count(n) + (n === 1 ? " match" : " matches") : "");
    els.matches.classList.toggle("none", search.matcher !== null && n === 0);
    setText(els.follow, layout.following ? "Pause" : "Follow");
    els.follow.setAttribute("aria-pressed", String(!layout.following));
    const fresh = layout.newWhilePaused;
    els.new.hidden = layout.following || fresh === 0;
    if (!els.new.hidden) setText(els.new, "↓ " + count(fresh) + " new line" + (fresh === 1 ? "" : "s"));
    els.older.hidden = lines.atStart || !olderUrl || held === 0;
    els.older.disabled = loadingOlder || lines.full;
    let nothing = "";
    if (lines.shownCount === 0) nothing = held === 0 ? (stream.ended ? "The log is empty." : "No lines yet.") : "No line matches.";
    els.empty.hidden = !nothing;
    setText(els.empty, nothing);
  }

  // After the frame's messages: one relayout for any number of new replicas.
  function relayoutSoon() {
    if (!relayoutPending) requestAnimationFrame(() => { relayoutPending = false; layout.relayout(); });
    relayoutPending = true;
  }

  function applySearch() {
    clearTimeout(searchTimer);
    search.set(els.search.value, els.regex.checked, els.filter.checked);
    els.search.classList.toggle("invalid", search.invalid);
    look.current = null;
    lines.rebuild();
    layout.schedule();
  }

  // Enter / shift-Enter: from the current match, or from the top of the view.
  function jump(direction) {
    if (lines.matchCount === 0) return;
    const from = look.current !== null ? look.current : lines.view[layout.topIndex()] - (direction > 0 ? 1 : 0);
    look.current = lines.nextMatch(from, direction);
    layout.pause();
    layout.invalidate();
    layout.scrollToAbs(look.current, els.scroller.clientHeight / 3);
  }

  async function loadOlder() {
    const first = lines.firstLine();
    if (!first || loadingOlder) return;
    loadingOlder = true;
    setText(els.older, "Loading…");
    layout.schedule();
    try {
      const older = await fetchOlder(olderUrl, first);
      if (older.atStart) lines.atStart = true;
      if (older.lines.length && !lines.full) {
        layout.pause();
        lines.prepend(older.lines);
      }
      setText(els.older, "Load older lines");
    } catch (err) {
      setText(els.older, "Load older lines (failed: " + err.message + ")");
    } finally {
      loadingOlder = false;
      layout.schedule();
    }
  }

  function downloadHref() {
    const params = new URLSearchParams();
    for (const [input, name] of [[els.since, "since"], [els.until, "until"]]) {
      const d = input.value ? new Date(input.value) : null;
      if (d && !Number.isNaN(d.getTime())) params.set(name, d.toISOString());
    }
    const q = params.toString();
    setText(els.download, q ? "Download this range" : "Download the whole log");
    return downloadUrl + (q ? (downloadUrl.includes("?") ? "&" : "?") + q : "");
  }

  els.follow.addEventListener("click", () => (layout.following ? layout.pause() : layout.follow()));
  els.new.addEventListener("click", () => layout.follow());
  els.older.addEventListener("click", loadOlder);
  els.search.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(applySearch, 120); });
  els.search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      if (els.search.value !== search.query) applySearch();
      jump(event.shiftKey ? -1 : 1);
    } else if (event.key === "Escape") {
      els.search.value = "";
      applySearch();
      els.scroller.focus();
    }
  });
  els.filter.addEventListener("change", applySearch);
  els.regex.addEventListener("change", applySearch);
  els.replica.addEventListener("change", () => {
    search.replica = els.replica.value;
    lines.rebuild();
    layout.schedule();
  });
  els.ts.addEventListener("change", () => {
    look.showTs = els.ts.checked;
    store("ts", look.showTs);
    layout.relayout();
  });
  els.wrap.addEventListener("change", () => {
    layout.wrap = els.wrap.checked;
    store("wrap", layout.wrap);
    root.classList.toggle("wrap", layout.wrap);
    layout.relayout();
  });
  els.rows.addEventListener("click", (event) => {
    const more = event.target.closest("[data-more]");
    const line = more && lines.get(Number(more.dataset.more));
    if (!line) return;
    setText(els.dialogTitle, [tsClock(line.ts), line.stream, line.replica].filter(Boolean).join(" · ") +
      " · " + count(line.plain.length) + " characters");
    els.dialogText.textContent = line.plain;
    els.dialog.showModal();
  });
  els.close.addEventListener("click", () => els.dialog.close());
  els.copy.addEventListener("click", () => {
    if (navigator.clipboard) navigator.clipboard.writeText(els.dialogText.textContent).catch(() => {});
  });
  for (const input of [els.since, els.until]) input.addEventListener("input", () => { els.download.href = downloadHref(); });
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey || root.offsetParent === null) return;
    if (target instanceof Element && target.closest("input, textarea, select, [contenteditable], dialog")) return;
    if (event.key === "/") { event.preventDefault(); els.search.focus(); els.search.select(); }
    else if (event.key === "End") { event.preventDefault(); layout.follow(); }
  });

  els.ts.checked = look.showTs;
  els.wrap.checked = layout.wrap;
  root.classList.toggle("wrap", layout.wrap);
  if (!downloadUrl) els.downloadBox.hidden = true;
  els.download.href = downloadHref();
  layout.measure();
  stream.start();

  const api = {
    root,
    lineCount: () => lines.lineCount,
    shownCount: () => lines.shownCount,
    matchCount: () => lines.matchCount,
    evicted: () => lines.evicted,
    following: () => layout.following,
    state: () => stateText,
    renderedRows: () => els.rows.childElementCount,
    forEachLine: (fn) => lines.forEach(fn),
    reconnect: () => stream.reconnect(),
    // Closes the socket as a server restart would: the viewer reconnects and resumes.
    disconnect: () => stream.disconnect(),
    ended: () => stream.isEnded,
  };
  root.berthLogViewer = api;
  return api;
}

window.berthLogViewer = [];
document.querySelectorAll(".logviewer[data-log-socket]").forEach((root) => window.berthLogViewer.push(mount(root)));
