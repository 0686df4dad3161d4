// Berth log viewer: the HTML of one row. Rows are absolutely placed strings joined into
// one innerHTML per frame, never DOM built line by line. A line longer than SHOWN_CHARS
// shows its start and a "… N more characters" button that opens the whole line.

import { count, pad } from "../lib/format.js";
import { esc, parseAnsi } from "./ansi.js";

export const SHOWN_CHARS = 2000;

export function moreText(n) { return "… " + count(n) + " more characters"; }

// Characters the row takes on screen: what wrapping and the canvas width follow.
export function displayLen(line) {
  if (line.marker) return 1;
  const n = line.plain.length;
  return n <= SHOWN_CHARS ? n : SHOWN_CHARS + 1 + moreText(n - SHOWN_CHARS).length;
}

// Docker's RFC3339Nano as local HH:MM:SS.mmm.
export function tsClock(ts) {
  const d = new Date(ts.slice(0, 23) + "Z");
  if (Number.isNaN(d.getTime())) return ts.slice(11, 23);
  return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
}

// The shown part of the line as [[text, classes]], ANSI colours applied.
function segmentsOf(line, long) {
  if (line.text === line.plain) return [[long ? line.plain.slice(0, SHOWN_CHARS) : line.plain, ""]];
  // Escapes make the raw text longer than the plain one: parse a generous prefix only.
  const segments = parseAnsi(long ? line.text.slice(0, SHOWN_CHARS * 4) : line.text);
  let left = SHOWN_CHARS;
  return segments.filter((seg) => {
    if (left <= 0) return false;
    if (seg[0].length > left) seg[0] = seg[0].slice(0, left);
    left -= seg[0].length;
    return true;
  });
}

// Highlights cross colour segments: the match ranges are over the joined plain text.
function textHtml(abs, line, search) {
  const long = line.plain.length > SHOWN_CHARS;
  const segments = segmentsOf(line, long);
  const found = search.ranges(segments.map((seg) => seg[0]).join(""));
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

// A marker of skipped lines links to the download of exactly the range it lost.
function markerHtml(line, downloadUrl) {
  let html = esc(line.plain);
  if (line.since && line.until && downloadUrl) {
    const params = new URLSearchParams({ since: line.since, until: line.until });
    html += ' <a href="' + esc(downloadUrl + (downloadUrl.includes("?") ? "&" : "?") + params) + '" download>Download these lines</a>';
  }
  return html;
}

// look: { showTs, service, colours (replica → colour), search, current, downloadUrl }.
export function rowHtml(abs, line, y, h, look) {
  const place = 'style="top:' + y + "px;height:" + h + 'px"';
  if (line.marker) {
    return '<div class="lv-row lv-marker ' + line.marker + '" ' + place + ">" + markerHtml(line, look.downloadUrl) + "</div>";
  }
  let cls = "lv-row";
  if (line.stream === "stderr") cls += " err";
  if (abs === look.current) cls += " current";
  let html = '<div class="' + cls + '" ' + place + ' data-abs="' + abs + '">';
  if (look.showTs) html += '<span class="lv-ts" title="' + esc(line.ts + " " + line.stream) + '">' + (line.ts ? tsClock(line.ts) : "") + "</span>";
  if (look.service) {
    html += '<span class="lv-rep" style="color:' + (look.colours.get(line.replica) || "inherit") + '" title="' + esc(line.replica) + '">' + esc(line.replica || "—") + "</span>";
  }
  return html + '<span class="lv-text">' + textHtml(abs, line, look.search) + "</span></div>";
}
