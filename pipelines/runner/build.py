"""The build stage's outside work: a git checkout (a bounded ``git`` subprocess) and a
``docker build`` + push through the engine adapter's one client factory.

Only local paths and http(s), ssh and file URLs are fetched; ``ext::`` and every other
transport, options smuggled in as a URL or ref (a leading ``-``) and refs with ``..`` are
refused before git runs.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

from environments import engine
from pipelines.definition import git_ref_problem, git_url_problem, local_path_problem

__all__ = ["BuildFailed", "build_and_push", "checkout", "validate_git_ref", "validate_git_url"]

GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ALLOW_PROTOCOL": "file:http:https:ssh",
    "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes",
    "GIT_CONFIG_NOSYSTEM": "1",
}


class BuildFailed(Exception):
    """The checkout, build or push failed; ``str()`` says why, for the stage."""


def validate_git_url(url: str) -> str:
    """``url`` if it is an absolute local path or an http(s), ssh or file URL, a local
    one inside the directories builds may read, with everything git reads there (its
    symbolic links, a ``.git`` file's directory, the object stores it borrows from)."""
    if problem := git_url_problem(url):
        raise BuildFailed(problem)
    if url.startswith(("/", "file://")):
        if problem := local_path_problem(url, real=True):
            raise BuildFailed(problem)
        if any(local_path_problem(path) for path in _git_reads(url.removeprefix("file://"))):
            raise BuildFailed(
                f"{url!r} makes git read outside the directories builds may read (through "
                "a .git file or link, its common directory or its alternates): refused."
            )
    return url


MAX_ALTERNATES = 20  # object stores followed per clone; git itself stops at depth 5


def _git_reads(path: str) -> list[str]:
    """The directories git reads when it clones the local repository at ``path``, with
    symbolic links followed: the repository (a work tree's ``.git``, the directory a
    ``.git`` file names, or the bare repository itself), its common directory, and every
    object store, those its ``objects/info/alternates`` name included."""
    real = os.path.realpath(path)
    git_dir, dot_git = real, os.path.join(real, ".git")
    if os.path.isfile(dot_git):
        named = _first_line(dot_git)
        if named.startswith("gitdir:"):
            git_dir = os.path.realpath(os.path.join(real, named.removeprefix("gitdir:").strip()))
    elif os.path.isdir(dot_git):
        git_dir = os.path.realpath(dot_git)
    reads = [git_dir]
    if common := _first_line(os.path.join(git_dir, "commondir")):
        reads.append(os.path.realpath(os.path.join(git_dir, common)))
    stores = [os.path.realpath(os.path.join(d, "objects")) for d in reads]
    while stores and len(reads) < MAX_ALTERNATES:
        store = stores.pop(0)
        reads.append(store)
        for line in _lines(os.path.join(store, "info", "alternates")):
            stores.append(os.path.realpath(os.path.join(store, line)))
    if stores:  # more than Berth follows: refused as outside
        reads.append("/")
    return reads


def _lines(path: str) -> list[str]:
    try:
        with open(path, errors="replace") as file:
            text = file.read(65536)
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _first_line(path: str) -> str:
    lines = _lines(path)
    return lines[0] if lines else ""


def validate_git_ref(ref: str) -> str:
    if problem := git_ref_problem(ref):
        raise BuildFailed(problem)
    return ref


def _git(args: list[str], timeout: float, cwd: str | None = None) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent", **GIT_ENV}
    try:
        done = subprocess.run(
            ["git", "-c", "protocol.ext.allow=never", "-c", "core.hooksPath=/dev/null", *args],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise BuildFailed(f"git {args[0]} took more than {timeout:.0f} s.") from None
    if done.returncode != 0:
        raise BuildFailed(f"git {args[0]} failed: {done.stderr.strip()[-500:] or done.returncode}")
    return done.stdout.strip()


def checkout(url: str, ref: str, directory: str, timeout: float = 120) -> str:
    """Clone ``url`` into ``directory`` and check out ``ref`` (branch, tag or commit);
    returns the commit's full hash."""
    validate_git_url(url)
    validate_git_ref(ref)
    deadline = time.monotonic() + timeout
    _git(["clone", "--quiet", "--no-checkout", "--", url, directory], timeout)
    commit = None
    for candidate in (f"refs/remotes/origin/{ref}", f"refs/tags/{ref}", ref):
        try:
            commit = _git(
                ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{candidate}^{{commit}}"],
                max(1.0, deadline - time.monotonic()), cwd=directory,
            )  # fmt: skip
            break
        except BuildFailed:
            continue
    if not commit:
        raise BuildFailed(f"{ref!r} is not a branch, tag or commit of {url}.")
    _git(
        ["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit],
        max(1.0, deadline - time.monotonic()), cwd=directory,
    )  # fmt: skip
    return commit


def build_and_push(
    environment: engine.Endpoint,
    context: str,
    *,
    dockerfile: str,
    build_args: dict[str, str],
    repository: str,
    tag: str,
    log: Callable[[str], None],
    timeout: float,
) -> tuple[str, int]:
    """Build ``context`` on ``environment``'s engine (host network), push
    ``repository:tag``; returns (digest, image size in bytes). The build log goes to
    ``log`` as it streams."""
    if not os.path.isfile(os.path.join(context, dockerfile)):
        raise BuildFailed(f"there is no {dockerfile} in the repository.")
    deadline = time.monotonic() + timeout
    reference = f"{repository}:{tag}"
    with engine.open_client(environment, timeout=int(timeout)) as client:
        for chunk in client.api.build(
            path=context, dockerfile=dockerfile, tag=reference, buildargs=build_args or None,
            network_mode="host", rm=True, forcerm=True, decode=True, pull=False,
        ):  # fmt: skip
            if "error" in chunk:
                raise BuildFailed(f"docker build failed: {str(chunk['error']).strip()[:1000]}")
            if chunk.get("stream"):
                log(chunk["stream"])
            if time.monotonic() > deadline:
                raise BuildFailed(f"the build took more than {timeout:.0f} s.")
        log(f"pushing {reference}\n")
        digest = ""
        for chunk in client.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                raise BuildFailed(f"push failed: {str(chunk['error']).strip()[:1000]}")
            digest = (chunk.get("aux") or {}).get("Digest", digest)
        if not digest:
            raise BuildFailed("the registry did not answer a digest for the pushed image.")
        size = int(client.images.get(reference).attrs.get("Size") or 0)
    return digest, size
