"""The help page: the README, drawn as HTML, so each page can link to its section.

A small reader for the Markdown the README uses (headings, paragraphs, lists, fenced
code, tables, inline code, links, bold); everything is escaped first, so the README
cannot put markup of its own on the page. Anchors are GitHub's: ``#services-and-deployments``.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from django.conf import settings
from django.utils.html import escape

__all__ = ["anchor", "readme_html"]

README = Path(settings.BASE_DIR) / "README.md"
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")


def anchor(title: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def _inline(text: str) -> str:
    codes: list[str] = []

    def keep(match):
        codes.append(f"<code>{escape(match.group(1))}</code>")
        return f"\x00{len(codes) - 1}\x00"

    text = _CODE.sub(keep, text)
    text = escape(text)

    def link(match):
        label, url = match.group(1), match.group(2)
        if not url.startswith(("http://", "https://", "#")):
            return label  # a file of the repository: not served
        return f'<a href="{url}">{label}</a>'

    text = _LINK.sub(link, text)
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    return re.sub("\x00(\\d+)\x00", lambda m: codes[int(m.group(1))], text)


def _render(markdown: str) -> str:
    out: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            block = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                block.append(lines[i])
                i += 1
            out.append(f"<pre class='config'>{escape(chr(10).join(block))}</pre>")
            i += 1
            continue
        heading = re.match(r"(#{1,4}) (.*)", line)
        if heading:
            level, title = len(heading.group(1)), heading.group(2)
            level = max(level, 2)  # the page has its own h1
            out.append(f'<h{level} id="{anchor(title)}">{_inline(title)}</h{level}>')
            i += 1
            continue
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                    rows.append(cells)
                i += 1
            head, *body = rows
            # On a phone the table reflows: each cell led by its column's name.
            labels = [escape(c.replace("`", "")) for c in head]
            out.append(
                f'<div class="table-wrap" tabindex="0" role="region" aria-label="Table: '
                f'{", ".join(labels)}"><table class="table reflow">'
            )
            out.append(
                "<thead><tr>"
                + "".join(f'<th scope="col">{_inline(c)}</th>' for c in head)
                + "</tr></thead><tbody>"
            )
            out += [
                "<tr>"
                + "".join(
                    f"<td>{_inline(c)}</td>"
                    if n == 0 or n >= len(labels)
                    else f'<td data-label="{labels[n]}">{_inline(c)}</td>'
                    for n, c in enumerate(row)
                )
                + "</tr>"
                for row in body
            ]
            out.append("</tbody></table></div>")
            continue
        if re.match(r"\s*[-*] ", line):
            items = []
            while i < len(lines) and (re.match(r"\s*[-*] ", lines[i]) or lines[i].startswith("  ")):
                if re.match(r"\s*[-*] ", lines[i]):
                    items.append(re.sub(r"\s*[-*] ", "", lines[i], count=1))
                else:
                    items[-1] += " " + lines[i].strip()
                i += 1
            out.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + "</ul>")
            continue
        if not line.strip() or line.startswith("!["):
            i += 1
            continue
        paragraph = []
        while (
            i < len(lines) and lines[i].strip() and not re.match(r"(#|```|\||\s*[-*] )", lines[i])
        ):
            paragraph.append(lines[i])
            i += 1
        out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
    return "\n".join(out)


@cache
def readme_html() -> str:
    """The README as HTML (read once per process)."""
    return _render(README.read_text(encoding="utf-8"))
