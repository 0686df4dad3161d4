"""Real Berth processes for end-to-end tests: ``manage.py serve`` (uvicorn serving the
ASGI app), and in Redis mode a separate ``celery -A portal worker`` process, on a
private SQLite file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from tests.stack import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


class PortalServer:
    """``mode`` is ``embedded`` (worker inside the server, in-memory layer) or ``redis``."""

    def __init__(self, workdir: Path, mode: str = "embedded", redis_url: str | None = None):
        self.workdir = workdir
        self.mode = mode
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "BERTH_DATA_DIR": str(workdir),
            "BERTH_PROBE_INTERVAL": "5",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            # Builds clone the tests' local repositories (under the temporary directory).
            "BERTH_BUILD_LOCAL_ROOTS": tempfile.gettempdir(),
        }
        for name in ("REDIS_URL", "DATABASE_URL", "BERTH_EMBEDDED_WORKER", "BERTH_SERVER"):
            self.env.pop(name, None)
        if mode == "redis":
            self.env["REDIS_URL"] = redis_url

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def _spawn(self, name: str, argv: list[str], extra_env: dict | None = None) -> None:
        log = open(self.workdir / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        # Its own process group: a worker's --beat runs in a child process that would
        # outlive a killed worker and keep queueing periodic tasks for its broker.
        self.processes.append(
            subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**self.env, **(extra_env or {})},
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        )

    def start(self) -> PortalServer:
        self.manage("migrate", "--no-input")
        self.seed_output = self.manage("seed_demo")
        self._spawn(
            "server",
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
        )
        if self.mode == "redis":
            self.start_worker()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/login/", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if any(p.poll() is not None for p in self.processes):
                break
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"Berth did not start:\n{self.logs()}")

    def start_worker(self, name: str = "celery") -> subprocess.Popen:
        """A separate ``celery -A portal worker`` process with beat (Redis mode)."""
        self._spawn(
            name,
            [
                str(BIN / "celery"), "-A", "portal", "worker", "--beat", "--pool=threads",
                "--concurrency=2", "--loglevel=INFO", "--hostname", f"{name}@%h",
                "--schedule", str(self.workdir / f"{name}-beat-schedule"),
            ],
        )  # fmt: skip
        return self.processes[-1]

    def flush_broker(self) -> None:
        """Empty this server's Redis database (tasks queued or unacknowledged by earlier
        servers on it), so that its worker starts with nothing before the test's work."""
        import redis

        client = redis.Redis.from_url(self.env["REDIS_URL"])
        try:
            client.flushdb()
        finally:
            client.close()

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL a process and its children (a worker's beat), as a crash of its host."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text()[-4000:]}" for log in self.workdir.glob("*.log")
        )

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
            # Whatever it left behind in its group (a worker's beat child).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()
        # The traffic proxy daemonizes (it outlives a server by design): stop this one's.
        from environments.proxy import ProxyProcess

        ProxyProcess(self.workdir / "proxy").stop()

    def token(self, username: str, password: str) -> str:
        response = requests.post(
            f"{self.url}/api/auth/token/",
            json={"username": username, "password": password},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["token"]
