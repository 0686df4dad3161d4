"""``/ws/containers/<container_id>/exec/``: a command in a running container, with its
input, output, terminal size and exit code (``docker exec``).

Needs ``deploy_to_environment`` in an environment that owns the container and allows
exec (:attr:`Environment.exec_allowed`: off by default where the environment is
protected). Every session is an :class:`~environments.models.ExecSession` record written
before the command starts, and audited when it starts and ends.

* Query: ``cmd`` (repeated) the command's argv, default ``/bin/sh``; ``tty`` ``1`` or
  ``0`` (default 1); ``cols``, ``rows`` the terminal size, 1 to 1000 (default 80x24).
* Server → client: text ``{"type": "started", "session": id, "command": [...], "tty":
  bool}`` once the command runs; binary frames whose first byte is the stream (1 stdout
  or the terminal, 2 stderr) followed by output; at the end text ``{"type": "exit",
  "code": N}`` (``-1`` when Docker cannot tell, e.g. the command outlived the session)
  and a close with 1000. ``{"type": "error", "message": ...}`` says why before any
  other close.
* Client → server: binary frames, the command's input (at most ``MAX_INPUT`` bytes
  each); text ``{"type": "resize", "cols": C, "rows": R}``; text ``{"type": "eof"}``
  closes the input (a one-off command without a TTY that reads until end of file).
* Close codes: those of :mod:`environments.consumers.base` before anything runs (4401,
  4404 for a container that is missing or hidden, 4403 without deploy rights or where
  exec is off, 4400 bad parameters, 4409 container not running, 4429 too many open
  sessions, 4503); after: 1009 a frame too big, 4408 idle for
  ``BERTH_EXEC_IDLE_TIMEOUT`` seconds, 4409 the command stopped reading its input.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings

from environments import actions, engine
from environments.consumers.base import BerthConsumer, Refused, get_environment, locate_container
from environments.live.io import run_io
from environments.roles import DEPLOY
from portal.core.errors import Conflict, Forbidden

__all__ = ["ContainerExecConsumer", "parse_exec_options"]

log = logging.getLogger(__name__)

DEFAULT_COMMAND = ("/bin/sh",)
MAX_ARGS = 256
MAX_ARG_BYTES = 4096
MAX_COMMAND_BYTES = 32768
MAX_SIZE = 1000
MAX_INPUT = 65536  # bytes of input per binary frame
MAX_CONTROL = 1024  # bytes of a text frame (resize, eof)
WRITE_TIMEOUT = 30  # seconds a command may leave its input unread
QUEUED_CHUNKS = 32  # output read ahead of a slow client, then the command waits
TOUCH_EVERY = 60  # seconds between touches of the session record
UNKNOWN_EXIT = -1


def _size(query: dict, name: str, default: int) -> int:
    values = query.get(name)
    if not values:
        return default
    value = values[-1]
    if not value.isdigit() or not 1 <= int(value) <= MAX_SIZE:
        raise ValueError(f"{name} must be a whole number from 1 to {MAX_SIZE}.")
    return int(value)


def parse_exec_options(query_string: bytes | str) -> dict:
    """``{"command", "tty", "cols", "rows"}`` from the query; ValueError when invalid."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("utf-8", errors="replace")
    if len(query_string) > 4 * MAX_COMMAND_BYTES:
        raise ValueError("The query is too long.")
    try:
        query = parse_qs(query_string, keep_blank_values=True, max_num_fields=MAX_ARGS + 8)
    except ValueError:
        raise ValueError(f"At most {MAX_ARGS} arguments.") from None
    command = query.get("cmd") or list(DEFAULT_COMMAND)
    if len(command) > MAX_ARGS:
        raise ValueError(f"At most {MAX_ARGS} arguments.")
    if not command[0]:
        raise ValueError("cmd: the command may not be empty.")
    for argument in command:
        if "\x00" in argument or "\ufffd" in argument:
            raise ValueError("cmd: arguments may not contain NUL or invalid UTF-8.")
        if len(argument.encode()) > MAX_ARG_BYTES:
            raise ValueError(f"cmd: an argument is longer than {MAX_ARG_BYTES} bytes.")
    if sum(len(argument.encode()) for argument in command) > MAX_COMMAND_BYTES:
        raise ValueError(f"cmd: the command is longer than {MAX_COMMAND_BYTES} bytes.")
    tty = (query.get("tty") or ["1"])[-1]
    if tty not in ("0", "1"):
        raise ValueError("tty must be 1 or 0.")
    return {
        "command": command,
        "tty": tty == "1",
        "cols": _size(query, "cols", 80),
        "rows": _size(query, "rows", 24),
    }


