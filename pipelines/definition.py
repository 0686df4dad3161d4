"""A pipeline's definition: YAML in, one validated document out, or errors that name
their line and field.

The YAML goes through the same bounded loader as service configs (no anchors or
aliases, no duplicate keys, bounded size and depth). :func:`parse` is pure: the
environments a definition may name are passed in.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any

from django.core.exceptions import ValidationError

from environments.deploying import config as bounded_yaml
from environments.roles import ACTIONS, PROMOTE
from portal.core.host_paths import SYSTEM_DIRS, berth_dirs, dotdot_problem, under

__all__ = ["KINDS", "git_ref_problem", "git_url_problem", "local_path_problem", "parse", "steps"]

KINDS = ("build", "deploy", "test", "approval", "promote")
MAX_STAGES = 30
MAX_PARALLEL = 8
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIELDS = {
    "build": {"git", "dockerfile", "build_args", "tag", "timeout"},
    "deploy": set(),
    "test": {"image", "command", "env", "timeout", "junit"},
    "approval": {"permission", "min_approvers", "expires_after"},
    "promote": {"version"},
}


class _Errors:
    def __init__(self, lines: dict[str, int]):
        self.lines = lines
        self.messages: list[str] = []

    def add(self, path: str, message: str) -> None:
        probe = path
        while probe and probe not in self.lines:  # the nearest enclosing field with a line
            shorter = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", probe)
            probe = "" if shorter == probe else shorter
        line = self.lines.get(probe)
        where = f"line {line}, " if line else ""
        self.messages.append(f"{where}{path or 'document'}: {message}")


def _number(errors, path, value, default, low, high):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.add(path, f"use a number of seconds between {low} and {high}.")
        return default
    if not low <= value <= high:
        errors.add(path, f"{value} is out of range: use {low} to {high}.")
        return default
    return value


def _strings(errors, path, value) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) for k, v in value.items()
    ):
        errors.add(path, "use a mapping of names to text values.")
        return {}
    for key in value:
        if not _ENV_NAME.fullmatch(key):
            errors.add(
                f"{path}.{key}", "names are letters, digits and _, not starting with a digit."
            )
    return {k: str(v) for k, v in value.items()}


_GIT_URL = re.compile(r"(https?|ssh|file)://[^\s]+")
_GIT_REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}")


def local_path_problem(url: str, real: bool = False) -> str:
    """Why a build may not clone the local path ``url`` names (``real``: follow its
    symbolic links first, as a checkout does), or "". Builds read only the directories
    an administrator lists in ``BERTH_BUILD_LOCAL_ROOTS``, never a system directory or
    Berth's own."""
    from django.conf import settings

    if url.startswith("file://") and "%" in url:  # git decodes it (%2e%2e is "..")
        return f"{url!r} has percent-encoding in it: give the repository's plain path."
    path = url.removeprefix("file://")
    if problem := dotdot_problem(path, "repository"):
        return problem
    path = os.path.realpath(path) if real else posixpath.normpath(path)
    if path == "/" or any(under(path, d) for d in (*SYSTEM_DIRS[1:], *berth_dirs())):
        return f"{url!r} is a system directory or Berth's own: builds read repositories elsewhere."
    roots = settings.BUILD_LOCAL_ROOTS
    if not roots:
        return (
            f"{url!r} is a local path, and builds here clone no local repository: use an "
            "http(s):// or ssh:// URL, or ask an administrator to list the directories "
            "builds may read (BERTH_BUILD_LOCAL_ROOTS)."
        )
    if not any(under(path, root) for root in roots):
        return f"{url!r} is outside the directories builds may read here: {', '.join(roots)}."
    return ""


def git_url_problem(url) -> str:
    """Why ``url`` is not a repository Berth fetches (an absolute local path or an
    http(s), ssh or file URL; no ``ext::`` transport, no option; no local path in a
    system directory or Berth's own code and data, none outside the directories listed in
    ``BERTH_BUILD_LOCAL_ROOTS``), or ""."""
    if not isinstance(url, str) or not url or len(url) > 1000 or "\0" in url:
        return "the git url is empty or too long."
    if url.startswith("-") or "::" in url:
        return f"{url!r} is not a repository Berth fetches: use a path or URL."
    if url.startswith(("/", "file://")) and (problem := local_path_problem(url)):
        return problem
    if url.startswith("/") or _GIT_URL.fullmatch(url):
        return ""
    return (
        f"{url!r} is not a repository Berth fetches: use an absolute path or an "
        "http(s)://, ssh:// or file:// URL."
    )


