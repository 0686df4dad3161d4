// Berth log viewer: virtualised rendering. Only the rows in view, plus OVERSCAN above and
// below, exist in the DOM, redrawn at most once per animation frame and only when what
// is in view changed. Wrap off: every row is one line high and the canvas is as wide as
// the longest line. Wrap on: a monospace font breaking anywhere, so a line's height
// follows from its length and the measured characters per row.
// Following keeps the view at the bottom; scrolling up pauses, scrolling to the bottom
// follows again.

import { displayLen, rowHtml } from "./rows.js";

const OVERSCAN = 12;
// Browsers stop growing an element near 33.5 million px: past this the canvas is scaled
// and the scroll position maps onto the rows proportionally.
const MAX_PX = 15000000;

export class Layout {
  // els: { scroller, canvas, rows }; look: what rows need besides the line (rows.js).
  constructor(els, lines, look) {
    this.scroller = els.scroller;
    this.canvas = els.canvas;
    this.rows = els.rows;
    this.lines = lines;
    this.look = look;
    this.wrap = false;
    this.rowH = 18;
    this.charW = 7.5;
    this.cpr = 120; // characters per row when wrapping
    this.textLeft = 0;
    this.canvasHeight = -1;
    this.canvasWidth = -1;
    this.following = true;
    this.newWhilePaused = 0;
    this.autoTop = 0; // where following last put the scroll: a scroll above it is the user's
    this.frame = 0;
    this.lastKey = "";
    this.onFrame = () => {};
    lines.shape = this;
    this.render = this.render.bind(this);
    this.listen();
  }

  heightOf(line) {
    return this.wrap && !line.marker ? Math.max(1, Math.ceil(displayLen(line) / this.cpr)) : 1;
  }

  schedule() { if (!this.frame) this.frame = requestAnimationFrame(this.render); }

  // Forget what is drawn: the next frame redraws every row.
  invalidate() {
    this.lastKey = "";
    this.schedule();
  }

  geometry() {
    const fullPx = this.lines.unitsBefore(this.lines.view.length) * this.rowH;
    const canvasPx = Math.min(fullPx, MAX_PX);
    const vh = this.scroller.clientHeight;
    const scale = fullPx > canvasPx && canvasPx > vh ? (fullPx - vh) / (canvasPx - vh) : 1;
    return { fullPx, canvasPx, vh, scale };
  }

  // The index in lines.view of the line at the top of the view.
  topIndex() {
    return this.lines.indexAtUnit((this.scroller.scrollTop * this.geometry().scale) / this.rowH);
  }

  render() {
    this.frame = 0;
    this.onFrame();
    const { lines, scroller, rowH } = this;
    const g = this.geometry();
    if (g.canvasPx !== this.canvasHeight) { this.canvas.style.height = g.canvasPx + "px"; this.canvasHeight = g.canvasPx; }
    const width = this.wrap ? 0 : Math.ceil(this.textLeft + lines.maxLen * this.charW + 24);
    if (width !== this.canvasWidth) { this.canvas.style.width = this.wrap ? "" : width + "px"; this.canvasWidth = width; }
    if (lines.shiftUnits) {
      if (!this.following) scroller.scrollTop = Math.max(0, scroller.scrollTop - (lines.shiftUnits * rowH) / g.scale);
      lines.shiftUnits = 0;
    }
    if (this.following) { scroller.scrollTop = g.canvasPx; this.autoTop = scroller.scrollTop; }
    const top = scroller.scrollTop;
    const vTop = top * g.scale;
    const offset = top - vTop;
    const view = lines.view;
    const k0 = Math.max(lines.vs, lines.indexAtUnit(vTop / rowH) - OVERSCAN);
    const k1 = Math.min(view.length - 1, lines.indexAtUnit((vTop + g.vh) / rowH) + OVERSCAN);
    const key = k0 + ":" + k1 + ":" + lines.version + ":" + Math.round(offset) + ":" + view[k1];
    if (key === this.lastKey) return;
    this.lastKey = key;
    let html = "";
    for (let k = k0; k <= k1; k++) {
      const line = lines.get(view[k]);
      html += rowHtml(view[k], line, lines.unitsBefore(k) * rowH + offset, this.heightOf(line) * rowH, this.look);
    }
    this.rows.innerHTML = html;
  }

  // Row height, character width and characters per row, from a probe row in the page's
  // own font: nothing about the font is assumed.
  measure() {
    const { scroller, canvas, look } = this;
    this.rowH = parseFloat(getComputedStyle(scroller).lineHeight) || this.rowH;
    if (this.wrap) { canvas.style.width = ""; this.canvasWidth = 0; } // rows as wide as the view
    const probe = document.createElement("div");
    probe.className = "lv-row lv-probe";
    probe.innerHTML = (look.showTs ? '<span class="lv-ts">00:00:00.000</span>' : "") +
      (look.service ? '<span class="lv-rep">x</span>' : "") +
      '<span class="lv-text"><span style="white-space:pre">' + "0".repeat(100) + "</span></span>";
    canvas.append(probe);
    const text = probe.lastElementChild;
    const sample = text.firstElementChild.getBoundingClientRect().width;
    if (sample > 0) {
      this.charW = sample / 100;
      this.textLeft = text.offsetLeft;
      this.cpr = Math.max(8, Math.floor((text.clientWidth - 1) / this.charW));
    }
    probe.remove();
  }

  // Layout changed (wrap, timestamps, width, replica column): re-measure and re-index,
  // keeping the line at the top of the view in place when paused.
  relayout() {
    const lines = this.lines;
    const anchor = !this.following && lines.shownCount > 0 ? lines.view[this.topIndex()] : null;
    this.measure();
    lines.rebuild();
    this.invalidate();
    if (anchor !== null) this.scrollToAbs(anchor, 0);
  }

  scrollToAbs(abs, fromTop) {
    const k = this.lines.indexOf(abs);
    if (k < 0) return;
    this.scroller.scrollTop = Math.max(0, (this.lines.unitsBefore(k) * this.rowH) / this.geometry().scale - fromTop);
    this.schedule();
  }

  follow() {
    this.following = true;
    this.newWhilePaused = 0;
    this.schedule();
  }

  pause() {
    if (this.following) this.newWhilePaused = 0;
    this.following = false;
    this.schedule();
  }

  listen() {
    const scroller = this.scroller;
    scroller.addEventListener("scroll", () => {
      const max = scroller.scrollHeight - scroller.clientHeight;
      if (scroller.scrollTop >= max - 2) { if (!this.following) this.follow(); }
      else if (this.following && scroller.scrollTop < this.autoTop - 2) this.pause();
      this.schedule();
    }, { passive: true });
    scroller.addEventListener("wheel", (event) => { if (event.deltaY < 0 && this.following) this.pause(); }, { passive: true });
    let width = 0;
    new ResizeObserver(() => {
      if (scroller.clientWidth === width) { this.schedule(); return; }
      width = scroller.clientWidth;
      this.relayout();
    }).observe(scroller);
  }
}
