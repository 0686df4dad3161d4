// Berth log viewer: search and filters. A query (plain text, case-insensitive, or a
// regular expression) marks the matching lines; "only matching" and a replica narrow
// the lines shown. Everything runs over the lines' plain strings, never over the DOM,
// so a search over 200,000 lines is one pass of string tests.

const MAX_RANGES = 500; // highlights per line: a huge line must not stall a frame

export class Search {
  constructor() {
    this.query = "";
    this.regex = false;
    this.only = false;
    this.replica = "";
    this.matcher = null; // null: no query; "invalid": a bad regex; else (plain) => bool
  }

  set(query, regex, only) {
    this.query = query;
    this.regex = regex;
    this.only = only;
    this.matcher = this.makeMatcher();
  }

  makeMatcher() {
    const query = this.query;
    if (!query) return null;
    if (this.regex) {
      let re;
      try { re = new RegExp(query, "i"); } catch (err) { return "invalid"; }
      return (s) => re.test(s);
    }
    const q = query.toLowerCase();
    if (q === query.toUpperCase()) return (s) => s.indexOf(q) !== -1; // no letters to fold
    return (s) => s.toLowerCase().indexOf(q) !== -1;
  }

  get invalid() { return this.matcher === "invalid"; }
  get active() { return typeof this.matcher === "function"; }
  // Fewer lines shown than held: the bar then says "showing N of M".
  get narrowing() { return (this.only && this.active) || Boolean(this.replica); }

  hits(line) {
    return !line.marker && this.active && this.matcher(line.plain);
  }

  // Markers (ended, skipped, replica joined) always show: they explain gaps.
  shows(line, hit) {
    return Boolean(line.marker) || ((!this.replica || line.replica === this.replica) &&
      (!this.only || !this.active || hit));
  }

  // [start, end) of each match in s, for highlighting.
  ranges(s) {
    const found = [];
    if (!this.active) return found;
    if (this.regex) {
      const re = new RegExp(this.query, "gi");
      let m;
      while ((m = re.exec(s)) !== null && found.length < MAX_RANGES) {
        if (m[0] === "") { re.lastIndex++; continue; }
        found.push([m.index, m.index + m[0].length]);
      }
      return found;
    }
    const q = this.query.toLowerCase();
    const hay = q === this.query.toUpperCase() ? s : s.toLowerCase();
    for (let at = hay.indexOf(q); at !== -1 && found.length < MAX_RANGES; at = hay.indexOf(q, at + q.length)) {
      found.push([at, at + q.length]);
    }
    return found;
  }
}