def git_ref_problem(ref) -> str:
    """Why ``ref`` is not a branch, tag or commit name (no option, no ``..``), or ""."""
    if (
        not isinstance(ref, str)
        or not _GIT_REF.fullmatch(ref)
        or ".." in ref
        or "@{" in ref
        or ref.endswith((".", "/"))
    ):
        return f"{ref!r} is not a branch, tag or commit name."
    return ""


def _stage(errors: _Errors, path: str, raw: Any, environments: set[str], names: set[str]) -> dict:
    if not isinstance(raw, dict):
        errors.add(path, "a stage is a mapping with name, kind and environment.")
        return {}
    name, kind, environment = raw.get("name"), raw.get("kind"), raw.get("environment")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        errors.add(
            f"{path}.name", "give a name: lowercase letters, digits and -, e.g. deploy-test."
        )
        name = ""
    elif name in names:
        errors.add(f"{path}.name", f"{name!r} is used by another stage; names are unique.")
    names.add(name)
    if kind not in KINDS:
        errors.add(f"{path}.kind", f"unknown stage kind {kind!r}: use {', '.join(KINDS)}.")
        return {"name": name, "kind": kind}
    if not isinstance(environment, str) or environment not in environments:
        errors.add(
            f"{path}.environment",
            f"no environment {environment!r}: use one of {', '.join(sorted(environments)) or 'none'}.",
        )
    for key in sorted(set(raw) - {"name", "kind", "environment"} - _FIELDS[kind]):
        errors.add(f"{path}.{key}", f"unknown field for a {kind} stage.")
    stage: dict[str, Any] = {"name": name, "kind": kind, "environment": environment}
    if kind == "build":
        git = raw.get("git")
        if not isinstance(git, dict) or not isinstance(git.get("url"), str) or not git["url"]:
            errors.add(f"{path}.git", "give git: {url: ..., ref: main}.")
            git = {"url": ""}
        for key in sorted(set(git) - {"url", "ref"}):
            errors.add(f"{path}.git.{key}", "unknown field: git has url and ref.")
        if git["url"] and (problem := git_url_problem(git["url"])):
            errors.add(f"{path}.git.url", problem)
        ref = git.get("ref", "main")
        if not isinstance(ref, str):
            errors.add(f"{path}.git.ref", "a branch, tag or commit, as text.")
            ref = "main"
        elif problem := git_ref_problem(ref):
            errors.add(f"{path}.git.ref", problem)
        dockerfile = raw.get("dockerfile", "Dockerfile")
        if (
            not isinstance(dockerfile, str)
            or not dockerfile
            or dockerfile.startswith("/")
            or ".." in dockerfile.split("/")
        ):
            errors.add(f"{path}.dockerfile", "a path inside the repository, e.g. Dockerfile.")
            dockerfile = "Dockerfile"
        tag = raw.get("tag")
        if tag is not None and (not isinstance(tag, str) or not _TAG.fullmatch(tag)):
            errors.add(f"{path}.tag", "a Docker tag: letters, digits, _ . -, up to 128.")
            tag = None
        stage |= {
            "git": {"url": git["url"], "ref": ref},
            "dockerfile": dockerfile,
            "build_args": _strings(errors, f"{path}.build_args", raw.get("build_args")),
            "tag": tag,
            "timeout": _number(errors, f"{path}.timeout", raw.get("timeout"), 600, 10, 3600),
        }
    elif kind == "test":
        image = raw.get("image", "$image")
        if not isinstance(image, str) or not image or len(image) > 255:
            errors.add(f"{path}.image", "an image reference, or $image for the run's digest.")
            image = "$image"
        command = raw.get("command", [])
        if isinstance(command, str):
            command = ["sh", "-c", command]
        if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
            errors.add(f"{path}.command", "a list of strings, or one shell line.")
            command = []
        junit = raw.get("junit")
        if junit is not None and (not isinstance(junit, str) or not junit.startswith("/")):
            errors.add(f"{path}.junit", "an absolute path in the test container.")
            junit = None
        stage |= {
            "image": image,
            "command": command,
            "env": _strings(errors, f"{path}.env", raw.get("env")),
            "timeout": _number(errors, f"{path}.timeout", raw.get("timeout"), 300, 1, 3600),
            "junit": junit,
        }
    elif kind == "approval":
        permission = raw.get("permission", PROMOTE)
        if permission not in ACTIONS:
            errors.add(f"{path}.permission", f"use one of {', '.join(ACTIONS)}.")
            permission = PROMOTE
        minimum = raw.get("min_approvers", 1)
        if isinstance(minimum, bool) or not isinstance(minimum, int) or not 1 <= minimum <= 10:
            errors.add(f"{path}.min_approvers", "a whole number from 1 to 10.")
            minimum = 1
        stage |= {
            "permission": permission,
            "min_approvers": minimum,
            "expires_after": _number(
                errors, f"{path}.expires_after", raw.get("expires_after"), 86400, 1, 30 * 86400
            ),
        }
    elif kind == "promote":
        version = raw.get("version", "")
        if not isinstance(version, str) or (version and not _TAG.fullmatch(version)):
            errors.add(f"{path}.version", "a tag, e.g. 1.4.2.")
            version = ""
        stage["version"] = version
    return stage


