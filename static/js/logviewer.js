// Berth: a log viewer built for volume. Mounted on
//   <div class="logviewer" data-log-socket="/ws/..." data-download-url="..."
//        data-older-url="..." data-mode="container|service">
// - Lines live in a ring buffer (MAX_LINES lines, MAX_CHARS characters; how many were
//   dropped shows in the bar), never one DOM node per line: only the rows in view, plus a
//   few, are rendered, at most once per animation frame.
// - Wrap off: rows have one height, a huge line shows its first SHOWN_CHARS characters and
//   "… N more characters", which opens the whole line. Wrap on: a monospace font breaking
//   anywhere, so a row's height follows from its length and the measured characters per
//   row; prefix sums over the shown lines give every row's position.
// - Every "lines" message is acknowledged on receipt (the server's flow control).
// - Follow / pause: scrolling up pauses (lines keep arriving into the buffer, "N new
//   lines" resumes), scrolling to the bottom follows; End follows, / searches.
// - Search highlights matches in the rows shown; "Only matching" filters; both run over
//   plain strings in one pass, never over the DOM.
// - A closed socket (unless the log ended) reconnects with backoff and resumes after the
//   last timestamp held per (replica, stream); lines at or before it are dropped, so a
//   reconnect never shows a line twice.
// window.berthLogViewer lists the viewers of the page (lineCount() and friends).
(function () {
  "use strict";

  const MAX_LINES = 200000;
  const MAX_CHARS = 64 * 1024 * 1024;
  const SHOWN_CHARS = 2000;
  const OVERSCAN = 12;
  const MAX_PX = 15000000; // browsers stop growing an element near 33.5 million px
  const OLDER_LINES = 1000;
  const DEFAULT_TAIL = 500; // the server's, when no tail is asked for
  const STORAGE = "berth.logviewer.";
  const PALETTE = ["#6cb6ff", "#8fd18b", "#f2cc60", "#d38aea", "#56d4dd", "#ff9b6a", "#a5b4fc", "#f78fb3", "#b5e86b", "#e6c07b"];
  const NEEDS_CLEAN = /[\x00-\x09\x0b-\x1f\x7f]/;
  // CSI sequences (SGR among them), OSC strings, and any other lone escape.
  const ESCAPES = /\x1b\[([0-9;:?<=>]*)[ -\/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?/g;

  // --- Text --------------------------------------------------------------------------

  function clean(s) {
    return s.replace(/\t/g, "    ").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
  }

  // What is searched and measured: the text without escapes and control characters.
  function plainOf(text) {
    return NEEDS_CLEAN.test(text) ? clean(text.replace(ESCAPES, "")) : text;
  }

  function esc(s) {
    return s.replace(/[&<>"]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&quot;"));
  }

  function fmt(n) { return n.toLocaleString("en-US"); }

  function moreText(n) { return "… " + fmt(n) + " more characters"; }

  // [[text, classes]] of a line with ANSI SGR colours; every other escape is dropped.
  function parseAnsi(text) {
    const segments = [];
    let fg = "", bg = "", bold = false, last = 0, match;
    const push = (s) => {
      s = clean(s);
      if (!s) return;
      const cls = [fg && "a-" + fg, bg && "a-" + bg, bold && "a-b"].filter(Boolean).join(" ");
      segments.push([s, cls]);
    };
    ESCAPES.lastIndex = 0;
    while ((match = ESCAPES.exec(text)) !== null) {
      push(text.slice(last, match.index));
      last = ESCAPES.lastIndex;
      if (match[2] !== "m" || match[0][1] !== "[") continue;
      const codes = match[1] === "" ? [0] : match[1].split(/[;:]/).map(Number);
      for (let i = 0; i < codes.length; i++) {
        const c = codes[i];
        if (c === 0) { fg = ""; bg = ""; bold = false; }
        else if (c === 1) bold = true;
        else if (c === 22) bold = false;
        else if ((c >= 30 && c <= 37) || (c >= 90 && c <= 97)) fg = "f" + c;
        else if (c === 39) fg = "";
        else if ((c >= 40 && c <= 47) || (c >= 100 && c <= 107)) bg = "b" + c;
        else if (c === 49) bg = "";
        else if (c === 38 || c === 48) i += codes[i + 1] === 5 ? 2 : codes[i + 1] === 2 ? 4 : 0;
      }
    }
    push(text.slice(last));
    return segments;
  }

  function pad(n, width) { return String(n).padStart(width || 2, "0"); }

  // Docker's RFC3339Nano as local HH:MM:SS.mmm.
  function clock(ts) {
    const d = new Date(ts.slice(0, 23) + "Z");
    if (Number.isNaN(d.getTime())) return ts.slice(11, 23);
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
  }

  function stored(name, fallback) {
    try {
      const value = localStorage.getItem(STORAGE + name);
      return value === null ? fallback : value === "1";
    } catch (err) {
      return fallback;
    }
  }

  function store(name, value) {
    try { localStorage.setItem(STORAGE + name, value ? "1" : "0"); } catch (err) { /* private mode */ }
  }

  // --- Ring buffer -------------------------------------------------------------------

  // Items by absolute number, first .. first + count - 1. Numbers never shift, so the
  // indexes kept over them (shown lines, matches) stay valid and are trimmed at the front.
  class Ring {
    constructor(capacity) {
      this.capacity = capacity;
      this.slots = new Array(capacity).fill(null);
      this.first = 0;
      this.count = 0;
    }
    slot(n) { return ((n % this.capacity) + this.capacity) % this.capacity; }
    get(n) { return n >= this.first && n < this.first + this.count ? this.slots[this.slot(n)] : null; }
    get end() { return this.first + this.count; }
    push(item) {
      this.slots[this.slot(this.first + this.count)] = item;
      this.count++;
    }
    shift() {
      const at = this.slot(this.first);
      const item = this.slots[at];
      this.slots[at] = null;
      this.first++;
      this.count--;
      return item;
    }
    unshift(item) {
      this.first--;
      this.slots[this.slot(this.first)] = item;
      this.count++;
    }
  }

  function lowerBound(list, value, from) {
    let lo = from, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid] < value) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

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

  function mount(root) {
    const mode = root.dataset.mode === "service" ? "service" : "container";
    const downloadUrl = root.dataset.downloadUrl || "";
    const olderUrl = mode === "container" ? root.dataset.olderUrl || "" : "";
    const initialTail = root.dataset.tail || "";
    root.innerHTML = BAR;
    root.classList.add("mode-" + mode);
    const $ = (name) => root.querySelector("[data-lv-" + name + "]");
    const stateEl = $("state"), countEl = $("count"), matchesEl = $("matches");
    const olderButton = $("older"), followButton = $("follow"), newButton = $("new");
    const search = $("search"), filterBox = $("filter"), regexBox = $("regex");
    const tsBox = $("ts"), wrapBox = $("wrap"), replicaSelect = $("replica");
    const scroller = $("scroller"), canvas = $("canvas"), rows = $("rows"), empty = $("empty");
    const downloadBox = $("download-box"), downloadLink = $("download"), sinceInput = $("since"), untilInput = $("until");
    const dialog = $("dialog");

    const ring = new Ring(MAX_LINES);
    let chars = 0, evicted = 0, markersHeld = 0, maxLen = 0;
    // view: absolute numbers of the lines shown (all, or the filtered ones), from vs on;
    // tops[k]: rows above view[k] when wrapping. matches: the lines matching, from ms on.
    let view = [], vs = 0, tops = [0], matches = [], ms = 0;
    let query = "", matcher = null, filterOn = false, regexOn = false, replicaFilter = "";
    let showTs = stored("ts", true), wrap = stored("wrap", false);
    let following = true, newWhilePaused = 0, autoTop = 0, shiftUnits = 0, currentMatch = null;
    let rowH = 18, charW = 7.5, cpr = 120, textLeft = 0, canvasHeight = -1, canvasWidth = -1;
    let version = 0, lastKey = "", frame = 0, searchTimer = 0;
    const lastTs = new Map();
    let floor = new Map();
    const replicas = new Map();
    let socket = null, ended = false, endReason = "", lastError = "", delay = 1000;
    let retryTimer = 0, countdown = 0, stateText = "", firstConnection = true, backlogLines = 0;
    let atStart = !olderUrl, loadingOlder = false, repWidth = 0, relayoutPending = false;

    tsBox.checked = showTs;
    wrapBox.checked = wrap;
    root.classList.toggle("wrap", wrap);
    if (!downloadUrl) downloadBox.hidden = true;

    // --- Buffer and indexes ----------------------------------------------------------

    function displayLen(line) {
      if (line.marker) return 1;
      const n = line.plain.length;
      return n <= SHOWN_CHARS ? n : SHOWN_CHARS + 1 + moreText(n - SHOWN_CHARS).length;
    }

    function heightOf(line) {
      return wrap && !line.marker ? Math.max(1, Math.ceil(displayLen(line) / cpr)) : 1;
    }

    function makeMatcher() {
      if (!query) return null;
      if (regexOn) {
        let re;
        try { re = new RegExp(query, "i"); } catch (err) { return "invalid"; }
        return (s) => re.test(s);
      }
      const q = query.toLowerCase();
      if (q === query.toUpperCase()) return (s) => s.indexOf(q) !== -1; // no letters to fold
      return (s) => s.toLowerCase().indexOf(q) !== -1;
    }

    function consider(abs, line) {
      const hit = !line.marker && typeof matcher === "function" && matcher(line.plain);
      if (hit) matches.push(abs);
      const shown = line.marker || ((!replicaFilter || line.replica === replicaFilter) &&
        (!filterOn || typeof matcher !== "function" || hit));
      if (!shown) return;
      view.push(abs);
      if (wrap) tops.push(tops[tops.length - 1] + heightOf(line));
    }

    function rebuild() {
      view = []; vs = 0; tops = [0]; matches = []; ms = 0;
      for (let abs = ring.first; abs < ring.end; abs++) consider(abs, ring.get(abs));
      version++;
      schedule();
    }

    function base() { return wrap ? tops[vs] : vs; }

    function trimFront() {
      const before = base();
      while (vs < view.length && view[vs] < ring.first) vs++;
      while (ms < matches.length && matches[ms] < ring.first) ms++;
      shiftUnits += base() - before;
      if (vs > 65536 && vs * 2 > view.length) {
        const b = tops[vs];
        view = view.slice(vs);
        if (wrap) tops = tops.slice(vs).map((t) => t - b);
        vs = 0;
        version++;
      }
      if (ms > 65536 && ms * 2 > matches.length) { matches = matches.slice(ms); ms = 0; }
    }

    function append(line) {
      let dropped = 0;
      while (ring.count && (ring.count >= MAX_LINES || chars + line.text.length > MAX_CHARS)) {
        const old = ring.shift();
        if (old.marker) markersHeld--;
        else { chars -= old.text.length; dropped++; }
      }
      if (dropped) { evicted += dropped; atStart = false; trimFront(); }
      ring.push(line);
      if (line.marker) markersHeld++;
      else {
        chars += line.text.length;
        maxLen = Math.max(maxLen, displayLen(line));
        if (line.replica && !replicas.has(line.replica)) addReplica(line.replica);
      }
      consider(ring.end - 1, line);
    }

    function firstLine() {
      for (let abs = ring.first; abs < ring.end; abs++) {
        const line = ring.get(abs);
        if (!line.marker && line.ts) return line;
      }
      return null;
    }

    function addReplica(name) {
      let at = 0;
      for (let i = 0; i < name.length; i++) at = (at * 31 + name.charCodeAt(i)) >>> 0;
      const taken = new Set(replicas.values());
      let colour = PALETTE[at % PALETTE.length];
      for (let i = 0; i < PALETTE.length && taken.has(colour); i++) colour = PALETTE[(at + i + 1) % PALETTE.length];
      replicas.set(name, colour);
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      const later = Array.from(replicaSelect.options).find((o) => o.value && o.value > name);
      replicaSelect.insertBefore(option, later || null);
      replicaSelect.hidden = replicas.size < 2;
      const widest = Math.min(32, Math.max(8, ...Array.from(replicas.keys(), (n) => n.length)));
      if (widest !== repWidth) {
        repWidth = widest;
        root.style.setProperty("--rep-width", widest + "ch");
        relayoutSoon();
      }
    }

    // After the frame's messages: one relayout for any number of new replicas.
    function relayoutSoon() {
      if (!relayoutPending) requestAnimationFrame(() => { relayoutPending = false; relayout(); });
      relayoutPending = true;
    }

    // --- Rendering -------------------------------------------------------------------

    function schedule() { if (!frame) frame = requestAnimationFrame(render); }

    function unitsBefore(k) { return wrap ? tops[k] - tops[vs] : k - vs; }

    function indexAtUnit(u) {
      if (view.length <= vs) return vs;
      if (!wrap) return Math.min(view.length - 1, vs + Math.max(0, Math.floor(u)));
      let lo = vs, hi = view.length - 1;
      const target = tops[vs] + u;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (tops[mid] <= target) lo = mid; else hi = mid - 1;
      }
      return lo;
    }

    function geometry() {
      const fullPx = unitsBefore(view.length) * rowH;
      const canvasPx = Math.min(fullPx, MAX_PX);
      const vh = scroller.clientHeight;
      const scale = fullPx > canvasPx && canvasPx > vh ? (fullPx - vh) / (canvasPx - vh) : 1;
      return { fullPx, canvasPx, vh, scale };
    }

    function ranges(s) {
      const found = [];
      if (typeof matcher !== "function") return found;
      if (regexOn) {
        const re = new RegExp(query, "gi");
        let m;
        while ((m = re.exec(s)) !== null && found.length < 500) {
          if (m[0] === "") { re.lastIndex++; continue; }
          found.push([m.index, m.index + m[0].length]);
        }
        return found;
      }
      const q = query.toLowerCase();
      const hay = q === query.toUpperCase() ? s : s.toLowerCase();
      for (let at = hay.indexOf(q); at !== -1 && found.length < 500; at = hay.indexOf(q, at + q.length)) {
        found.push([at, at + q.length]);
      }
      return found;
    }

    function textHtml(abs, line) {
      const long = line.plain.length > SHOWN_CHARS;
      let segments;
      if (line.text === line.plain) segments = [[long ? line.plain.slice(0, SHOWN_CHARS) : line.plain, ""]];
      else {
        segments = parseAnsi(long ? line.text.slice(0, SHOWN_CHARS * 4) : line.text);
        let left = SHOWN_CHARS;
        segments = segments.filter((seg) => {
          if (left <= 0) return false;
          if (seg[0].length > left) seg[0] = seg[0].slice(0, left);
          left -= seg[0].length;
          return true;
        });
      }
      const found = ranges(segments.map((seg) => seg[0]).join(""));
      let out = "", pos = 0, r = 0;
      for (const [text, cls] of segments) {
        let piece = "", i = 0;
        while (i < text.length) {
          const at = pos + i;
          while (r < found.length && found[r][1] <= at) r++;
          if (r < found.length && found[r][0] <= at) {
            const end = Math.min(text.length, found[r][1] - pos);
            piece += "<mark>" + esc(text.slice(i, end)) + "</mark>";
            i = end;
          } else {
            const end = r < found.length ? Math.min(text.length, found[r][0] - pos) : text.length;
            piece += esc(text.slice(i, end));
            i = end;
          }
        }
        pos += text.length;
        out += cls ? '<span class="' + cls + '">' + piece + "</span>" : piece;
      }
      if (long) out += ' <button type="button" class="lv-more" data-more="' + abs + '">' + moreText(line.plain.length - SHOWN_CHARS) + "</button>";
      return out;
    }

    function markerHtml(line) {
      let html = esc(line.plain);
      if (line.since && line.until && downloadUrl) {
        const params = new URLSearchParams({ since: line.since, until: line.until });
        html += ' <a href="' + esc(downloadUrl + (downloadUrl.includes("?") ? "&" : "?") + params) + '" download>Download these lines</a>';
      }
      return html;
    }

    function rowHtml(abs, line, y, h) {
      if (line.marker) {
        return '<div class="lv-row lv-marker ' + line.marker + '" style="top:' + y + "px;height:" + h + 'px">' + markerHtml(line) + "</div>";
      }
      let cls = "lv-row";
      if (line.stream === "stderr") cls += " err";
      if (abs === currentMatch) cls += " current";
      let html = '<div class="' + cls + '" style="top:' + y + "px;height:" + h + 'px" data-abs="' + abs + '">';
      if (showTs) html += '<span class="lv-ts" title="' + esc(line.ts + " " + line.stream) + '">' + (line.ts ? clock(line.ts) : "") + "</span>";
      if (mode === "service") {
        html += '<span class="lv-rep" style="color:' + (replicas.get(line.replica) || "inherit") + '" title="' + esc(line.replica) + '">' + esc(line.replica || "—") + "</span>";
      }
      return html + '<span class="lv-text">' + textHtml(abs, line) + "</span></div>";
    }

    function setText(el, text) { if (el.textContent !== text) el.textContent = text; }

    function updateBar() {
      const lines = ring.count - markersHeld;
      let count = fmt(lines) + (lines === 1 ? " line" : " lines");
      if (filterOn && typeof matcher === "function" || replicaFilter) {
        count = "showing " + fmt(view.length - vs - markersHeld) + " of " + count;
      }
      if (evicted) count += " · " + fmt(evicted) + " older dropped from the viewer (download has them)";
      setText(countEl, count);
      const n = matches.length - ms;
      setText(matchesEl, matcher === "invalid" ? "not a valid regex" : matcher ? fmt(n) + (n === 1 ? " match" : " matches") : "");
      matchesEl.classList.toggle("none", matcher !== null && n === 0);
      setText(followButton, following ? "Pause" : "Follow");
      followButton.setAttribute("aria-pressed", String(!following));
      newButton.hidden = following || newWhilePaused === 0;
      if (!newButton.hidden) setText(newButton, "↓ " + fmt(newWhilePaused) + " new line" + (newWhilePaused === 1 ? "" : "s"));
      olderButton.hidden = atStart || !olderUrl || lines === 0;
      olderButton.disabled = loadingOlder || ring.count >= MAX_LINES;
      let nothing = "";
      if (view.length <= vs) {
        nothing = lines === 0 ? (ended ? "The log is empty." : "No lines yet.") : "No line matches.";
      }
      empty.hidden = !nothing;
      setText(empty, nothing);
    }

    function render() {
      frame = 0;
      updateBar();
      const g = geometry();
      if (g.canvasPx !== canvasHeight) { canvas.style.height = g.canvasPx + "px"; canvasHeight = g.canvasPx; }
      const width = wrap ? 0 : Math.ceil(textLeft + maxLen * charW + 24);
      if (width !== canvasWidth) { canvas.style.width = wrap ? "" : width + "px"; canvasWidth = width; }
      if (shiftUnits) {
        if (!following) scroller.scrollTop = Math.max(0, scroller.scrollTop - (shiftUnits * rowH) / g.scale);
        shiftUnits = 0;
      }
      if (following) { scroller.scrollTop = g.canvasPx; autoTop = scroller.scrollTop; }
      const top = scroller.scrollTop;
      const vTop = top * g.scale;
      const offset = top - vTop;
      const k0 = Math.max(vs, indexAtUnit(vTop / rowH) - OVERSCAN);
      const k1 = Math.min(view.length - 1, indexAtUnit((vTop + g.vh) / rowH) + OVERSCAN);
      const key = k0 + ":" + k1 + ":" + version + ":" + Math.round(offset) + ":" + view[k1];
      if (key === lastKey) return;
      lastKey = key;
      let html = "";
      for (let k = k0; k <= k1; k++) {
        const line = ring.get(view[k]);
        html += rowHtml(view[k], line, unitsBefore(k) * rowH + offset, heightOf(line) * rowH);
      }
      rows.innerHTML = html;
    }

    function measure() {
      rowH = parseFloat(getComputedStyle(scroller).lineHeight) || rowH;
      if (wrap) { canvas.style.width = ""; canvasWidth = 0; } // rows as wide as the view
      const probe = document.createElement("div");
      probe.className = "lv-row lv-probe";
      probe.innerHTML = (showTs ? '<span class="lv-ts">00:00:00.000</span>' : "") +
        (mode === "service" ? '<span class="lv-rep">x</span>' : "") +
        '<span class="lv-text"><span style="white-space:pre">' + "0".repeat(100) + "</span></span>";
      canvas.append(probe);
      const text = probe.lastElementChild;
      const sample = text.firstElementChild.getBoundingClientRect().width;
      if (sample > 0) {
        charW = sample / 100;
        textLeft = text.offsetLeft;
        cpr = Math.max(8, Math.floor((text.clientWidth - 1) / charW));
      }
      probe.remove();
    }

    // Layout changed (wrap, timestamps, width): re-measure and re-index, keeping the line
    // at the top of the view in place when paused.
    function relayout() {
      let anchor = null;
      if (!following && view.length > vs) {
        const g = geometry();
        anchor = view[indexAtUnit((scroller.scrollTop * g.scale) / rowH)];
      }
      measure();
      rebuild();
      lastKey = "";
      if (anchor !== null) scrollToAbs(anchor, 0);
    }

    function scrollToAbs(abs, fromTop) {
      const k = Math.min(lowerBound(view, abs, vs), view.length - 1);
      if (k < vs) return;
      const g = geometry();
      scroller.scrollTop = Math.max(0, (unitsBefore(k) * rowH) / g.scale - fromTop);
      schedule();
    }

    function follow() {
      following = true;
      newWhilePaused = 0;
      schedule();
    }

    function pause() {
      if (following) newWhilePaused = 0;
      following = false;
      schedule();
    }

    // --- Search ----------------------------------------------------------------------

    function applySearch() {
      clearTimeout(searchTimer);
      query = search.value;
      regexOn = regexBox.checked;
      filterOn = filterBox.checked;
      matcher = makeMatcher();
      search.classList.toggle("invalid", matcher === "invalid");
      currentMatch = null;
      rebuild();
    }

    function jump(direction) {
      if (matches.length <= ms) return;
      let from = currentMatch;
      if (from === null) {
        const g = geometry();
        from = view[indexAtUnit((scroller.scrollTop * g.scale) / rowH)] - (direction > 0 ? 1 : 0);
      }
      let i = direction > 0 ? lowerBound(matches, from + 1, ms) : lowerBound(matches, from, ms) - 1;
      if (i >= matches.length) i = ms;
      if (i < ms) i = matches.length - 1;
      currentMatch = matches[i];
      pause();
      version++;
      scrollToAbs(currentMatch, scroller.clientHeight / 3);
    }

    // --- Connection ------------------------------------------------------------------

    function setState(text, kind) {
      stateText = text;
      setText(stateEl, text);
      stateEl.className = "lv-state " + (kind || "");
    }

    function socketUrl() {
      const params = new URLSearchParams();
      if (lastTs.size) {
        params.set("tail", "all");
        if (mode === "container") {
          const first = firstLine();
          for (const stream of ["stdout", "stderr"]) {
            const ts = lastTs.get("\u0000" + stream) || (first && first.ts);
            if (ts) params.set("since_" + stream, ts);
          }
        } else {
          params.set("since", Array.from(lastTs.values()).sort()[0]);
        }
      } else if (initialTail) {
        params.set("tail", initialTail);
      }
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const query_ = params.toString();
      return scheme + location.host + root.dataset.logSocket + (query_ ? "?" + query_ : "");
    }

    function receive(lines, messageReplica) {
      let accepted = 0;
      for (const raw of lines) {
        const replica = raw.replica || messageReplica || "";
        const key = replica + "\u0000" + raw.stream;
        const ts = raw.ts || "";
        const held = floor.get(key);
        if (held !== undefined && ts <= held) continue; // already shown before a reconnect
        if (ts > (lastTs.get(key) || "")) lastTs.set(key, ts);
        const text = typeof raw.text === "string" ? raw.text : "";
        append({ ts, stream: raw.stream, text, replica, plain: plainOf(text) });
        accepted++;
      }
      if (firstConnection) backlogLines += accepted;
      if (!following) newWhilePaused += accepted;
      schedule();
    }

    function addMarker(kind, text, extra) {
      append(Object.assign({ marker: kind, ts: "", stream: "", text: "", replica: "", plain: text }, extra || {}));
      schedule();
    }

    function skipped(message) {
      const text = message.message ? "⚠ " + message.message
        : message.count === null || message.count === undefined
        ? "⚠ Lines between " + message.since + " and " + message.until + " may be missing: the server's backlog did not reach back that far."
        : "⚠ " + fmt(message.count) + " lines skipped here: this viewer fell behind.";
      addMarker("skipped", text, { since: message.since || "", until: message.until || "" });
    }

    function connect() {
      clearTimeout(retryTimer);
      clearInterval(countdown);
      floor = new Map(lastTs);
      setState(lastTs.size ? "resuming…" : "connecting…", "");
      const ws = new WebSocket(socketUrl());
      socket = ws;
      ws.onmessage = (event) => {
        if (socket !== ws) return;
        let message;
        try { message = JSON.parse(event.data); } catch (err) { return; }
        if (message.type === "lines") {
          ws.send(JSON.stringify({ type: "ack", seq: message.seq }));
          delay = 1000;
          receive(message.lines || [], message.replica);
        } else if (message.type === "live") {
          delay = 1000;
          lastError = "";
          setState("● live", "on");
          if (firstConnection && backlogLines < (Number(initialTail) || DEFAULT_TAIL)) atStart = true;
          firstConnection = false;
          schedule();
        } else if (message.type === "skipped") {
          skipped(message);
        } else if (message.type === "replicas") {
          (message.replicas || []).forEach((name) => { if (!replicas.has(name)) addReplica(name); });
          schedule();
        } else if (message.type === "replica" && message.replica) {
          if (!replicas.has(message.replica)) addReplica(message.replica);
          const what = message.state === "ended" ? "ended" + (message.reason ? ": " + message.reason : "") : "joined";
          addMarker("replica", "— " + message.replica + " " + what + " —");
        } else if (message.type === "end") {
          ended = true;
          endReason = message.reason || "the log ended";
        } else if (message.type === "error") {
          lastError = message.message || "the log stream failed";
        }
      };
      ws.onclose = () => {
        if (socket !== ws) return;
        socket = null;
        firstConnection = false;
        if (ended) {
          setState("ended: " + endReason, "ended");
          addMarker("end", "— " + endReason + " —");
          return;
        }
        retry();
      };
    }

    function retry() {
      let left = Math.round(delay / 1000);
      const why = lastError ? "error: " + lastError + " · " : "disconnected · ";
      const tick = () => setState(why + "reconnecting in " + left + " s…", "off");
      tick();
      countdown = setInterval(() => { left = Math.max(0, left - 1); tick(); }, 1000);
      retryTimer = setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    }

    function reconnect() {
      if (socket) return;
      ended = false;
      delay = 1000;
      connect();
    }

    // --- Older lines and downloads ---------------------------------------------------

    async function loadOlder() {
      const first = firstLine();
      if (!first || loadingOlder) return;
      loadingOlder = true;
      setText(olderButton, "Loading…");
      schedule();
      try {
        // until is inclusive: one more line than wanted, the first one held comes back too.
        const wanted = OLDER_LINES + 1;
        const url = olderUrl + (olderUrl.includes("?") ? "&" : "?") +
          new URLSearchParams({ until: first.ts, tail: String(wanted) });
        const response = await fetch(url, { credentials: "same-origin" });
        if (!response.ok) throw new Error("HTTP " + response.status);
        const raws = (await response.text()).split("\n");
        if (raws[raws.length - 1] === "") raws.pop();
        const older = [];
        for (const raw of raws.slice(-wanted)) {
          const a = raw.indexOf(" "), b = raw.indexOf(" ", a + 1);
          if (a < 0 || b < 0) continue;
          const ts = raw.slice(0, a);
          if (ts >= first.ts) continue; // held already
          const text = raw.slice(b + 1);
          older.push({ ts, stream: raw.slice(a + 1, b), text, replica: "", plain: plainOf(text) });
        }
        if (raws.length < wanted || older.length === 0) atStart = true;
        prepend(older);
        setText(olderButton, "Load older lines");
      } catch (err) {
        setText(olderButton, "Load older lines (failed: " + err.message + ")");
      } finally {
        loadingOlder = false;
        schedule();
      }
    }

    function prepend(older) {
      const room = MAX_LINES - ring.count;
      if (room <= 0 || !older.length) return;
      older = older.slice(-room);
      const before = unitsBefore(view.length);
      for (let i = older.length - 1; i >= 0; i--) {
        ring.unshift(older[i]);
        chars += older[i].text.length;
        maxLen = Math.max(maxLen, displayLen(older[i]));
      }
      pause();
      rebuild();
      shiftUnits -= unitsBefore(view.length) - before; // the lines in view stay in place
    }

    function downloadHref() {
      const params = new URLSearchParams();
      for (const [input, name] of [[sinceInput, "since"], [untilInput, "until"]]) {
        const d = input.value ? new Date(input.value) : null;
        if (d && !Number.isNaN(d.getTime())) params.set(name, d.toISOString());
      }
      const q = params.toString();
      setText(downloadLink, q ? "Download this range" : "Download the whole log");
      return downloadUrl + (q ? (downloadUrl.includes("?") ? "&" : "?") + q : "");
    }

    // --- Events ----------------------------------------------------------------------

    scroller.addEventListener("scroll", () => {
      const max = scroller.scrollHeight - scroller.clientHeight;
      if (scroller.scrollTop >= max - 2) { if (!following) follow(); }
      else if (following && scroller.scrollTop < autoTop - 2) pause();
      schedule();
    }, { passive: true });
    scroller.addEventListener("wheel", (event) => { if (event.deltaY < 0 && following) pause(); }, { passive: true });
    followButton.addEventListener("click", () => (following ? pause() : follow()));
    newButton.addEventListener("click", follow);
    olderButton.addEventListener("click", loadOlder);
    search.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(applySearch, 120); });
    search.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        if (search.value !== query) applySearch();
        jump(event.shiftKey ? -1 : 1);
      } else if (event.key === "Escape") {
        search.value = "";
        applySearch();
        scroller.focus();
      }
    });
    filterBox.addEventListener("change", applySearch);
    regexBox.addEventListener("change", applySearch);
    replicaSelect.addEventListener("change", () => { replicaFilter = replicaSelect.value; rebuild(); });
    tsBox.addEventListener("change", () => { showTs = tsBox.checked; store("ts", showTs); relayout(); });
    wrapBox.addEventListener("change", () => {
      wrap = wrapBox.checked;
      store("wrap", wrap);
      root.classList.toggle("wrap", wrap);
      relayout();
    });
    rows.addEventListener("click", (event) => {
      const more = event.target.closest("[data-more]");
      if (!more) return;
      const line = ring.get(Number(more.dataset.more));
      if (!line) return;
      setText($("dialog-title"), [clock(line.ts), line.stream, line.replica].filter(Boolean).join(" · ") +
        " · " + fmt(line.plain.length) + " characters");
      $("dialog-text").textContent = line.plain;
      dialog.showModal();
    });
    $("close").addEventListener("click", () => dialog.close());
    $("copy").addEventListener("click", () => {
      if (navigator.clipboard) navigator.clipboard.writeText($("dialog-text").textContent).catch(() => {});
    });
    for (const input of [sinceInput, untilInput]) input.addEventListener("input", () => { downloadLink.href = downloadHref(); });
    document.addEventListener("keydown", (event) => {
      const target = event.target;
      if (event.ctrlKey || event.metaKey || event.altKey || root.offsetParent === null) return;
      if (target instanceof Element && target.closest("input, textarea, select, [contenteditable], dialog")) return;
      if (event.key === "/") { event.preventDefault(); search.focus(); search.select(); }
      else if (event.key === "End") { event.preventDefault(); follow(); }
    });
    let width = 0;
    new ResizeObserver(() => {
      if (scroller.clientWidth === width) { schedule(); return; }
      width = scroller.clientWidth;
      relayout();
    }).observe(scroller);

    downloadLink.href = downloadHref();
    measure();
    connect();

    const api = {
      root,
      lineCount: () => ring.count - markersHeld,
      shownCount: () => view.length - vs,
      matchCount: () => matches.length - ms,
      evicted: () => evicted,
      following: () => following,
      state: () => stateText,
      renderedRows: () => rows.childElementCount,
      forEachLine: (fn) => { for (let abs = ring.first; abs < ring.end; abs++) fn(ring.get(abs)); },
      reconnect,
      // Closes the socket as a server restart would: the viewer reconnects and resumes.
      disconnect: () => { if (socket) socket.close(); },
      ended: () => ended && !socket,
    };
    root.berthLogViewer = api;
    return api;
  }

  window.berthLogViewer = [];
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".logviewer[data-log-socket]").forEach((root) => window.berthLogViewer.push(mount(root)));
  });
})();
