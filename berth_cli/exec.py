"""``berth exec``: a command in a container over ``/ws/containers/<id>/exec/``.

Protocol: after accept the server sends ``{"type": "started", ...}``; stdin goes as
binary frames, ``{"type": "resize", "cols", "rows"}`` and ``{"type": "eof"}`` as text;
output comes as binary frames whose first byte is the stream (1 stdout or the TTY,
2 stderr), and the session ends with ``{"type": "exit", "code": N}``. With a TTY the
local terminal is put in raw mode (restored on every exit) and SIGWINCH sends a resize.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import threading

from berth_cli.client import CLOSE_CODES, ws_refusal
from berth_cli.errors import FAILED, USAGE, CliError
from berth_cli.output import document

__all__ = ["run_exec"]

DEFAULT_SHELL = ["sh"]


def _size() -> tuple[int, int]:
    size = shutil.get_terminal_size((80, 24))
    return size.columns, size.lines


def run_exec(app, container: str, command: list[str], tty: bool | None) -> int:
    """Run the session; returns the command's exit code (the CLI's)."""
    if command and command[0] == "--":
        command = command[1:]
    interactive_terminal = sys.stdin.isatty() and sys.stdout.isatty()
    if tty is None:
        tty = interactive_terminal and not app.out.json
    if tty and app.out.json:
        raise CliError("-o json runs a command without a terminal: add --no-tty.", USAGE)
    if tty and not sys.stdin.isatty():
        raise CliError("--tty needs standard input to be a terminal.", USAGE)
    command = command or DEFAULT_SHELL
    cols, rows = _size()
    query = [("cmd", part) for part in command] + [("tty", "1" if tty else "0")]
    if tty:
        query += [("cols", str(cols)), ("rows", str(rows))]
    what = f"exec in {container}"
    socket = app.client.websocket(f"/ws/containers/{container}/exec/", query, what=what)
    session = _Session(socket, tty, collect=app.out.json, what=what)
    code = session.run()
    if app.out.json:
        app.out.emit(
            document(
                "exec",
                container=container,
                command=command,
                exit_code=code,
                stdout=session.collected[1].decode(errors="replace"),
                stderr=session.collected[2].decode(errors="replace"),
            )  # fmt: skip
        )
    return code


class _Session:
    def __init__(self, socket, tty: bool, *, collect: bool, what: str):
        self.socket = socket
        self.tty = tty
        self.collect = collect
        self.what = what
        self.collected = {1: bytearray(), 2: bytearray()}
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.error = ""

    def send(self, data) -> None:
        with self.lock:
            self.socket.send(data)

    def run(self) -> int:
        from websockets.exceptions import ConnectionClosed

        saved = None
        old_winch = None
        try:
            while True:  # a refusal sends an error, then closes with its code
                first = json.loads(self.socket.recv(timeout=30))
                if first.get("type") == "started":
                    break
                if first.get("type") != "error":
                    raise CliError(f"{self.what}: unexpected answer {first.get('type')!r}.", FAILED)
                self.error = str(first.get("message", ""))
            if self.tty:
                import termios
                import tty as ttymod

                saved = termios.tcgetattr(sys.stdin.fileno())
                ttymod.setraw(sys.stdin.fileno())
                old_winch = signal.signal(signal.SIGWINCH, self._resize)
            threading.Thread(target=self._pump_stdin, daemon=True, name="berth-exec-stdin").start()
            return self._receive()
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            if code in CLOSE_CODES:
                raise ws_refusal(code, exc.rcvd.reason, self.what) from None
            raise CliError(
                f"{self.what}: the connection closed before the command ended.", FAILED
            ) from None
        finally:
            self.done.set()
            if saved is not None:
                import termios

                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
            if old_winch is not None:
                signal.signal(signal.SIGWINCH, old_winch)
            self.socket.close()

    def _resize(self, *_args) -> None:
        cols, rows = _size()
        with contextlib.suppress(Exception):  # the session may be ending
            self.send(json.dumps({"type": "resize", "cols": cols, "rows": rows}))

    def _receive(self) -> int:
        out, err = sys.stdout.buffer, sys.stderr.buffer
        for frame in self.socket:
            if isinstance(frame, bytes):
                if not frame:
                    continue
                stream, data = frame[0], frame[1:]
                if self.collect:
                    self.collected.get(stream, self.collected[1]).extend(data)
                    continue
                target = err if stream == 2 else out
                target.write(data)
                target.flush()
                continue
            message = json.loads(frame)
            if message.get("type") == "exit":
                code = message.get("code")
                # -1: Docker could not tell (the command outlived the session).
                return code if isinstance(code, int) and 0 <= code <= 255 else FAILED
            if message.get("type") == "error":
                self.error = str(message.get("message", ""))  # the close code follows
        raise CliError(
            f"{self.what}: {self.error or 'the connection closed before the command ended'}.",
            FAILED,
        )

    def _pump_stdin(self) -> None:
        """Forward stdin as it comes (raw keystrokes with a TTY), then ``eof``."""
        fd = sys.stdin.fileno()
        try:
            while not self.done.is_set():
                data = os.read(fd, 65536)
                if not data:
                    break
                self.send(data)
            if not self.done.is_set():
                self.send(json.dumps({"type": "eof"}))
        except Exception:  # noqa: BLE001,S110 - the socket closed: the session is over
            pass
