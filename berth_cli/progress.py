"""Following a deployment (or a stop/restart operation) on ``/ws/deployments/<id>/``:
the snapshot, then each event, shown as steps and per-replica states until it finishes.

Events carry a sequence number, so a reconnect (a server restart) shows nothing twice.
"""

from __future__ import annotations

import json
import sys
import time

from berth_cli.client import CLOSE_CODES, ws_refusal
from berth_cli.errors import TIMEOUT, UNREACHABLE, CliError

__all__ = ["FINISHED", "follow_deployment"]

FINISHED = ("succeeded", "failed", "cancelled")


class _Display:
    """Rich progress bar and replica table on a terminal; plain step lines otherwise."""

    def __init__(self, out, deployment_id: int, quiet: bool):
        self.out = out
        self.quiet = quiet
        self.replicas: dict[int, str] = {}
        self.live = None
        self.progress = None
        self.task = None
        if not quiet and sys.stderr.isatty():
            from rich.live import Live
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn(f"deployment {deployment_id}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
            )  # the steps print above it, whole
            self.task = self.progress.add_task("", total=100)
            self.live = Live(self._render(), console=out.err, refresh_per_second=8, transient=False)
            self.live.start()

    def _render(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, show_header=False, pad_edge=False)
        for slot in sorted(self.replicas):
            state = self.replicas[slot]
            style = {"healthy": "green", "failed": "red", "removed": "dim"}.get(state, "yellow")
            table.add_row(Text(f"  replica {slot + 1}"), Text(state, style=style))
        return Group(self.progress, table)

    def event(self, event: dict, progress: int | None) -> None:
        data = event.get("data") or {}
        if event.get("kind") == "replica" and isinstance(data.get("slot"), int):
            self.replicas[data["slot"]] = str(data.get("state", ""))
        if self.quiet:
            return
        if self.progress is not None:
            if progress is not None:
                self.progress.update(self.task, completed=progress)
            if event.get("kind") != "pull":
                self.out.err.print(
                    f"  {event.get('message', '')}", style="dim", markup=False, highlight=False
                )
            self.live.update(self._render())
        elif event.get("kind") != "pull":
            stamp = str(event.get("at", ""))[11:19]
            self.out.note(f"{stamp} {event.get('message', '')}", style=None)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


def follow_deployment(
    client, out, deployment_id: int, *, timeout: float | None = None, quiet: bool = False
) -> dict:
    """Show the deployment's progress until it finishes; returns its final record."""
    from websockets.exceptions import ConnectionClosed

    deadline = None if timeout is None else time.monotonic() + timeout
    display = _Display(out, deployment_id, quiet)
    seen = 0
    status = ""
    failures = 0
    try:
        while status not in FINISHED:
            try:
                socket = client.websocket(
                    f"/ws/deployments/{deployment_id}/", what=f"deployment {deployment_id}"
                )
            except CliError as exc:
                if exc.code != UNREACHABLE or failures > 30:
                    raise
                failures += 1
                _pause(deadline, deployment_id)
                continue
            try:
                with socket:
                    failures = 0
                    while status not in FINISHED:
                        remaining = None if deadline is None else deadline - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            raise _timeout(deployment_id)
                        try:
                            message = json.loads(socket.recv(timeout=remaining))
                        except TimeoutError:
                            raise _timeout(deployment_id) from None
                        events = []
                        if message.get("type") == "snapshot":
                            status = message.get("status", "")
                            events = [
                                (e, message.get("progress")) for e in message.get("events", [])
                            ]
                        elif message.get("type") == "event":
                            events = [(message["event"], message.get("progress"))]
                        for event, progress in events:
                            if event.get("seq", 0) <= seen:
                                continue
                            seen = event["seq"]
                            display.event(event, progress)
                            final = (event.get("data") or {}).get("status")
                            if event.get("kind") in ("done", "failed") and final:
                                status = final
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
                if code in CLOSE_CODES:
                    raise ws_refusal(code, exc.rcvd.reason, f"deployment {deployment_id}") from None
                _pause(deadline, deployment_id)  # a server restart: reconnect, replay skips seen
    finally:
        display.close()
    return client.get(f"/api/deployments/{deployment_id}/")


def _timeout(deployment_id: int) -> CliError:
    return CliError(f"Deployment {deployment_id} has not finished yet (timed out).", TIMEOUT)


def _pause(deadline: float | None, deployment_id: int) -> None:
    if deadline is not None and time.monotonic() + 1 > deadline:
        raise _timeout(deployment_id)
    time.sleep(1)
