// Shell-like words <-> a list of strings, for the command fields of the config form.
// Quotes ('…' and "…") and backslashes group words; nothing is expanded ($PORT stays).

export function splitWords(text) {
  const words = [];
  let word = "", quote = "", started = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = "";
      else if (c === "\\" && quote === '"' && (text[i + 1] === '"' || text[i + 1] === "\\")) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c; started = true;
    } else if (c === "\\" && i + 1 < text.length) {
      word += text[++i]; started = true;
    } else if (/\s/.test(c)) {
      if (started) { words.push(word); word = ""; started = false; }
    } else {
      word += c; started = true;
    }
  }
  if (started) words.push(word);
  return words;
}

export function joinWords(words) {
  return (words || []).map((w) => {
    w = String(w);
    if (w !== "" && /^[\w@%+=:,./$-]+$/.test(w)) return w;
    return '"' + w.replace(/(["\\])/g, "\\$1") + '"';
  }).join(" ");
}
