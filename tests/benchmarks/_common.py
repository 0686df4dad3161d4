"""Helpers shared by the benchmarks: the stack's environment, percentiles, the docker CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
STACK_ENV = Path(os.environ.get("BERTH_STACK_DIR", "/tmp/berth-stack")) / "stack.env"


def load_stack_env() -> None:
    """Fill unset variables from the stack's stack.env (``export NAME=value`` lines)."""
    if not STACK_ENV.exists():
        return
    for line in STACK_ENV.read_text().splitlines():
        line = line.strip()
        if line.startswith("export ") and "=" in line:
            name, _, value = line.removeprefix("export ").partition("=")
            os.environ.setdefault(name.strip(), value.strip().strip("'\""))


def cpu_ms(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def run_docker(*args: str, timeout: int = 600) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, env=os.environ.copy()
    )
    if result.returncode:
        raise RuntimeError(f"docker {' '.join(args)} failed:\n{result.stderr.strip()}")
    return result.stdout


def stack_ready() -> str:
    """Read the stack's environment, refuse anything but a loopback registry, and make the
    project importable (the registry client, tests.servers). Returns the registry URL."""
    load_stack_env()
    for name in ("DOCKER_HOST", "BERTH_REGISTRY_URL"):
        if not os.environ.get(name):
            raise SystemExit(f"{name} is not set: start the stack (make stack) first")
    url = os.environ["BERTH_REGISTRY_URL"]
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing a registry that is not on loopback: {url}")
    sys.path.insert(0, str(ROOT))
    return url
