"""A service's configuration in one environment: one validated document.

The same document is edited in the browser, sent to the API and exported or imported as
JSON or YAML (like the ``qa-deploy.json`` / ``prod-deploy.json`` files teams keep per
environment). :func:`validate` returns the normalised document or raises
``ValidationError`` with one message per offending field, named by its path.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.core.exceptions import ValidationError

from environments.engine.units import parse_memory
from environments.entry_rules import HOST_NAME
from portal.core.text import unstorable

__all__ = [
    "DEFAULTS",
    "STRATEGIES",
    "dump",
    "load",
    "mask_secrets",
    "parse_memory",
    "validate",
    "yaml_lines",
]

STRATEGIES = ("recreate", "rolling", "blue-green", "swarm")
RESTART_POLICIES = ("no", "on-failure", "always", "unless-stopped")
NETWORK_MODES = ("host", "none")
MASK = "********"
MAX_MEMORY = 2**63 - 1  # bytes: Docker's limit is an int64

DEFAULTS: dict[str, Any] = {
    "replicas": 1,
    "command": [],
    "args": [],
    "env": {},
    "secret_env": [],
    "port": None,
    "port_env": "PORT",
    "volumes": [],
    "cpus": None,
    "memory": None,
    "labels": {},
    "restart_policy": "no",
    "stop_grace_period": 10,
    "network_mode": "host",
    "health_check": None,
    "strategy": {
        "type": "rolling",
        "batch_size": 1,
        "max_surge": 1,
        "max_unavailable": 0,
        "drain_timeout": 10.0,
    },  # fmt: skip
    "entry_points": [],
}
MAX_ENTRY_POINTS = 8
_ROLLING_DEFAULTS = {"batch_size": 1, "max_surge": 1, "max_unavailable": 0, "drain_timeout": 10.0}
_BLUE_GREEN_DEFAULTS = {"keep_old_for": 300.0, "drain_timeout": 10.0}
_HEALTH_DEFAULTS = {"interval": 2.0, "timeout": 2.0, "retries": 3, "start_period": 0.0}
_SWARM_DEFAULTS = {
    "parallelism": 1,
    "delay": 0.0,
    "order": "start-first",
    "monitor": 5.0,
    "failure_action": "rollback",
}

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What an HTTP health check may ask for: printable ASCII, no space, quote, # or \
# (it is written into the proxy's configuration and a request line).
_HTTP_PATH = re.compile(r"/[!$%&()*+,./0-9:;<=>?@A-Z\[\]^_`a-z{|}~-]{0,1023}")
_LABEL_KEY = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
_VOLUME = re.compile(
    r"^(?P<source>[A-Za-z0-9][A-Za-z0-9_.-]*|/[^:\x00-\x1f]*):(?P<target>/[^:\x00-\x1f]*)(?::(?P<mode>ro|rw))?$"
)


class _Errors:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)


def _string_list(errors: _Errors, path: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        errors.add(path, 'Use a list of strings, e.g. ["--spring.profiles.active=qa"].')
        return []
    return [str(v) for v in value]


def _number(errors: _Errors, path: str, value: Any, low: float, high: float, integer: bool = False):
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        errors.add(path, f"Use a {'whole ' if integer else ''}number between {low:g} and {high:g}.")
        return None
    if not low <= value <= high:
        errors.add(path, f"{value} is out of range: use {low:g} to {high:g}.")
        return None
    return value


def _port(errors: _Errors, path: str, value: Any) -> int | None:
    if value is None:
        return None
    return _number(errors, path, value, 1024, 65535, integer=True)


def _health(errors: _Errors, value: Any) -> dict | None:
    if value in (None, {}):
        return None
    if not isinstance(value, dict):
        errors.add("health_check", "Use an object with command, or http_path and port.")
        return None
    unknown = set(value) - {"command", "http_path", "port", *_HEALTH_DEFAULTS}
    for key in sorted(unknown):
        errors.add(f"health_check.{key}", "Unknown field.")
    health = {**_HEALTH_DEFAULTS, **{k: v for k, v in value.items() if k in _HEALTH_DEFAULTS}}
    for key, (low, high) in {
        "interval": (0.5, 300),
        "timeout": (0.5, 300),
        "start_period": (0, 600),
    }.items():
        health[key] = _number(errors, f"health_check.{key}", health[key], low, high)
    health["retries"] = _number(
        errors, "health_check.retries", health["retries"], 1, 20, integer=True
    )
    if value.get("command"):
        health["command"] = _string_list(errors, "health_check.command", value["command"])
    elif value.get("http_path"):
        path = value["http_path"]
        if not isinstance(path, str) or not _HTTP_PATH.fullmatch(path):
            errors.add(
                "health_check.http_path",
                "Use a path starting with /, e.g. /health, without spaces, quotes, # or \\.",
            )
        health["http_path"] = path
        if "port" in value:
            health["port"] = _port(errors, "health_check.port", value["port"])
    else:
        errors.add("health_check", "Give a command, or an http_path (and the port).")
    return health


def _strategy(errors: _Errors, value: Any, replicas: int) -> dict:
    if isinstance(value, str):
        value = {"type": value}
    if not isinstance(value, dict):
        errors.add("strategy", f"Use an object with a type: one of {', '.join(STRATEGIES)}.")
        return dict(DEFAULTS["strategy"])
    kind = value.get("type", "rolling")
    if kind not in STRATEGIES:
        errors.add(
            "strategy.type", f"{kind!r} is not a strategy: use one of {', '.join(STRATEGIES)}."
        )
        return dict(DEFAULTS["strategy"])
    strategy: dict[str, Any] = {"type": kind}
    allowed = {"type"}
    if kind == "rolling":
        # As Swarm's update config: batch_size replicas per step (its parallelism), at
        # most max_surge above the replica count and max_unavailable below it meanwhile.
        allowed |= set(_ROLLING_DEFAULTS)
        merged = {**_ROLLING_DEFAULTS, **{k: v for k, v in value.items() if k in allowed}}
        strategy["batch_size"] = _number(
            errors, "strategy.batch_size", merged["batch_size"], 1, max(replicas, 1), integer=True
        )
        if "max_surge" not in value and isinstance(strategy["batch_size"], int):
            merged["max_surge"] = strategy["batch_size"]  # a whole batch starts first
        for key in ("max_surge", "max_unavailable"):
            strategy[key] = _number(errors, f"strategy.{key}", merged[key], 0, 50, integer=True)
        strategy["drain_timeout"] = _number(
            errors, "strategy.drain_timeout", merged["drain_timeout"], 0, 3600
        )
        surge, unavailable = strategy["max_surge"], strategy["max_unavailable"]
        if isinstance(surge, int) and isinstance(unavailable, int):
            if surge + unavailable < 1:
                errors.add("strategy.max_surge", "max_surge and max_unavailable cannot both be 0.")
            elif (
                isinstance(strategy["batch_size"], int)
                and strategy["batch_size"] > surge + unavailable
            ):
                errors.add(
                    "strategy.batch_size",
                    f"A batch of {strategy['batch_size']} needs max_surge + max_unavailable "
                    f"of at least {strategy['batch_size']}.",
                )
    if kind == "blue-green":
        allowed |= set(_BLUE_GREEN_DEFAULTS)
        merged = {**_BLUE_GREEN_DEFAULTS, **{k: v for k, v in value.items() if k in allowed}}
        strategy["keep_old_for"] = _number(
            errors, "strategy.keep_old_for", merged["keep_old_for"], 0, 86400
        )
        strategy["drain_timeout"] = _number(
            errors, "strategy.drain_timeout", merged["drain_timeout"], 0, 3600
        )
    if kind == "swarm":
        allowed |= set(_SWARM_DEFAULTS)
        merged = {**_SWARM_DEFAULTS, **{k: v for k, v in value.items() if k in _SWARM_DEFAULTS}}
        strategy["parallelism"] = _number(
            errors, "strategy.parallelism", merged["parallelism"], 0, 100, integer=True
        )
        strategy["delay"] = _number(errors, "strategy.delay", merged["delay"], 0, 3600)
        strategy["monitor"] = _number(errors, "strategy.monitor", merged["monitor"], 0, 3600)
        if merged["order"] not in ("start-first", "stop-first"):
            errors.add("strategy.order", "Use start-first or stop-first.")
        if merged["failure_action"] not in ("rollback", "pause", "continue"):
            errors.add("strategy.failure_action", "Use rollback, pause or continue.")
        strategy["order"], strategy["failure_action"] = merged["order"], merged["failure_action"]
    for key in sorted(set(value) - allowed):
        errors.add(f"strategy.{key}", f"Unknown field for the {kind} strategy.")
    return strategy


def validate(document: Any) -> dict:
    """The normalised config, or ValidationError naming each bad field by its path."""
    if not isinstance(document, dict):
        raise ValidationError({"config": ["The configuration must be an object."]})
    errors = _Errors()
    for key in sorted(set(document) - set(DEFAULTS)):
        errors.add(key, "Unknown field.")
    config = {**DEFAULTS, **{k: v for k, v in document.items() if k in DEFAULTS}}

    config["replicas"] = _number(errors, "replicas", config["replicas"], 0, 50, integer=True)
    config["command"] = _string_list(errors, "command", config["command"])
    config["args"] = _string_list(errors, "args", config["args"])

    env = config["env"] or {}
    if not isinstance(env, dict):
        errors.add("env", "Use an object of NAME: value.")
        env = {}
    for name, value in env.items():
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            errors.add(
                f"env.{name}",
                "Not a valid variable name: letters, digits and _, not starting with a digit.",
            )
        elif not isinstance(value, str | int | float | bool):
            errors.add(f"env.{name}", "Use a string value.")
    config["env"] = {str(k): str(v) for k, v in env.items()}
    secret = _string_list(errors, "secret_env", config["secret_env"])
    for name in secret:
        if name not in config["env"]:
            errors.add("secret_env", f"{name} is not in env.")
    config["secret_env"] = sorted(set(secret))

    config["port"] = _port(errors, "port", config["port"])
    if not _ENV_NAME.fullmatch(str(config["port_env"] or "")):
        errors.add("port_env", "Not a valid variable name.")

    volumes = _string_list(errors, "volumes", config["volumes"])
    for index, volume in enumerate(volumes):
        if not _VOLUME.fullmatch(volume):
            errors.add(
                f"volumes.{index}",
                f"{volume!r}: use name:/path or /host/path:/path, optionally :ro.",
            )
    config["volumes"] = volumes

    if config["cpus"] is not None:
        config["cpus"] = _number(errors, "cpus", config["cpus"], 0.01, 256)
    if config["memory"] is not None:
        try:
            if parse_memory(config["memory"]) > MAX_MEMORY:
                errors.add("memory", "Too large: Docker takes at most 8 EiB (2^63 - 1 bytes).")
        except (ValueError, OverflowError) as exc:  # OverflowError: "1e400g" is infinite
            errors.add("memory", str(exc) if isinstance(exc, ValueError) else "Too large.")

    labels = config["labels"] or {}
    if not isinstance(labels, dict):
        errors.add("labels", "Use an object of key: value.")
        labels = {}
    for key in labels:
        if not _LABEL_KEY.fullmatch(str(key)) or str(key).startswith("berth."):
            errors.add(f"labels.{key}", "Use lowercase dotted keys; berth.* is reserved.")
    config["labels"] = {str(k): str(v) for k, v in labels.items()}

    config["stop_grace_period"] = _number(
        errors, "stop_grace_period", config["stop_grace_period"], 0, 600, integer=True
    )
    if config["restart_policy"] not in RESTART_POLICIES:
        errors.add("restart_policy", f"Use one of {', '.join(RESTART_POLICIES)}.")
    if config["network_mode"] not in NETWORK_MODES:
        errors.add("network_mode", "Use host or none: bridge networking is off on these engines.")

    config["health_check"] = _health(errors, config["health_check"])
    health = config["health_check"] or {}
    if health.get("http_path") and not (health.get("port") or config["port"]):
        errors.add("health_check.port", "An HTTP health check needs a port (here or in port).")
    replicas = config["replicas"] if isinstance(config["replicas"], int) else 1
    config["strategy"] = _strategy(errors, config["strategy"], replicas)
    if (
        config["strategy"]["type"] in ("rolling", "blue-green")
        and replicas > 1
        and config["network_mode"] == "host"
        and not config["port"]
        and health.get("http_path")
    ):
        errors.add("port", "Replicas on host networking need a base port so each binds its own.")

    config["entry_points"] = _entry_points(errors, config["entry_points"], config)
    if config["entry_points"] and not config["port"]:
        errors.add("port", "Entry points forward to the replicas' ports: set the base port.")
    if config["entry_points"] and config["network_mode"] == "none":
        errors.add("entry_points", "Replicas without a network (network_mode none) cannot serve.")

    if errors.errors:
        raise ValidationError(errors.errors)
    return config


def _entry_points(errors: _Errors, value: Any, config: dict) -> list[dict]:
    """``entry_points``: a list of ``{"port": 8080}`` or ``{"port": 80, "host":
    "shop.example.com"}``. Each listens on the proxy of the environment's engine host and
    forwards to the service's healthy replicas; a host name routes by the request's
    Host header (name-based). A port (with its host name) and a host name belong to one
    service and environment at a time: checked against the others when saved."""
    if value in (None, []):
        return []
    if not isinstance(value, list):
        errors.add("entry_points", 'Use a list, e.g. [{"port": 8080}].')
        return []
    if len(value) > MAX_ENTRY_POINTS:
        errors.add("entry_points", f"At most {MAX_ENTRY_POINTS} entry points.")
        return []
    replica_ports: set[int] = set()
    if isinstance(config.get("port"), int) and isinstance(config.get("replicas"), int):
        for offset in (0, 100):  # blue and green (see strategies.base.GREEN_PORT_OFFSET)
            replica_ports |= {config["port"] + offset + s for s in range(config["replicas"] + 1)}
    found, seen = [], set()
    for index, item in enumerate(value):
        path = f"entry_points.{index}"
        if isinstance(item, int) and not isinstance(item, bool):
            item = {"port": item}
        if not isinstance(item, dict):
            errors.add(path, 'Use an object: {"port": 8080, "host": "optional.example.com"}.')
            continue
        for key in sorted(set(item) - {"port", "host"}):
            errors.add(f"{path}.{key}", "Unknown field: use port and host.")
        port = None
        if "port" not in item:
            errors.add(f"{path}.port", "An entry point needs a port.")
        else:  # the proxy may bind a privileged port (80, 443) where it runs as root
            port = _number(errors, f"{path}.port", item["port"], 1, 65535, integer=True)
        host = item.get("host") or ""
        if not isinstance(host, str) or (host and not HOST_NAME.fullmatch(host.lower())):
            errors.add(
                f"{path}.host", "Use a host name such as shop.example.com (no port, no scheme)."
            )
            continue
        host = host.lower()
        if port is None:
            continue
        if port in replica_ports:
            errors.add(f"{path}.port", f"{port} is a port the replicas bind: choose another.")
        if (port, host) in seen:
            errors.add(path, f"{host or 'Port'}:{port} is listed twice.")
        seen.add((port, host))
        found.append({"port": port, "host": host})
    return found


def mask_secrets(config: dict) -> dict:
    """The config with secret environment values replaced, for pages, the API and logs."""
    masked = dict(config)
    masked["env"] = {
        name: (MASK if name in config.get("secret_env", []) else value)
        for name, value in config.get("env", {}).items()
    }
    return masked


def dump(config: dict, fmt: str = "json") -> str:
    """Export (secrets masked) as JSON or YAML."""
    masked = mask_secrets(config)
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(masked, sort_keys=False)
    return json.dumps(masked, indent=2)


MAX_TEXT = 64 * 1024  # bytes of an imported document: real configs are a few KiB, and
# pure-Python YAML parses token-dense text at ~60 KiB/s, so this bounds the time too
MAX_DEPTH = 32  # levels of lists and objects; a config needs four


def _too_deep(value: Any) -> bool:
    """Whether ``value`` nests lists and objects more than MAX_DEPTH deep (iteratively)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend(
            (child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
        )
    return False


def _yaml_loader():
    """PyYAML's SafeLoader without what makes a small document huge or ambiguous:
    anchors and aliases (a 400-byte "billion laughs" expands to gigabytes once
    serialised), duplicate keys (the last one silently won) and deep nesting."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    "anchors (&name) and aliases (*name) are not allowed: write the values out",
                    event.start_mark,
                )
            nests = isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent)
            if nests:
                self.depth += 1
                if self.depth > MAX_DEPTH:
                    raise yaml.composer.ComposerError(
                        None,
                        None,
                        f"the document is nested more than {MAX_DEPTH} levels deep",
                        event.start_mark,
                    )
            try:
                return super().compose_node(parent, index)
            finally:
                if nests:
                    self.depth -= 1

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen = set()
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        duplicate = key in seen
                    except TypeError:  # unhashable: SafeLoader says so below
                        continue
                    if duplicate:
                        raise yaml.constructor.ConstructorError(
                            "while constructing a mapping",
                            node.start_mark,
                            f"duplicate key {key!r}",
                            key_node.start_mark,
                        )
                    seen.add(key)
            return super().construct_mapping(node, deep)

    return yaml, StrictLoader


def load(text: str, fmt: str = "json") -> dict:
    """Parse an exported document; a masked secret keeps its stored value on import.
    At most MAX_TEXT bytes and MAX_DEPTH levels; YAML without anchors, aliases or
    duplicate keys. ValidationError (under ``config``) saying what is wrong."""

    def refuse(problem: str) -> ValidationError:
        return ValidationError({"config": [f"Cannot parse the {fmt.upper()} document: {problem}"]})

    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT:
        raise refuse(f"it is {size // 1024} KiB, more than the {MAX_TEXT // 1024} KiB allowed.")
    try:
        if fmt == "yaml":
            yaml, loader = _yaml_loader()
            try:
                document = yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader
            except yaml.YAMLError as exc:
                raise refuse(str(exc)) from None
            if document is None:  # empty, or comments only: never "every default"
                raise refuse("it is empty. Give the config's fields, e.g. replicas: 2.")
        else:
            document = json.loads(text)
    except RecursionError:
        raise refuse(f"the document is nested more than {MAX_DEPTH} levels deep.") from None
    except ValueError as exc:
        raise refuse(str(exc)) from None
    if _too_deep(document):
        raise refuse(f"the document is nested more than {MAX_DEPTH} levels deep.")
    if problem := unstorable(document):
        raise refuse(f"a string holds {problem}.")
    return document


def yaml_lines(text: str) -> dict[str, int]:
    """Line numbers (1-based) of every field of a YAML document that :func:`load`
    accepted, by path (``stages[2].kind``), so validation errors can name their line."""
    yaml, loader = _yaml_loader()
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text, Loader=loader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError:
        return lines
    stack = [("", root)]
    while stack:
        path, node = stack.pop()
        if node is None:
            continue
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = f"{path}.{key.value}" if path else str(key.value)
                lines[child] = key.start_mark.line + 1
                stack.append((child, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(node.value))
    return lines
