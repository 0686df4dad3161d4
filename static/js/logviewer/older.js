// Berth log viewer: "Load older lines" of a container, from the HTTP log endpoint
// (GET …/logs/?until=&tail=, lines "<ts> <stream> <text>"), so the socket never has to
// replay history.

import { plainOf } from "./ansi.js";

export const OLDER_LINES = 1000;

// The OLDER_LINES lines before `first` (a line held), oldest first; atStart when they
// reach the start of the log.
export async function fetchOlder(url, first) {
  // until is inclusive: ask one more line than wanted, the first one held comes back too.
  const wanted = OLDER_LINES + 1;
  const response = await fetch(url + (url.includes("?") ? "&" : "?") +
    new URLSearchParams({ until: first.ts, tail: String(wanted) }), { credentials: "same-origin" });
  if (!response.ok) throw new Error("HTTP " + response.status);
  const raws = (await response.text()).split("\n");
  if (raws[raws.length - 1] === "") raws.pop();
  const lines = [];
  for (const raw of raws.slice(-wanted)) {
    const a = raw.indexOf(" "), b = raw.indexOf(" ", a + 1);
    if (a < 0 || b < 0) continue;
    const ts = raw.slice(0, a);
    if (ts >= first.ts) continue; // held already
    const text = raw.slice(b + 1);
    lines.push({ ts, stream: raw.slice(a + 1, b), text, replica: "", plain: plainOf(text) });
  }
  return { lines, atStart: raws.length < wanted || lines.length === 0 };
}
