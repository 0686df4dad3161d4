"""``berth``: the commands. Each is thin: resolve the names it was given, make one or two
REST calls, and show the answer as a table or as a versioned JSON document."""

from __future__ import annotations

import sys
from functools import wraps

import click

from berth_cli import SCHEMA, shapes
from berth_cli.errors import EXIT_CODES_HELP, FAILED, INTERRUPTED, USAGE, CliError
from berth_cli.output import document

__all__ = ["cli", "run"]

HELP = f"""Berth's command-line client: environments, services, deployments, logs and
exec, through Berth's REST API and websockets with a personal API token.

Start with `berth login URL`. BERTH_URL and BERTH_TOKEN override the saved context.
Every command takes -o json: one JSON document with "schema": "{SCHEMA}" (logs: one
document per line). Standard input that is not a terminal is never prompted: a
protected environment then needs --confirm ENV.

{EXIT_CODES_HELP}
"""


def _app(fmt: str, context: str | None):
    from berth_cli.app import App

    ctx = click.get_current_context()
    return App(context or ctx.find_root().params.get("context"), fmt)


def command(group, name: str | None = None, **kwargs):
    """A command with ``-o table|json``; it receives the App as its first argument."""

    def decorate(function):
        @wraps(function)
        def wrapper(fmt, context_option, **params):
            return function(_app(fmt, context_option), **params)

        wrapper = click.option(
            "--context", "context_option", metavar="NAME", help="Use this saved context."
        )(wrapper)
        wrapper = click.option(
            "-o", "--output", "fmt", type=click.Choice(["table", "json"]), default="table",
            show_default=True, help="Output: a table for people, or JSON.",
        )(wrapper)  # fmt: skip
        return group.command(name, **kwargs)(wrapper)

    return decorate


def env_option(function):
    return click.option("--env", "-e", "env", required=True, help="Environment slug or name.")(
        function
    )


def confirm_option(function):
    return click.option(
        "--confirm", metavar="ENV", help="Name the protected environment to act on it."
    )(function)


def wait_options(function):
    function = click.option(
        "--no-wait", is_flag=True, help="Return at once with the deployment's id."
    )(function)
    return click.option("--timeout", type=float, help="Give up waiting after S seconds (exit 5).")(
        function
    )


