"""Running HAProxy in master-worker mode: start, reload hitlessly, stop, and say
whether it runs. The master daemonizes (``-W -D``) and writes its pid file; a reload is
``SIGUSR2`` to the master, which starts new workers on the listening sockets it already
holds and lets the old ones finish their connections (``hard-stop-after``), so no
connection is refused during a reload.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from environments.proxy.runtime import ProxyUnavailable, RuntimeAPI

__all__ = ["ExternalProxy", "ProxyProcess"]


class ProxyProcess:
    """The HAProxy of one run directory (config, pid file, admin socket, lock)."""

    def __init__(self, run_dir: Path, binary: str = "haproxy"):
        self.run_dir = Path(run_dir)
        self.binary = binary
        self.config_path = self.run_dir / "haproxy.cfg"
        self.pid_path = self.run_dir / "haproxy.pid"
        self.runtime = RuntimeAPI(self.run_dir / "admin.sock")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One starter or reloader at a time, across threads and processes."""
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.run_dir / "lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def pid(self) -> int | None:
        """The master's pid if it runs (a stale pid file or a reused pid is not it)."""
        try:
            pid = int(self.pid_path.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return None
        if b"haproxy" not in cmdline or str(self.config_path).encode() not in cmdline:
            return None
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        return None if re.search(r"^State:\s+Z", status, re.M) else pid

    def running(self) -> bool:
        return self.pid() is not None

    def check(self, text: str) -> None:
        """Refuse a configuration HAProxy would refuse, with its own words."""
        candidate = self.run_dir / "haproxy.cfg.new"
        candidate.write_text(text)
        result = subprocess.run(
            [self.binary, "-c", "-q", "-f", str(candidate)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            problem = (result.stderr or result.stdout).strip().splitlines()
            raise ProxyUnavailable("HAProxy refuses the configuration: " + " / ".join(problem[-3:]))

    def _install(self, text: str) -> None:
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.check(text)
        os.replace(self.run_dir / "haproxy.cfg.new", self.config_path)

    def start(self, text: str, wait: float = 10.0) -> int:
        """Start the master with ``text`` and wait until its admin socket answers."""
        self._install(text)
        with contextlib.suppress(FileNotFoundError):
            (self.run_dir / "admin.sock").unlink()
        result = subprocess.run(
            [self.binary, "-W", "-D", "-f", str(self.config_path)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise ProxyUnavailable(f"HAProxy did not start: {result.stderr.strip()[-500:]}")
        self._wait_answering(wait)
        pid = self.pid()
        if pid is None:
            raise ProxyUnavailable("HAProxy started but its master is not running.")
        return pid

    def reload(self, text: str, wait: float = 10.0) -> None:
        """Hitless reload with ``text``: the master re-reads the file and starts new
        workers; the old ones finish what they serve."""
        pid = self.pid()
        if pid is None:
            raise ProxyUnavailable("HAProxy is not running: nothing to reload.")
        before = self._worker_pid()
        self._install(text)
        os.kill(pid, signal.SIGUSR2)
        self._wait_new_worker(before, wait, "HAProxy did not come back from its reload in time.")

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while self.pid() is not None and time.monotonic() < deadline:
                time.sleep(0.05)

    def _worker_pid(self) -> int | None:
        try:
            info = self.runtime.send("show info")
        except ProxyUnavailable:
            return None
        found = re.search(r"^Pid:\s*(\d+)", info, re.M)
        return int(found.group(1)) if found else None

    def _wait_new_worker(self, before: int | None, wait: float, failure: str) -> None:
        """Until a worker other than ``before`` answers (a reload took), else fail."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            now = self._worker_pid()
            if now is not None and now != before:
                return
            time.sleep(0.05)
        raise ProxyUnavailable(failure)

    def _wait_answering(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self._worker_pid() is not None:
                return
            time.sleep(0.05)
        raise ProxyUnavailable(f"HAProxy's admin socket did not answer within {wait:g} s.")


class ExternalProxy(ProxyProcess):
    """An HAProxy that someone else runs (a package's service, a load balancer host):
    Berth never starts or stops it. It writes its frontends and backends into
    ``config_path`` (a file the HAProxy loads beside its own, ``-f main.cfg -f
    berth.cfg``), reloads it with ``reload_command`` (e.g. ``systemctl reload haproxy``)
    when a frontend changes, and changes servers through the admin socket at
    ``socket_path`` (``stats socket ... level admin`` in its ``global`` section).
    ``run_dir`` holds only Berth's lock and what it last loaded."""

    def __init__(self, run_dir: Path, *, socket_path: Path, config_path: Path, reload_command: str,
                 binary: str = "haproxy"):  # fmt: skip
        super().__init__(run_dir, binary)
        self.config_path = Path(config_path)
        self.runtime = RuntimeAPI(Path(socket_path))
        self.reload_command = shlex.split(reload_command)

    def pid(self) -> int | None:
        """The worker's pid as the admin socket says; None when it does not answer."""
        return self._worker_pid()

    def _install(self, text: str) -> None:
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.check(text)
        candidate = self.config_path.with_name(self.config_path.name + ".new")
        candidate.write_text(text)
        os.replace(candidate, self.config_path)

    def start(self, text: str, wait: float = 10.0) -> int:
        """Not Berth's to start: the file is written (the HAProxy loads it when it
        starts), and the caller is told the proxy does not answer."""
        self._install(text)
        raise ProxyUnavailable(
            f"The external HAProxy does not answer on {self.runtime.socket_path}; "
            "Berth does not start it (BERTH_PROXY_MODE=external)."
        )

    def reload(self, text: str, wait: float = 10.0) -> None:
        before = self._worker_pid()
        self._install(text)
        try:
            result = subprocess.run(
                self.reload_command, capture_output=True, text=True, timeout=60, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ProxyUnavailable(f"The proxy's reload command failed: {exc}") from exc
        if result.returncode != 0:
            raise ProxyUnavailable(
                f"The proxy's reload command exited {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()[-300:]}"
            )
        self._wait_new_worker(
            before, wait, "The external HAProxy did not come back from its reload in time."
        )

    def stop(self) -> None:
        """Never: Berth does not own this HAProxy."""
