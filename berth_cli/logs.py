"""``berth logs``: a container's log or a service's merged log over Berth's log sockets.

The protocol is the server's (``lines`` batches acknowledged by ``seq``, ``live`` after
the backlog, ``skipped``, ``end``, ``error``). The follower keeps the newest timestamp it
printed for each replica and stream; when the socket drops (a server restart) it
reconnects with those as resume cursors and drops any line not newer than them, so no
line shows twice and none is missed while Docker still holds it.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time

from berth_cli import SCHEMA
from berth_cli.client import CLOSE_CODES, ws_refusal
from berth_cli.errors import FAILED, UNREACHABLE, CliError

__all__ = ["LogFollower"]

FIXED_WIDTH = len("2026-01-01T00:00:00.000000000Z")
RECONNECT_FOR = 120  # seconds of failed reconnects before giving up


def fixed_width(ts: str) -> str:
    """Docker's RFC3339Nano with nine decimals, so times compare as strings (Berth sends
    them so; a shorter fraction, as ``docker logs`` prints, is padded)."""
    head, dot, rest = ts.rstrip("Z").partition(".")
    return f"{head}.{(rest if dot else '').ljust(9, '0')[:9]}Z"


class LogFollower:
    def __init__(self, client, out, path: str, what: str, *, merged: bool, follow: bool,
                 since: str | None, tail: str, timestamps: bool):  # fmt: skip
        self.client = client
        self.out = out
        self.path = path
        self.what = what
        self.merged = merged
        self.follow = follow
        self.since = since
        self.tail = tail
        self.timestamps = timestamps
        self.cursors: dict[tuple[str, str], str] = {}
        self.error = ""
        self.stdout = sys.stdout
        self.stderr = sys.stderr

    def query(self) -> list[tuple[str, str]]:
        if not self.cursors:
            query = [("tail", self.tail)]
            if self.since:
                query.append(("since", self.since))
            return query
        if self.merged:
            return [
                ("cursor", f"{replica}/{stream},{ts}")
                for (replica, stream), ts in self.cursors.items()
            ]
        return [(f"since_{stream}", ts) for (_, stream), ts in self.cursors.items()]

    def run(self) -> None:
        try:
            self._run()
        except KeyboardInterrupt:
            pass  # Ctrl-C ends a follow: a normal way to stop, exit 0
        finally:
            with contextlib.suppress(BrokenPipeError):
                self.stdout.flush()

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed

        connected_once = False
        failing_since = None
        while True:
            try:
                socket = self.client.websocket(self.path, self.query(), what=self.what)
            except CliError as exc:
                if exc.code != UNREACHABLE or not (self.follow and connected_once):
                    raise
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > RECONNECT_FOR:
                    raise
                time.sleep(0.5)
                continue
            if connected_once:
                self.out.note(f"reconnected to {self.what}")
            connected_once, failing_since = True, None
            try:
                with socket:
                    if self._pump(socket):
                        return
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
                if code in CLOSE_CODES:
                    raise ws_refusal(code, exc.rcvd.reason or self.error, self.what) from None
            if self.error and not self.follow:
                raise CliError(f"{self.what}: {self.error}", FAILED)
            self.error = ""
            self.out.note(f"the connection to {self.what} dropped; reconnecting")
            time.sleep(0.3)

    def _pump(self, socket) -> bool:
        """Handle messages until the stream ends (True) or the socket drops (False)."""
        for raw in socket:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "lines":
                self._print(message.get("replica"), message["lines"])
                socket.send(f'{{"type":"ack","seq":{int(message["seq"])}}}')
            elif kind == "live":
                if not self.follow:
                    return True
            elif kind == "skipped":
                count = message.get("count")
                lost = f"{count} lines" if count is not None else "lines"
                self.out.note(
                    f"{lost} between {message.get('since')} and {message.get('until')} may be missing",
                    style="yellow",
                )
            elif kind == "replica":
                self.out.note(
                    f"replica {message.get('replica')} {message.get('state')}"
                    + (f": {message['reason']}" if message.get("reason") else "")
                )
            elif kind == "end":
                self.out.note(str(message.get("reason", "the stream ended")))
                return True
            elif kind == "error":
                # A refusal says why, then closes with its code (raised by the caller);
                # after a plain close, a follower reconnects.
                self.error = str(message.get("message", ""))
                self.out.note(self.error, style="yellow")
        return False

    def _print(self, replica: str | None, lines: list[dict]) -> None:
        out_parts: list[str] = []
        err_parts: list[str] = []
        cursors = self.cursors
        as_json = self.out.json
        for line in lines:
            name = line.get("replica", replica) or ""
            stream = line.get("stream", "stdout")
            ts = line.get("ts", "")
            if ts and len(ts) != FIXED_WIDTH:
                ts = fixed_width(ts)
            key = (name, stream)
            if ts and ts <= cursors.get(key, ""):
                continue  # already printed before a reconnect
            if ts:
                cursors[key] = ts
            if as_json:
                out_parts.append(json.dumps(
                    {"schema": SCHEMA, "kind": "log_line", "replica": name or None, "stream": stream, "ts": ts, "text": line.get("text", "")},
                    ensure_ascii=False,
                ))  # fmt: skip
                continue
            text = line.get("text", "")
            if self.timestamps:
                text = f"{ts} {text}"
            if name and self.merged:
                text = f"{name} | {text}"
            (err_parts if stream == "stderr" else out_parts).append(text)
        if out_parts:
            self.stdout.write("\n".join(out_parts) + "\n")
            self.stdout.flush()
        if err_parts:
            self.stderr.write("\n".join(err_parts) + "\n")
            self.stderr.flush()
