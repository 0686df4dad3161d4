// Berth log viewer: the lines held and the two indexes over them. The ring keeps at most
// MAX_LINES lines and MAX_CHARS characters, dropping the oldest. `view` lists the
// absolute numbers of the lines shown (all, or the filtered ones) from `vs` on, and
// `matches` those matching the search from `ms` on; both are kept up to date line by
// line, so a new line never costs a pass over the buffer. When wrapping, tops[k] counts
// the screen rows above view[k] (prefix sums), which places every row without the DOM.

import { Ring, lowerBound } from "./ring.js";
import { displayLen } from "./rows.js";

export const MAX_LINES = 200000;
export const MAX_CHARS = 64 * 1024 * 1024;
// Dropped entries are skipped by moving vs / ms; the arrays are copied down only once
// that much is dead, so trimming stays amortised O(1).
const COMPACT_AFTER = 65536;

export class Lines {
  constructor(search) {
    this.search = search;
    this.shape = { wrap: false, heightOf: () => 1 }; // the layout, once attached
    this.ring = new Ring(MAX_LINES);
    this.chars = 0;
    this.evicted = 0;
    this.markers = 0;
    this.maxLen = 0;
    this.view = [];
    this.vs = 0;
    this.tops = [0];
    this.matches = [];
    this.ms = 0;
    this.version = 0; // bumped when the view index is rebuilt: every row is redrawn
    this.shiftUnits = 0; // rows dropped above the view since the last frame
    this.atStart = false; // the first line held is the first line of the log
  }

  get lineCount() { return this.ring.count - this.markers; }
  get shownCount() { return this.view.length - this.vs; }
  get matchCount() { return this.matches.length - this.ms; }
  get full() { return this.ring.count >= MAX_LINES; }

  get(abs) { return this.ring.get(abs); }

  forEach(fn) {
    for (let abs = this.ring.first; abs < this.ring.end; abs++) fn(this.ring.get(abs));
  }

  // The oldest real line with a time: where "load older" and a resume reach back from.
  firstLine() {
    for (let abs = this.ring.first; abs < this.ring.end; abs++) {
      const line = this.ring.get(abs);
      if (!line.marker && line.ts) return line;
    }
    return null;
  }

  consider(abs, line) {
    const search = this.search;
    const hit = search.hits(line);
    if (hit) this.matches.push(abs);
    if (!search.shows(line, hit)) return;
    this.view.push(abs);
    if (this.shape.wrap) this.tops.push(this.tops[this.tops.length - 1] + this.shape.heightOf(line));
  }

  // After the search, a filter or the layout changed.
  rebuild() {
    this.view = [];
    this.vs = 0;
    this.tops = [0];
    this.matches = [];
    this.ms = 0;
    for (let abs = this.ring.first; abs < this.ring.end; abs++) this.consider(abs, this.ring.get(abs));
    this.version++;
  }

  base() { return this.shape.wrap ? this.tops[this.vs] : this.vs; }

  trimFront() {
    const before = this.base();
    const first = this.ring.first;
    while (this.vs < this.view.length && this.view[this.vs] < first) this.vs++;
    while (this.ms < this.matches.length && this.matches[this.ms] < first) this.ms++;
    this.shiftUnits += this.base() - before;
    if (this.vs > COMPACT_AFTER && this.vs * 2 > this.view.length) {
      const b = this.tops[this.vs];
      this.view = this.view.slice(this.vs);
      if (this.shape.wrap) this.tops = this.tops.slice(this.vs).map((t) => t - b);
      this.vs = 0;
      this.version++;
    }
    if (this.ms > COMPACT_AFTER && this.ms * 2 > this.matches.length) {
      this.matches = this.matches.slice(this.ms);
      this.ms = 0;
    }
  }

  append(line) {
    let dropped = 0;
    while (this.ring.count && (this.ring.count >= MAX_LINES || this.chars + line.text.length > MAX_CHARS)) {
      const old = this.ring.shift();
      if (old.marker) this.markers--;
      else { this.chars -= old.text.length; dropped++; }
    }
    if (dropped) {
      this.evicted += dropped;
      this.atStart = false;
      this.trimFront();
    }
    this.ring.push(line);
    if (line.marker) this.markers++;
    else {
      this.chars += line.text.length;
      this.maxLen = Math.max(this.maxLen, displayLen(line));
    }
    this.consider(this.ring.end - 1, line);
  }

  // Older lines (oldest first) before the first one held, as many as there is room for.
  // The rows they add above are counted in shiftUnits, so the lines in view stay put.
  prepend(older) {
    const room = MAX_LINES - this.ring.count;
    if (room <= 0 || !older.length) return;
    older = older.slice(-room);
    const before = this.unitsBefore(this.view.length);
    for (let i = older.length - 1; i >= 0; i--) {
      this.ring.unshift(older[i]);
      this.chars += older[i].text.length;
      this.maxLen = Math.max(this.maxLen, displayLen(older[i]));
    }
    this.rebuild();
    this.shiftUnits -= this.unitsBefore(this.view.length) - before;
  }

  // Screen rows above view[k] (a row is a line unless wrapping).
  unitsBefore(k) { return this.shape.wrap ? this.tops[k] - this.tops[this.vs] : k - this.vs; }

  // The index in view of the line at row u.
  indexAtUnit(u) {
    const { view, vs, tops } = this;
    if (view.length <= vs) return vs;
    if (!this.shape.wrap) return Math.min(view.length - 1, vs + Math.max(0, Math.floor(u)));
    let lo = vs, hi = view.length - 1;
    const target = tops[vs] + u;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (tops[mid] <= target) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  // The index in view of the line abs, or of the next one shown; -1 if none is shown.
  indexOf(abs) {
    const k = Math.min(lowerBound(this.view, abs, this.vs), this.view.length - 1);
    return k < this.vs ? -1 : k;
  }

  // The match after (direction 1) or before (-1) the line `from`, wrapping around.
  nextMatch(from, direction) {
    const { matches, ms } = this;
    if (matches.length <= ms) return null;
    let i = direction > 0 ? lowerBound(matches, from + 1, ms) : lowerBound(matches, from, ms) - 1;
    if (i >= matches.length) i = ms;
    if (i < ms) i = matches.length - 1;
    return matches[i];
  }
}