@click.group(
    help=HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option("--context", "-c", "context", metavar="NAME", help="Use this saved context.")
@click.version_option("0.1.0", prog_name="berth")
def cli(context):
    pass


# Sign-in and contexts ------------------------------------------------------------


@command(cli)
@click.argument("url")
@click.option("--token", help="An API token made on your profile page (skips the password).")
@click.option("--username", "-u", help="Your Berth username.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--name", "context_name", help="Name of the context (default: the server's host).")
def login(app, url, token, username, password_stdin, context_name):
    """Sign in to a Berth server and save it as the current context."""
    import getpass
    import socket
    from urllib.parse import urlsplit

    from berth_cli.client import Client
    from berth_cli.config import Context, Contexts, normalize_url

    url = normalize_url(url)
    interactive = sys.stdin.isatty()
    user = ""
    if token:
        Client(url, token).get("/api/tokens/", {"limit": 1})  # a wrong token is refused here
    else:
        if not username:
            if not interactive:
                raise CliError(
                    "Give --username (or --token): standard input is not a terminal.", USAGE
                )
            username = click.prompt("Username", err=True)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif interactive:
            password = getpass.getpass("Password: ")
        else:
            raise CliError(
                "Give --password-stdin or --token: standard input is not a terminal.", USAGE
            )
        answer = Client(url).post(
            "/api/auth/token/",
            {
                "username": username,
                "password": password,
                "name": f"berth CLI on {socket.gethostname()}"[:100],
            },
        )
        token, user = answer["token"], username
    contexts = Contexts()
    name = context_name or urlsplit(url).netloc
    contexts.add(Context(name, url, token, user))
    contexts.save()
    app.out.emit(
        document("context", name=name, url=url, user=user, current=True),
        lambda: app.out.say(f"Signed in to {url} as context {name}."),
    )


@cli.group()
def context():
    """Saved servers: list them, or choose the current one."""


@command(context, "list")
def context_list(app):
    """The saved contexts (never their tokens)."""
    from berth_cli.config import Contexts

    contexts = Contexts()
    items = [
        {"name": c.name, "url": c.url, "user": c.user, "current": c.name == contexts.current}
        for c in contexts.contexts.values()
    ]
    app.out.emit(
        document("contexts", current=contexts.current or None, items=items),
        lambda: app.out.table(
            ["", "NAME", "URL", "USER"],
            [("*" if i["current"] else "", i["name"], i["url"], i["user"]) for i in items],
            empty="No contexts yet: berth login URL.",
        ),
    )


@command(context, "use")
@click.argument("name")
def context_use(app, name):
    """Make NAME the current context."""
    from berth_cli.config import Contexts

    contexts = Contexts()
    chosen = contexts.use(name)
    contexts.save()
    app.out.emit(
        document("context", name=chosen.name, url=chosen.url, user=chosen.user, current=True),
        lambda: app.out.say(f"Using {chosen.name} ({chosen.url})."),
    )


# Reading -------------------------------------------------------------------------


@command(cli)
def envs(app):
    """Environments you can see, with your actions there."""
    items = [shapes.environment(row) for row in app.environments()]
    app.out.emit(
        document("environments", items=items),
        lambda: app.out.table(
            ["SLUG", "NAME", "TIER", "MODE", "PROTECTED", "REACHABLE", "YOUR ACTIONS"],
            [
                (
                    i["slug"],
                    i["name"],
                    i["tier"],
                    i["mode"],
                    "yes" if i["protected"] else "",
                    {True: "yes", False: "no"}.get(i["reachable"], "?"),
                    ", ".join(i["allowed_actions"] or []),
                )
                for i in items
            ],  # fmt: skip
            empty="No environment you can see.",
        ),
    )


@command(cli)
@click.argument("env")
def ps(app, env):
    """Containers of an environment, with state and health."""
    environment = app.environment(env)
    rows = app.client.get(f"/api/environments/{environment['id']}/containers/")
    items = [shapes.container(row) for row in rows]
    app.out.emit(
        document("containers", environment=environment["slug"], items=items),
        lambda: app.out.table(
            ["ID", "NAME", "SERVICE", "STATE", "HEALTH", "STATUS", "IMAGE"],
            [
                (
                    i["short_id"],
                    i["name"],
                    i["service"],
                    i["state"],
                    i["health"],
                    i["status"],
                    i["image"],
                )
                for i in items
            ],
            empty=f"No containers in {environment['name']}.",
        ),
    )


@command(cli)
def services(app):
    """Services: the image repositories Berth deploys."""
    items = [shapes.service(row) for row in app.client.get_all("/api/services/")]
    app.out.emit(
        document("services", items=items),
        lambda: app.out.table(
            ["NAME", "REGISTRY", "REPOSITORY", "DESCRIPTION"],
            [(i["name"], i["registry"], i["repository"], i["description"]) for i in items],
            empty="No services.",
        ),
    )


@command(cli)
@click.argument("repository")
def images(app, repository):
    """Digests of a repository, with their tags and promotions."""
    items = [
        shapes.image(r) for r in app.client.get_all("/api/images/", {"repository": repository})
    ]
    app.out.emit(
        document("images", repository=repository, items=items),
        lambda: app.out.table(
            ["DIGEST", "TAGS", "PROMOTED", "REGISTRY", "CREATED"],
            [
                (
                    i["digest"],
                    ", ".join(i["tags"] or []),
                    ", ".join(
                        f"{p['from']}→{p['to']}"
                        for p in i["promotions"]
                        if p["status"] == "succeeded"
                    ),
                    i["registry"],
                    i["created"],
                )
                for i in items
            ],  # fmt: skip
            empty=f"No images of {repository}.",
        ),
    )


def _deployment_rows(items):
    return [
        (d["id"], d["action"], d["status"], (d["digest"] or "")[:19], d["revision"], d["actor"],
         (d["created_at"] or "")[:19].replace("T", " "), d["reason"])
        for d in items
    ]  # fmt: skip


@command(cli)
@click.argument("service")
@env_option
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
def history(app, service, env, limit):
    """Deployments and operations of a service in an environment, newest first."""
    svc, environment = app.service(service), app.environment(env)
    rows = app.client.get(
        "/api/deployments/",
        {"service": svc["name"], "environment": environment["slug"], "limit": limit},
    )["results"]
    items = [shapes.deployment(row) for row in rows]
    app.out.emit(
        document("deployments", service=svc["name"], environment=environment["slug"], items=items),
        lambda: app.out.table(
            ["ID", "ACTION", "STATUS", "DIGEST", "REV", "BY", "CREATED", "REASON"],
            _deployment_rows(items),
            empty=f"{svc['name']} has no deployments in {environment['name']}.",
        ),
    )


@command(cli)
@click.option("--env", "-e", "env", help="Only events of this environment.")
@click.option("--action", help="Only this action, e.g. deployment.start.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
def audit(app, env, action, limit):
    """The audit log: who did what, where, newest first."""
    params = {"limit": limit}
    if env:
        params["environment"] = app.environment(env)["id"]
    if action:
        params["action"] = action
    rows = app.client.get("/api/audit-events/", params)["results"]
    items = [shapes.audit_event(row) for row in rows]
    app.out.emit(
        document("audit_events", items=items),
        lambda: app.out.table(
            ["TIME", "WHO", "ACTION", "TARGET", "ENVIRONMENT"],
            [
                (
                    (i["created_at"] or "")[:19].replace("T", " "),
                    i["actor_name"],
                    i["action"],
                    i["target_repr"],
                    i["environment_name"],
                )
                for i in items
            ],  # fmt: skip
            empty="No audit events.",
        ),
    )


# Deploying -----------------------------------------------------------------------


def finish(app, deployment: dict, no_wait: bool, timeout: float | None) -> None:
    """Follow a started deployment or operation to its end (unless --no-wait); exit 1
    when it did not succeed."""
    from berth_cli.progress import follow_deployment

    noun = (
        "Deployment"
        if deployment.get("action", "deploy") == "deploy"
        else deployment["action"].capitalize()
    )
    if no_wait:
        app.out.emit(
            document("deployment", deployment=shapes.deployment(deployment)),
            lambda: app.out.say(
                f"{noun} {deployment['id']} started ({deployment['status']}). "
                f"Follow it with: berth wait deployment {deployment['id']}"
            ),
        )
        return
    if not app.out.json:
        app.out.note(
            f"{noun} {deployment['id']} of {deployment['service']} to {deployment['environment']}"
        )
    final = follow_deployment(
        app.client, app.out, deployment["id"], timeout=timeout, quiet=app.out.json
    )
    app.out.emit(
        document("deployment", deployment=shapes.deployment(final)),
        lambda: app.out.say(
            f"{noun} {final['id']} {final['status']}"
            + (f": {final['reason']}" if final["reason"] else "."),
            style="green" if final["status"] == "succeeded" else "red",
        ),
    )
    if final["status"] != "succeeded":
        raise SystemExit(FAILED)


@command(cli)
@click.argument("service")
@env_option
@click.option("--digest", help="The image digest, sha256:...")
@click.option("--tag", help="A tag of the service's repository, resolved to its digest.")
@click.option("--from", "from_env", metavar="ENV", help="The digest last deployed in ENV.")
@confirm_option
@wait_options
def deploy(app, service, env, digest, tag, from_env, confirm, no_wait, timeout):
    """Deploy a digest of SERVICE to an environment and show its progress."""
    if sum(bool(x) for x in (digest, tag, from_env)) != 1:
        raise CliError("Give exactly one of --digest, --tag or --from.", USAGE)
    svc, environment = app.service(service), app.environment(env)
    if tag:
        digest = app.digest_of_tag(svc, tag)
    elif from_env:
        digest = app.last_deployed_digest(svc, app.environment(from_env))
    confirmed = app.confirm(environment, confirm, "deploy")
    deployment = app.client.post(
        "/api/deployments/",
        {
            "service": svc["name"],
            "environment": environment["slug"],
            "digest": digest,
            "confirm": confirmed,
        },
    )
    finish(app, deployment, no_wait, timeout)


@command(cli)
@click.argument("service")
@env_option
@click.option("--digest", help="Default: the digest deployed last.")
@click.option("--tag", help="A tag resolved to its digest.")
@confirm_option
@wait_options
def up(app, service, env, digest, tag, confirm, no_wait, timeout):
    """Deploy the current config of SERVICE (with the digest deployed last)."""
    svc, environment = app.service(service), app.environment(env)
    if tag:
        digest = app.digest_of_tag(svc, tag)
    digest = digest or app.last_deployed_digest(svc, environment)
    confirmed = app.confirm(environment, confirm, "deploy")
    deployment = app.client.post(
        "/api/deployments/",
        {
            "service": svc["name"],
            "environment": environment["slug"],
            "digest": digest,
            "confirm": confirmed,
        },
    )
    finish(app, deployment, no_wait, timeout)


@command(cli)
@click.argument("service")
@env_option
@confirm_option
@wait_options
def rollback(app, service, env, confirm, no_wait, timeout):
    """Redeploy the digest and config that succeeded before the latest deployment."""
    svc, environment = app.service(service), app.environment(env)
    rows = app.client.get(
        "/api/deployments/",
        {"service": svc["name"], "environment": environment["slug"], "limit": 1},
    )["results"]
    if not rows:
        raise CliError(f"{svc['name']} has no deployments in {environment['name']}.", FAILED)
    confirmed = app.confirm(environment, confirm, "roll back")
    deployment = app.client.post(
        f"/api/deployments/{rows[0]['id']}/rollback/", {"confirm": confirmed}
    )
    finish(app, deployment, no_wait, timeout)


def _operation(app, verb: str, service: str, env: str, confirm, no_wait, timeout, **extra):
    svc, environment = app.service(service), app.environment(env)
    confirmed = app.confirm(environment, confirm, verb)
    deployment = app.client.post(
        f"/api/services/{svc['id']}/{verb}/",
        {"environment": environment["slug"], "confirm": confirmed, **extra},
    )
    finish(app, deployment, no_wait, timeout)


@command(cli)
@click.argument("service")
@click.argument("replicas", type=click.IntRange(0, 50))
@env_option
@confirm_option
@wait_options
def scale(app, service, replicas, env, confirm, no_wait, timeout):
    """Run REPLICAS replicas of SERVICE (a new config revision, then a deployment)."""
    _operation(app, "scale", service, env, confirm, no_wait, timeout, replicas=replicas)


@command(cli)
@click.argument("service")
@env_option
@confirm_option
@wait_options
def stop(app, service, env, confirm, no_wait, timeout):
    """Stop every replica of SERVICE (a recorded operation)."""
    _operation(app, "stop", service, env, confirm, no_wait, timeout)


@command(cli)
@click.argument("service")
@env_option
@confirm_option
@wait_options
def down(app, service, env, confirm, no_wait, timeout):
    """Stop SERVICE: the same as `berth stop`."""
    _operation(app, "stop", service, env, confirm, no_wait, timeout)


@command(cli)
@click.argument("service")
@env_option
@confirm_option
@wait_options
def restart(app, service, env, confirm, no_wait, timeout):
    """Restart every replica of SERVICE, one at a time."""
    _operation(app, "restart", service, env, confirm, no_wait, timeout)


# Waiting -------------------------------------------------------------------------


@cli.group()
def wait():
    """Wait for a deployment or promotion to finish (exit 0 succeeded, 1 failed, 5 timeout)."""


@command(wait, "deployment")
@click.argument("deployment_id", type=int)
@click.option("--timeout", type=float, help="Give up after S seconds (exit 5).")
def wait_deployment(app, deployment_id, timeout):
    """Wait for deployment ID, showing its progress."""
    deployment = app.client.get(f"/api/deployments/{deployment_id}/")
    finish(app, deployment, False, timeout)


@command(wait, "promotion")
@click.argument("promotion_id", type=int)
@click.option("--timeout", type=float, help="Give up after S seconds (exit 5).")
def wait_promotion(app, promotion_id, timeout):
    """Wait for promotion ID to finish."""
    promotion = _wait_promotion(app, app.client.get(f"/api/promotions/{promotion_id}/"), timeout)
    _show_promotion(app, promotion)


def _wait_promotion(app, promotion: dict, timeout: float | None) -> dict:
    import time

    from berth_cli.errors import TIMEOUT

    deadline = None if timeout is None else time.monotonic() + timeout
    while promotion["status"] == "running":
        if deadline is not None and time.monotonic() >= deadline:
            raise CliError(
                f"Promotion {promotion['id']} has not finished yet (timed out).", TIMEOUT
            )
        time.sleep(0.5)
        promotion = app.client.get(f"/api/promotions/{promotion['id']}/")
    return promotion


def _show_promotion(app, promotion: dict) -> None:
    item = shapes.promotion(promotion)
    app.out.emit(
        document("promotion", promotion=item),
        lambda: app.out.say(
            f"Promotion {item['id']} {item['status']}: {item['source_environment']} → "
            f"{item['target_environment']} {item['target_reference'] or ''}"
            + (f" ({item['error']})" if item["error"] else ""),
            style={"succeeded": "green", "failed": "red"}.get(item["status"]),
        ),
    )
    if item["status"] == "failed":
        raise SystemExit(FAILED)


@command(cli)
@click.argument("reference", metavar="REPO@DIGEST")
@click.option("--from", "from_env", metavar="ENV", required=True, help="Where it was tested.")
@click.option("--to", "to_env", metavar="ENV", help="Default: the next environment on the path.")
@click.option("--version", "version", default="", help="A release tag (immutable).")
@click.option("--note", required=True, help="Why it is signed off.")
@click.option("--no-wait", is_flag=True, help="Return at once when the copy runs as a task.")
@click.option("--timeout", type=float, help="Give up waiting after S seconds (exit 5).")
def promote(app, reference, from_env, to_env, version, note, no_wait, timeout):
    """Sign off REPO@DIGEST in ENV and promote it to the next environment."""
    repository, at, digest = reference.rpartition("@")
    if not at or not repository or not digest:
        raise CliError("Give the image as REPO@DIGEST, e.g. team/app@sha256:…", USAGE)
    body = {
        "source_environment": app.environment(from_env)["id"],
        "repository": repository,
        "digest": digest,
        "version": version,
        "note": note,
    }
    if to_env:
        body["target_environment"] = app.environment(to_env)["id"]
    promotion = app.client.post("/api/promotions/", body)
    if not no_wait:
        promotion = _wait_promotion(app, promotion, timeout)
    _show_promotion(app, promotion)


# Config --------------------------------------------------------------------------


@cli.group()
def config():
    """A service's config per environment: pull it to a file, push a new revision, diff."""


def _syntax(path: str | None, given: str | None) -> str:
    if given:
        return given
    if path and path.endswith((".yaml", ".yml")):
        return "yaml"
    if path and path.endswith(".json"):
        return "json"
    return "yaml"


def _export(app, svc: dict, environment: dict, syntax: str) -> str:
    return app.client.get(
        f"/api/services/{svc['id']}/export/",
        {"environment": environment["slug"], "syntax": syntax},
        expect_json=False,
    )


SYNTAX = click.Choice(["yaml", "json"])


@command(config, "pull")
@click.argument("service")
@env_option
@click.option(
    "--file", "-f", "path", type=click.Path(dir_okay=False), help="Write here (default: stdout)."
)
@click.option("--syntax", type=SYNTAX, help="Default: from the file's extension, else yaml.")
def config_pull(app, service, env, path, syntax):
    """Write the current config (secrets masked) as YAML or JSON."""
    svc, environment = app.service(service), app.environment(env)
    syntax = _syntax(path, syntax)
    text = _export(app, svc, environment, syntax)
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    doc = document(
        "config",
        service=svc["name"],
        environment=environment["slug"],
        syntax=syntax,
        path=path,
        text=text,
    )
    if app.out.json:
        app.out.emit(doc)
    elif path:
        app.out.note(
            f"Wrote the config of {svc['name']} in {environment['name']} to {path}.", style=None
        )
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@command(config, "push")
@click.argument("service")
@env_option
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--comment", "-m", default="", help="Why it changed (kept with the revision).")
@click.option("--syntax", type=SYNTAX, help="Default: from the file's extension, else yaml.")
def config_push(app, service, env, path, comment, syntax):
    """Save FILE as a new config revision (deploy it with `berth up`)."""
    svc, environment = app.service(service), app.environment(env)
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    revision = app.client.post(
        f"/api/services/{svc['id']}/configs/",
        {
            "environment": environment["slug"],
            "text": text,
            "syntax": _syntax(path, syntax),
            "comment": comment,
        },
    )
    item = shapes.config_revision(revision)
    app.out.emit(
        document("config_revision", service=svc["name"], revision=item),
        lambda: app.out.say(
            f"Saved revision {item['revision']} of {svc['name']} in {environment['name']}."
        ),
    )


def _normalized(text: str, syntax: str, where: str) -> list[str]:
    """The document re-dumped with sorted keys, so a diff shows changes, not layout."""
    import json

    import yaml

    try:
        data = json.loads(text) if syntax == "json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CliError(f"{where} is not valid {syntax.upper()}: {exc}", USAGE) from None
    return yaml.safe_dump(data, sort_keys=True, default_flow_style=False).splitlines(keepends=True)


@command(config, "diff")
@click.argument("service")
@env_option
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--syntax", type=SYNTAX, help="Default: from the file's extension, else yaml.")
def config_diff(app, service, env, path, syntax):
    """Differences between the current revision and FILE (exit 0 either way)."""
    import difflib

    svc, environment = app.service(service), app.environment(env)
    syntax = _syntax(path, syntax)
    current = _normalized(_export(app, svc, environment, syntax), syntax, "The current config")
    with open(path, encoding="utf-8") as handle:
        local = _normalized(handle.read(), syntax, path)
    diff = "".join(
        difflib.unified_diff(current, local, f"{svc['name']}@{environment['slug']} (current)", path)
    )
    app.out.emit(
        document(
            "config_diff",
            service=svc["name"],
            environment=environment["slug"],
            changed=bool(diff),
            diff=diff,
        ),
        lambda: sys.stdout.write(diff or "No differences.\n"),
    )


# Logs and exec -------------------------------------------------------------------


@command(cli)
@click.argument("target", metavar="CONTAINER|SERVICE")
@click.option("--env", "-e", "env", help="With a SERVICE: its environment (replicas merged).")
@click.option("--follow", "-f", is_flag=True, help="Keep following new lines.")
@click.option("--since", help="From this time (RFC 3339 or unix seconds).")
@click.option("--tail", default="100", show_default=True, help="Last N lines first (or all).")
@click.option("--timestamps", "-t", is_flag=True, help="Show each line's time.")
def logs(app, target, env, follow, since, tail, timestamps):
    """A container's log, or the merged log of a service's replicas (each line prefixed
    by its replica). With -f it follows, across server restarts, until Ctrl-C."""
    from berth_cli.logs import LogFollower

    if tail != "all" and not tail.isdigit():
        raise CliError("--tail is a number of lines or all.", USAGE)
    if env:
        svc, environment = app.service(target), app.environment(env)
        path = f"/ws/services/{svc['id']}/environments/{environment['id']}/logs/"
        what = f"{svc['name']} in {environment['name']}"
    else:
        path, what = f"/ws/containers/{target}/logs/", f"container {target}"
    LogFollower(
        app.client, app.out, path, what, merged=bool(env), follow=follow, since=since,
        tail=tail, timestamps=timestamps,
    ).run()  # fmt: skip


@command(cli, context_settings={"ignore_unknown_options": True})
@click.argument("container")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--tty/--no-tty", "-t/-T", default=None, help="Default: when stdin and stdout are terminals."
)
def exec(app, container, command, tty):  # noqa: A001 - the command's name
    """Run COMMAND in CONTAINER (default: a shell). With a terminal it is interactive;
    otherwise the command's exit code becomes berth's: berth exec web-1 -- ls /"""
    from berth_cli.exec import run_exec

    raise SystemExit(run_exec(app, container, list(command), tty))


def run() -> None:
    """The console script: errors print the server's message, never a traceback."""
    try:
        code = cli.main(prog_name="berth", standalone_mode=False)
    except CliError as exc:
        click.echo(f"berth: {exc.message}", err=True)
        code = exc.code
    except click.exceptions.Abort:
        click.echo("", err=True)
        code = INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except KeyboardInterrupt:
        code = INTERRUPTED
    except BrokenPipeError:
        code = 0
        sys.stderr.close()
    sys.exit(code if isinstance(code, int) else 0)
