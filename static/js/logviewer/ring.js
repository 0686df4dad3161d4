// Berth log viewer: a fixed-capacity ring of items addressed by absolute number,
// first .. first + count - 1. Numbers never shift, so the indexes kept over them (shown
// lines, matches) stay valid when old items drop off the front.

export class Ring {
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

  // Older lines loaded later go before the first one: numbers below zero are fine.
  unshift(item) {
    this.first--;
    this.slots[this.slot(this.first)] = item;
    this.count++;
  }
}

// The first position in the sorted list, from `from` on, holding a value >= value.
export function lowerBound(list, value, from) {
  let lo = from, hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid] < value) lo = mid + 1; else hi = mid;
  }
  return lo;
}
