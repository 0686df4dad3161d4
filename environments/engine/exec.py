"""``docker exec`` as a two-way stream: a command in a running container, its input,
output, terminal size and exit code.

The low-level calls are docker-py's (``exec_create``, ``exec_start(socket=True)``,
``exec_resize``, ``exec_inspect``); the hijacked connection they leave is read and
written here as a plain socket. Blocking throughout: the caller reads in a thread of its
own (:meth:`ExecProcess.read` blocks until output arrives) and writes from another.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import docker
import requests

from environments.engine.client import ContainerMissing, EngineUnavailable, _reason, open_client
from environments.engine.endpoint import Endpoint

__all__ = ["STDERR", "STDOUT", "ExecProcess", "NotRunning"]

STDOUT, STDERR = 1, 2
READ_SIZE = 65536


class NotRunning(EngineUnavailable):
    """The container is not running, so nothing can be executed in it."""


class ExecProcess:
    """One command run with ``docker exec`` in ``container_id`` on ``environment``.

    ``start()`` creates and starts it; then ``read()`` gives ``(stream, bytes)`` chunks
    (stream 1 is stdout, or the terminal with ``tty``; 2 is stderr) and None at the end,
    ``write()`` feeds its input, ``close_input()`` sends end-of-file, ``resize()`` sets
    the terminal size, ``exit_code()`` waits for the code once the output has ended and
    ``close()`` hangs up (which unblocks a reading thread).
    """

    def __init__(
        self,
        environment: Endpoint,
        container_id: str,
        command: list[str],
        *,
        tty: bool,
        cols: int = 80,
        rows: int = 24,
    ):
        self.environment = environment
        self.container_id = container_id
        self.command = list(command)
        self.tty = tty
        self.size = (cols, rows)
        self.exec_id = ""
        self._stack = contextlib.ExitStack()
        self._client: docker.DockerClient | None = None
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._closed = threading.Event()

    def start(self) -> None:
        """Create and start the process. Raises :class:`NotRunning`,
        :class:`ContainerMissing` or :class:`EngineUnavailable`."""
        try:
            self._client = self._stack.enter_context(open_client(self.environment, max_pool_size=2))
            api = self._client.api
            try:
                created = api.exec_create(
                    self.container_id,
                    self.command,
                    stdin=True,
                    stdout=True,
                    stderr=True,
                    tty=self.tty,
                )
            except docker.errors.APIError as exc:
                if exc.status_code == 409:
                    raise NotRunning(_reason(exc)) from exc
                if exc.status_code == 404:
                    raise ContainerMissing(_reason(exc)) from exc
                raise
            self.exec_id = created["Id"]
            hijacked = api.exec_start(self.exec_id, tty=self.tty, socket=True)
            # A SocketIO over the socket for plain connections, the socket itself for TLS.
            self._sock = getattr(hijacked, "_sock", hijacked)
            self._sock.settimeout(None)  # a quiet shell is not a dead engine
            if self.tty:
                self.resize(*self.size)
        except EngineUnavailable:
            self.close()
            raise
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            self.close()
            raise EngineUnavailable(
                f"Cannot run the command in {self.environment.name}: {_reason(exc)}."
            ) from exc
        except BaseException:
            self.close()
            raise

    def read(self) -> tuple[int, bytes] | None:
        """The next chunk of output, None at the end. Blocks."""
        while True:
            if not self.tty and len(self._buffer) >= 8:
                size = int.from_bytes(self._buffer[4:8], "big")
                if len(self._buffer) >= 8 + size:
                    stream = STDERR if self._buffer[0] == 2 else STDOUT
                    payload = self._buffer[8 : 8 + size]
                    self._buffer = self._buffer[8 + size :]
                    if payload:
                        return stream, payload
                    continue
            try:
                block = self._sock.recv(READ_SIZE) if self._sock else b""
            except OSError:
                block = b""
            if not block:
                return None
            if self.tty:
                return STDOUT, block
            self._buffer += block

    def write(self, data: bytes) -> None:
        """Feed ``data`` to the process's input. Blocks while the process does not read;
        :meth:`close` unblocks it (with an OSError)."""
        if self._sock is None or self._closed.is_set():
            raise OSError("The exec session is closed.")
        self._sock.sendall(data)

    def close_input(self) -> None:
        """End of file on the process's input (a command reading until EOF then ends)."""
        if self._sock is not None and not self._closed.is_set():
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_WR)

    def resize(self, cols: int, rows: int) -> None:
        """Set the terminal's size (TTY only; otherwise nothing to do)."""
        self.size = (cols, rows)
        if not self.tty or self._client is None or not self.exec_id:
            return
        with contextlib.suppress(docker.errors.APIError):  # it has just ended: no matter
            self._client.api.exec_resize(self.exec_id, height=rows, width=cols)

    def exit_code(self, wait: float = 5.0) -> int | None:
        """The process's exit code once it has ended (None if it is still running after
        ``wait`` seconds, e.g. when the session was closed with the process alive)."""
        if self._client is None or not self.exec_id:
            return None
        deadline = time.monotonic() + wait
        while True:
            try:
                state = self._client.api.exec_inspect(self.exec_id)
            except (docker.errors.DockerException, OSError):
                return None
            if not state.get("Running") and state.get("ExitCode") is not None:
                return state["ExitCode"]
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def close(self) -> None:
        """Hang up: shuts the connection (a thread blocked in read or write wakes up)
        and closes the client. The process itself gets a hangup through its terminal;
        Docker has no call to kill an exec'd process."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self._sock.close()
        with contextlib.suppress(Exception):
            self._stack.close()
