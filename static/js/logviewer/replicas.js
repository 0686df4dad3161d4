// Berth log viewer: the replicas of a merged service log. Each gets a colour of its own
// (from its name, so a reload keeps it, moving on when two names collide), an entry in
// the replica filter, and the replica column is as wide as the longest name.

const PALETTE = ["#6cb6ff", "#8fd18b", "#f2cc60", "#d38aea", "#56d4dd", "#ff9b6a", "#a5b4fc", "#f78fb3", "#b5e86b", "#e6c07b"];

export class Replicas {
  // onWidth(ch): the widest name changed (8 to 32 characters).
  constructor(select, onWidth) {
    this.select = select;
    this.onWidth = onWidth;
    this.colours = new Map();
    this.width = 0;
  }

  has(name) { return this.colours.has(name); }

  add(name) {
    if (!name || this.colours.has(name)) return;
    let at = 0;
    for (let i = 0; i < name.length; i++) at = (at * 31 + name.charCodeAt(i)) >>> 0;
    const taken = new Set(this.colours.values());
    let colour = PALETTE[at % PALETTE.length];
    for (let i = 0; i < PALETTE.length && taken.has(colour); i++) colour = PALETTE[(at + i + 1) % PALETTE.length];
    this.colours.set(name, colour);
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    const later = Array.from(this.select.options).find((o) => o.value && o.value > name);
    this.select.insertBefore(option, later || null);
    this.select.hidden = this.colours.size < 2;
    const widest = Math.min(32, Math.max(8, ...Array.from(this.colours.keys(), (n) => n.length)));
    if (widest !== this.width) {
      this.width = widest;
      this.onWidth(widest);
    }
  }
}
