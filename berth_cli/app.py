"""What every command shares: the output, the client of the current context, and the
look-ups from the names people type (an environment's slug, a service's name) to the
objects the API takes. Only REST calls: nothing here knows the server's code."""

from __future__ import annotations

import sys

from berth_cli.client import Client
from berth_cli.config import current_context
from berth_cli.errors import FAILED, NOT_FOUND, USAGE, CliError
from berth_cli.output import Output

__all__ = ["App"]


class App:
    def __init__(self, context_name: str | None, fmt: str):
        self.context_name = context_name
        self.out = Output(fmt)
        self._client: Client | None = None
        self._environments: list | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            context = current_context(self.context_name)
            self._client = Client(context.url, context.token)
        return self._client

    def environments(self) -> list[dict]:
        if self._environments is None:
            self._environments = self.client.get_all("/api/environments/")
        return self._environments

    def environment(self, name: str) -> dict:
        for row in self.environments():
            if name in (row["slug"], str(row["id"])) or name.lower() == row["name"].lower():
                return row
        raise CliError(f"No environment {name!r} (or you cannot see it).", NOT_FOUND)

    def service(self, name: str) -> dict:
        for row in self.client.get_all("/api/services/"):
            if row["name"] == name or str(row["id"]) == name:
                return row
        raise CliError(f"No service {name!r} (or you cannot see it).", NOT_FOUND)

    def confirm(self, environment: dict, given: str | None, verb: str) -> bool:
        """``True`` to send ``confirm``: a protected environment needs ``--confirm
        <its slug>``, or typing its slug at a terminal. Never asks when stdin is not one."""
        if not environment.get("protected"):
            return False
        names = (environment["slug"], environment["name"])
        if given:
            if given not in names:
                raise CliError(
                    f"--confirm must name the environment: --confirm {environment['slug']}.", USAGE
                )
            return True
        if not sys.stdin.isatty():
            raise CliError(
                f"{environment['name']} is protected: pass --confirm {environment['slug']} "
                "(standard input is not a terminal, so berth does not ask).",
                USAGE,
            )
        import click

        typed = click.prompt(
            f"{environment['name']} is protected. Type {environment['slug']} to {verb}",
            default="",
            show_default=False,
            err=True,
        )
        if typed.strip() not in names:
            raise CliError("Not confirmed: nothing was done.", FAILED)
        return True

    def last_deployed_digest(self, service: dict, environment: dict) -> str:
        """The digest of the newest successful deployment (not a stop or restart)."""
        rows = self.client.get(
            "/api/deployments/",
            {
                "service": service["name"],
                "environment": environment["slug"],
                "status": "succeeded",
                "limit": 100,
            },
        )["results"]
        for row in rows:
            if row.get("action", "deploy") == "deploy" and row.get("digest"):
                return row["digest"]
        raise CliError(
            f"{service['name']} has no successful deployment in {environment['name']}.", NOT_FOUND
        )

    def digest_of_tag(self, service: dict, tag: str) -> str:
        images = self.client.get_all("/api/images/", {"repository": service["repository"]})
        for image in images:
            if image.get("registry") == service.get("registry") and tag in (
                image.get("tags") or []
            ):
                return image["digest"]
        raise CliError(
            f"No image of {service['repository']} tagged {tag!r} is known to Berth (tags are "
            "read from the registry periodically; give --digest, or refresh the registry).",
            NOT_FOUND,
        )
