"""Host paths: the directories of the server's system and of Berth itself, which neither
a container (a bind mount) nor a build (a local git repository) is ever given."""

from __future__ import annotations

import posixpath

from django.conf import settings

__all__ = ["SYSTEM_DIRS", "berth_dirs", "dotdot_problem", "under"]

# The system's directories. A bind mount of one of them exactly is refused; a build
# reads nothing in or under them.
SYSTEM_DIRS = ("/", "/proc", "/sys", "/dev", "/etc", "/root", "/boot", "/run", "/var/run")


def under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or inside it (both normalised)."""
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def berth_dirs() -> list[str]:
    """Berth's own code and data (its database, keys and schedules live there)."""
    return [posixpath.normpath(str(settings.BASE_DIR)), posixpath.normpath(str(settings.DATA_DIR))]


def dotdot_problem(path: str, what: str = "path") -> str:
    """Why ``path`` may not be taken as given ('..' in it), or ""."""
    if ".." in path.split("/"):
        return f"{path} has '..' in it: give the {what}'s real path."
    return ""