def parse(text: str, environments: set[str]) -> dict:
    """The validated document of a pipeline definition in YAML, naming only
    ``environments`` (slugs). ValidationError under ``text``: one message per problem,
    each with its line and field."""
    try:
        raw = bounded_yaml.load(text, "yaml")
    except ValidationError as exc:
        raise ValidationError({"text": exc.message_dict["config"]}) from None
    errors = _Errors(bounded_yaml.yaml_lines(text))
    if not isinstance(raw, dict):
        errors.add("", "the definition is a mapping with a list of stages.")
        raise ValidationError({"text": errors.messages})
    for key in sorted(set(raw) - {"stages", "allow_self_approval", "description", "triggers"}):
        errors.add(
            str(key), "unknown field: use stages, allow_self_approval, description, triggers."
        )
    allow_self = raw.get("allow_self_approval", False)
    if not isinstance(allow_self, bool):
        errors.add("allow_self_approval", "true or false.")
        allow_self = False
    triggers = raw.get("triggers") or {}
    push_tag = None
    if not isinstance(triggers, dict) or set(triggers) - {"registry_push"}:
        errors.add("triggers", "only registry_push: {tag: <pattern>} is known.")
    elif "registry_push" in triggers:
        push = triggers["registry_push"]
        if not isinstance(push, dict) or not isinstance(push.get("tag"), str):
            errors.add("triggers.registry_push", "give tag: a pattern such as v* or latest.")
        else:
            push_tag = push["tag"][:128]
    stages_raw = raw.get("stages")
    if not isinstance(stages_raw, list) or not stages_raw:
        errors.add("stages", "give a list of stages.")
        raise ValidationError({"text": errors.messages})
    names: set[str] = set()
    steps_out: list[list[dict]] = []
    count = 0
    for index, item in enumerate(stages_raw):
        path = f"stages[{index}]"
        if isinstance(item, dict) and "parallel" in item:
            group = item["parallel"]
            if set(item) != {"parallel"}:
                errors.add(path, "a parallel group has only parallel: [stages].")
            if not isinstance(group, list) or not 1 <= len(group) <= MAX_PARALLEL:
                errors.add(f"{path}.parallel", f"a list of 1 to {MAX_PARALLEL} stages.")
                continue
            steps_out.append(
                [
                    _stage(errors, f"{path}.parallel[{i}]", stage, environments, names)
                    for i, stage in enumerate(group)
                ]
            )
        else:
            steps_out.append([_stage(errors, path, item, environments, names)])
        count += len(steps_out[-1])
    if count > MAX_STAGES:
        errors.add("stages", f"{count} stages: at most {MAX_STAGES}.")
    # A promote follows an approval of promote_from_environment in its environment, so
    # what leaves an environment is always what people approved there.
    # A build after an approval would replace the digest people approved: every later
    # stage would run one nobody looked at.
    approved: set[str] = set()
    gate_seen = False
    for index, step in enumerate(steps_out):
        for position, stage in enumerate(step):
            where = f"stages[{index}]" + (f".parallel[{position}]" if len(step) > 1 else "")
            if stage.get("kind") == "build" and gate_seen:
                errors.add(
                    f"{where}.kind",
                    "a build after an approval would replace the digest it approved: build "
                    "before the approvals (or in another pipeline).",
                )
            if stage.get("kind") == "promote" and stage.get("environment") not in approved:
                errors.add(
                    f"{where}.kind",
                    f"a promote from {stage.get('environment')} needs an approval stage with "
                    f"permission {PROMOTE} in {stage.get('environment')} before it.",
                )
        approved |= {
            s.get("environment")
            for s in step
            if s.get("kind") == "approval" and s.get("permission") == PROMOTE
        }
        gate_seen = gate_seen or any(s.get("kind") == "approval" for s in step)
    if errors.messages:
        raise ValidationError({"text": errors.messages})
    return {
        "description": str(raw.get("description") or "")[:1000],
        "allow_self_approval": allow_self,
        "triggers": {"registry_push": {"tag": push_tag}} if push_tag else {},
        "steps": steps_out,
    }


def steps(document: dict) -> list[list[dict]]:
    """The stages of a validated document, step by step (a step's stages run in parallel)."""
    return document["steps"]