class ContainerExecConsumer(BerthConsumer):
    """One exec session: the command's output to the client, the client's input, resize
    and end of file to the command, and the exit code at the end."""

    explains_refusals = True
    process: engine.ExecProcess | None = None
    session_id: int | None = None
    ended = False

    async def authorize(self, user, container_id: str) -> None:
        self.options = parse_exec_options(self.scope.get("query_string", b""))
        self.environment, self.container = await locate_container(user, container_id, DEPLOY)
        if not self.environment.exec_allowed:
            raise Forbidden(f"Exec is turned off in {self.environment.name}.")
        if self.container["state"] != "running":
            raise Conflict(f"The container is {self.container['state'] or 'not running'}.")
        try:
            session = await database_sync_to_async(actions.start_exec_session)(
                user,
                self.environment,
                self.container,
                self.options["command"],
                tty=self.options["tty"],
            )
        except actions.TooManySessions as exc:
            raise Refused(4429, str(exc)) from None
        self.session_id = session.pk

    async def recheck(self, user) -> None:
        """Still a deployer where exec is allowed (no new session is recorded)."""
        environment = await get_environment(user, DEPLOY, pk=self.environment.pk)
        if not environment.exec_allowed:
            raise Forbidden(f"Exec is turned off in {environment.name}.")

    async def opened(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.last_activity = time.monotonic()
        self.output: asyncio.Queue = asyncio.Queue(maxsize=QUEUED_CHUNKS)
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="berth-exec-in")
        options = self.options
        self.process = engine.ExecProcess(
            self.environment,
            self.container["id"],
            options["command"],
            tty=options["tty"],
            cols=options["cols"],
            rows=options["rows"],
        )
        try:
            await run_io(self.process.start)
        except engine.NotRunning:
            await self._fail(4409, "The container is not running.")
            return
        except engine.ContainerMissing:
            await self._fail(4404, "The container is gone.")
            return
        except engine.EngineUnavailable as exc:
            await self._fail(4503, str(exc))
            return
        await self.send_json(
            {
                "type": "started",
                "session": self.session_id,
                "command": options["command"],
                "tty": options["tty"],
            }
        )
        threading.Thread(
            target=self._read_output, name=f"berth-exec-out-{self.session_id}", daemon=True
        ).start()
        self.start_task(self._forward_output())
        self.start_task(self._watch())

    # Output: a thread reads the command, the loop forwards to the client.

    def _read_output(self) -> None:
        process = self.process
        while True:
            chunk = process.read()
            future = asyncio.run_coroutine_threadsafe(self.output.put(chunk), self.loop)
            while True:  # a slow client makes the command wait, a closed one ends this
                try:
                    future.result(timeout=1)
                    break
                except FutureTimeout:
                    if self.ended:
                        future.cancel()
                        return
                except Exception:  # noqa: BLE001 - the loop is gone: nobody to tell
                    return
            if chunk is None:
                return

    async def _forward_output(self) -> None:
        while True:
            chunk = await self.output.get()
            if chunk is None:
                break
            stream, data = chunk
            self.last_activity = time.monotonic()
            await self.send(bytes_data=bytes([stream]) + data)
        code = await run_io(self.process.exit_code)
        if await self._end(code, "exited"):
            await self.send_json({"type": "exit", "code": UNKNOWN_EXIT if code is None else code})
            await self.close(code=1000)

    async def _watch(self) -> None:
        """Close an idle session; keep the record alive while the session is."""
        timeout = settings.EXEC_IDLE_TIMEOUT
        touched = time.monotonic()
        while True:
            await asyncio.sleep(min(5, timeout / 4))
            now = time.monotonic()
            if now - self.last_activity >= timeout:
                await self._fail(4408, f"Closed after {timeout} s without input or output.")
                return
            if now - touched >= TOUCH_EVERY:
                touched = now
                await database_sync_to_async(actions.touch_exec_session)(self.session_id)

    # Input.

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.process is None or self.ended:
            return
        if bytes_data is not None:
            if len(bytes_data) > MAX_INPUT:
                await self._fail(1009, f"Input frames are at most {MAX_INPUT} bytes.")
                return
            self.last_activity = time.monotonic()
            await self._in_writer(self.process.write, bytes_data)
            return
        if text_data is None or len(text_data) > MAX_CONTROL:
            await self._fail(1009, f"Text frames are at most {MAX_CONTROL} bytes.")
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "resize":
            cols, rows = message.get("cols"), message.get("rows")
            if not all(type(v) is int and 1 <= v <= MAX_SIZE for v in (cols, rows)):
                await self.send_json(
                    {"type": "error", "message": f"cols and rows: 1 to {MAX_SIZE}."}
                )
                return
            self.last_activity = time.monotonic()
            await self._in_writer(self.process.resize, cols, rows)
        elif kind == "eof":
            await self._in_writer(self.process.close_input)
        else:
            await self.send_json(
                {"type": "error", "message": 'Send {"type": "resize"|"eof"} or binary input.'}
            )

    async def _in_writer(self, function, *args) -> None:
        """Run on the session's one input thread, in order; a command that leaves its
        input unread for WRITE_TIMEOUT seconds ends the session."""
        future = self.loop.run_in_executor(self.writer, function, *args)
        try:
            await asyncio.wait_for(future, WRITE_TIMEOUT)
        except TimeoutError:
            await self._fail(4409, f"The command did not read its input for {WRITE_TIMEOUT} s.")
        except OSError:
            pass  # the command has ended: its exit arrives through the output

    # The end, once.

    async def _end(self, exit_code: int | None, reason: str) -> bool:
        if self.ended:
            return False
        self.ended = True
        if self.process is not None:
            await run_io(self.process.close)
        if self.session_id is not None:
            await database_sync_to_async(actions.finish_exec_session)(
                self.session_id, exit_code=exit_code, reason=reason
            )
        return True

    async def _fail(self, code: int, message: str) -> None:
        if await self._end(None, message):
            with contextlib.suppress(Exception):
                await self.send_json({"type": "error", "message": message})
            await self.close(code=code)

    async def closed(self) -> None:
        if not self.ended:
            code = None
            if self.process is not None:
                await run_io(self.process.close)
                code = await run_io(self.process.exit_code, 1.0)
            await self._end(code, "client left")
        if getattr(self, "writer", None) is not None:
            self.writer.shutdown(wait=False, cancel_futures=True)
