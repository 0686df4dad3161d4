// Berth log viewer: the text of a line. Lines keep their raw text (with ANSI escapes)
// for colours, and a plain copy that search and layout use, so neither ever parses
// escapes again. Only SGR colours and bold are rendered; every other escape is dropped.

const NEEDS_CLEAN = /[\x00-\x09\x0b-\x1f\x7f]/;
// CSI sequences (SGR among them), OSC strings, and any other lone escape.
const ESCAPES = /\x1b\[([0-9;:?<=>]*)[ -\/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?/g;

function clean(s) {
  return s.replace(/\t/g, "    ").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
}

// What is searched and measured: the text without escapes and control characters.
export function plainOf(text) {
  return NEEDS_CLEAN.test(text) ? clean(text.replace(ESCAPES, "")) : text;
}

export function esc(s) {
  return s.replace(/[&<>"]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&quot;"));
}

// [[text, classes]] of a line: the classes name the colours (a-f31, a-b42, a-b for bold).
export function parseAnsi(text) {
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
      // 256-colour and true-colour arguments are skipped, not misread as other codes.
      else if (c === 38 || c === 48) i += codes[i + 1] === 5 ? 2 : codes[i + 1] === 2 ? 4 : 0;
    }
  }
  push(text.slice(last));
  return segments;
}
