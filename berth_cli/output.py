"""Output: a readable Rich table for people, or one JSON document per command with a
stable, versioned shape (``{"schema": "berth.cli/v1", "kind": ..., ...}``; the JSON
Schemas are in ``berth_cli/schemas/<kind>.json``). Rich is imported on first use."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from berth_cli import SCHEMA

__all__ = ["Output", "document"]


def document(kind: str, **fields: Any) -> dict:
    return {"schema": SCHEMA, "kind": kind, **fields}


class Output:
    def __init__(self, fmt: str = "table"):
        self.json = fmt == "json"
        self._console = None
        self._err = None

    @property
    def console(self):
        if self._console is None:
            self._console = _console(sys.stdout)
        return self._console

    @property
    def err(self):
        if self._err is None:
            self._err = _console(sys.stderr)
        return self._err

    def emit(self, doc: dict, human: Callable[[], None] | None = None) -> None:
        """The document as JSON, or ``human()`` for a person."""
        if self.json:
            sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
            sys.stdout.flush()
        elif human is not None:
            human()

    def table(
        self, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str = ""
    ) -> None:
        from rich.table import Table

        rows = list(rows)
        if not rows and empty:
            self.console.print(empty, style="dim", highlight=False)
            return
        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*("" if cell is None else str(cell) for cell in row))
        self.console.print(table)

    def fields(self, pairs: Sequence[tuple[str, Any]]) -> None:
        from rich.table import Table

        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for name, value in pairs:
            table.add_row(name, "" if value is None else str(value))
        self.console.print(table)

    def say(self, text: str, style: str | None = None) -> None:
        self.console.print(text, style=style, highlight=False, markup=False)

    def note(self, text: str, style: str | None = "dim") -> None:
        """Progress and hints go to stderr, so stdout stays the result."""
        self.err.print(text, style=style, highlight=False, markup=False)


def _console(stream):
    from rich.console import Console

    tty = stream.isatty()
    # Piped output keeps whole rows: no wrapping at an invented 80 columns.
    width = None if tty else max(shutil.get_terminal_size((200, 24)).columns, 200)
    return Console(file=stream, width=width, soft_wrap=not tty, highlight=False)
