"""Contexts: named servers with their API tokens, in a TOML file only its owner reads.

The file is ``$BERTH_CONFIG``, else ``$XDG_CONFIG_HOME/berth/config.toml``, else
``~/.config/berth/config.toml``; it is written with mode 0600. ``BERTH_URL`` and
``BERTH_TOKEN`` override the current context (both, or the URL alone with the current
context's token when it names the same server).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from berth_cli.errors import NOT_FOUND, USAGE, CliError

__all__ = ["Context", "Contexts", "config_path", "current_context", "normalize_url"]


@dataclass(frozen=True)
class Context:
    name: str
    url: str
    token: str
    user: str = ""


def config_path() -> Path:
    if os.environ.get("BERTH_CONFIG"):
        return Path(os.environ["BERTH_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "berth" / "config.toml"


def normalize_url(url: str) -> str:
    """``http(s)://host[:port][/prefix]`` without a trailing slash; usage error otherwise."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"{url!r} is not a server address: give http(s)://host[:port].", USAGE)
    if parts.query or parts.fragment:
        raise CliError(f"{url!r}: a server address has no query or fragment.", USAGE)
    return url


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


class Contexts:
    """The config file's contexts and which one is current."""

    def __init__(self, path: Path | None = None):
        self.path = path or config_path()
        self.current = ""
        self.contexts: dict[str, Context] = {}
        if self.path.exists():
            try:
                data = tomllib.loads(self.path.read_text())
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise CliError(f"{self.path} is not valid TOML: {exc}", USAGE) from None
            self.current = str(data.get("current", ""))
            for name, entry in (data.get("contexts") or {}).items():
                if isinstance(entry, dict) and entry.get("url") and entry.get("token"):
                    self.contexts[name] = Context(
                        name, str(entry["url"]), str(entry["token"]), str(entry.get("user", ""))
                    )

    def add(self, context: Context, *, make_current: bool = True) -> None:
        self.contexts[context.name] = context
        if make_current or not self.current:
            self.current = context.name

    def use(self, name: str) -> Context:
        if name not in self.contexts:
            known = ", ".join(sorted(self.contexts)) or "none yet (berth login URL)"
            raise CliError(f"No context named {name!r}. Contexts: {known}.", NOT_FOUND)
        self.current = name
        return self.contexts[name]

    def save(self) -> None:
        lines = [f"current = {_quote(self.current)}", ""]
        for context in self.contexts.values():
            lines += [
                f"[contexts.{_quote(context.name)}]",
                f"url = {_quote(context.url)}",
                f"token = {_quote(context.token)}",
                f"user = {_quote(context.user)}",
                "",
            ]
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines))
        os.chmod(temporary, 0o600)  # an older file may have been created wider
        os.replace(temporary, self.path)


def current_context(name: str | None = None) -> Context:
    """The context commands use: ``--context``, else the environment, else the file's."""
    url = os.environ.get("BERTH_URL", "")
    token = os.environ.get("BERTH_TOKEN", "")
    if url and token and not name:
        return Context("environment", normalize_url(url), token)
    contexts = Contexts()
    chosen = name or contexts.current
    context = contexts.contexts.get(chosen) if chosen else None
    if name and context is None:
        contexts.use(name)  # raises with the list of contexts
    if token and context is not None:
        return Context("environment", context.url, token)
    if url:
        url = normalize_url(url)
        if context is not None and normalize_url(context.url) == url:
            return context
        raise CliError(f"BERTH_URL is set to {url} but no token for it: set BERTH_TOKEN.", USAGE)
    if context is None:
        raise CliError(
            "Not signed in: run `berth login URL` (or set BERTH_URL and BERTH_TOKEN).", NOT_FOUND
        )
    return context
