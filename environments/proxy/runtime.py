"""HAProxy's Runtime API over its admin socket: add, drain, remove and weigh servers
without a reload, and read their state. A few lines over ``AF_UNIX``; every failure to
reach the socket is :class:`ProxyUnavailable` with a message a person can act on.
"""

from __future__ import annotations

import csv
import io
import socket
from dataclasses import dataclass
from pathlib import Path

from environments.proxy.config import Backend, Server

__all__ = ["ProxyUnavailable", "RuntimeAPI", "ServerStat"]

MAX_ANSWER = 4 * 1024 * 1024  # bytes: `show stat` for hundreds of servers is far less


class ProxyUnavailable(Exception):
    """The proxy does not answer, or refused a command; ``str()`` says which."""


@dataclass(frozen=True)
class ServerStat:
    """A server as ``show stat`` reports it."""

    backend: str
    name: str
    status: str  # UP, DOWN, MAINT, DRAIN, "no check"
    weight: int
    sessions: int  # current connections
    check: str  # last check status, e.g. L7OK, L4CON


class RuntimeAPI:
    """One admin socket. Each call opens a connection, sends one line (several commands
    separated by ``;`` run back to back) and reads the answer to its end."""

    def __init__(self, socket_path: Path, timeout: float = 5.0):
        self.socket_path = Path(socket_path)
        self.timeout = timeout

    def send(self, *commands: str) -> str:
        for command in commands:
            if "\n" in command or ";" in command:
                raise ValueError(f"One command per argument, no newline or ';': {command!r}")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(str(self.socket_path))
                sock.sendall(("; ".join(commands) + "\n").encode())
                chunks, size = [], 0
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_ANSWER:
                        raise ProxyUnavailable("The proxy's answer is too large.")
        except OSError as exc:
            raise ProxyUnavailable(
                f"The proxy's admin socket {self.socket_path} does not answer: {exc}"
            ) from exc
        return b"".join(chunks).decode(errors="replace")

    def _checked(self, *commands: str) -> str:
        answer = self.send(*commands)
        for line in answer.splitlines():
            text = line.strip().lower()
            if text.startswith(("no such", "unknown", "require", "error", "invalid")):
                raise ProxyUnavailable(f"The proxy refused {commands[0]!r}: {line.strip()}")
        return answer

    def add_server(self, backend: Backend, server: Server) -> None:
        """Add a server and put it in its state; an existing one is updated instead, so
        a retry after the proxy restarted (and rebuilt it from the config) is harmless."""
        target = f"{backend.name}/{server.name}"
        answer = self.send(
            f"add server {target} {server.address}:{server.port} weight {server.weight} "
            + " ".join(backend.check_options())
        )
        exists = "already exists" in answer.lower()
        if not exists and "registered" not in answer.lower():
            raise ProxyUnavailable(f"The proxy refused to add {target}: {answer.strip()}")
        commands = [f"set server {target} weight {server.weight}"]
        if not exists:
            commands.insert(0, f"enable health {target}")
        commands.append(f"set server {target} state {server.state}")
        self._checked(*commands)

    def set_state(self, backend: str, server: str, state: str) -> None:
        self._checked(f"set server {backend}/{server} state {state}")

    def set_weight(self, backend: str, server: str, weight: int) -> None:
        self._checked(f"set server {backend}/{server} weight {weight}")

    def switch(self, backend: str, ready: list[str], drain: list[str]) -> None:
        """Put ``ready`` servers in rotation and ``drain`` out of it in one message:
        the proxy runs the commands back to back, between two requests."""
        commands = [f"set server {backend}/{name} state ready" for name in ready]
        commands += [f"set server {backend}/{name} state drain" for name in drain]
        if commands:
            self._checked(*commands)

    def remove_server(self, backend: str, server: str) -> None:
        """Take a server out for good (maint, close what is left, delete); a server the
        proxy does not know is already gone."""
        target = f"{backend}/{server}"
        answer = self.send(
            f"set server {target} state maint", f"shutdown sessions server {target}",
            f"del server {target}",
        )  # fmt: skip
        if "deleted" not in answer.lower() and "no such" not in answer.lower():
            raise ProxyUnavailable(f"The proxy did not remove {target}: {answer.strip()}")

    def stats(self) -> list[ServerStat]:
        """Every server of every backend."""
        answer = self.send("show stat -1 4 -1")
        text = answer.lstrip("# ")
        rows = []
        for row in csv.DictReader(io.StringIO(text)):
            if row.get("svname") in (None, "FRONTEND", "BACKEND"):
                continue
            rows.append(
                ServerStat(
                    backend=row["pxname"],
                    name=row["svname"],
                    status=row.get("status", ""),
                    weight=int(row.get("weight") or 0),
                    sessions=int(row.get("scur") or 0),
                    check=row.get("check_status", ""),
                )  # fmt: skip
            )
        return rows

    def sessions(self, backend: str, server: str) -> int | None:
        """Current connections of one server; None when the proxy does not know it."""
        for stat in self.stats():
            if stat.backend == backend and stat.name == server:
                return stat.sessions
        return None
