"""The CLI's pure parts: the contexts file, the server's error messages, the log
follower's resume cursors and de-duplication."""

from __future__ import annotations

import io

import pytest

from berth_cli.client import describe_error
from berth_cli.config import Context, Contexts, current_context, normalize_url
from berth_cli.errors import NOT_FOUND, USAGE, CliError
from berth_cli.logs import LogFollower
from berth_cli.output import Output


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "xdg" / "berth" / "config.toml"
    monkeypatch.delenv("BERTH_CONFIG", raising=False)
    monkeypatch.delenv("BERTH_URL", raising=False)
    monkeypatch.delenv("BERTH_TOKEN", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return path


def test_contexts_round_trip_through_a_file_only_its_owner_reads(config):
    contexts = Contexts()
    contexts.add(Context('odd "name" \\ é', "http://127.0.0.1:8000", "tok\nen", "dev"))
    contexts.add(Context("second", "https://berth.example.com", "t2"), make_current=False)
    contexts.save()
    assert config.stat().st_mode & 0o777 == 0o600
    again = Contexts()
    assert again.current == 'odd "name" \\ é'
    assert again.contexts == contexts.contexts


def test_the_environment_overrides_the_file(config, monkeypatch):
    contexts = Contexts()
    contexts.add(Context("local", "http://127.0.0.1:8000", "file-token"))
    contexts.save()
    assert current_context().token == "file-token"
    monkeypatch.setenv("BERTH_TOKEN", "env-token")
    assert (current_context().url, current_context().token) == (
        "http://127.0.0.1:8000",
        "env-token",
    )
    monkeypatch.setenv("BERTH_URL", "http://127.0.0.1:9000/")
    assert (current_context().url, current_context().token) == (
        "http://127.0.0.1:9000",
        "env-token",
    )
    monkeypatch.delenv("BERTH_TOKEN")
    with pytest.raises(CliError) as refused:
        current_context()  # another server, and no token for it
    assert refused.value.code == USAGE


def test_no_context_is_a_not_signed_in_error(config):
    with pytest.raises(CliError) as refused:
        current_context()
    assert refused.value.code == NOT_FOUND and "berth login" in refused.value.message


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://x", "http://", "http://h/?q=1"])
def test_a_server_address_is_http_or_https(url):
    with pytest.raises(CliError):
        normalize_url(url)


def test_server_errors_read_as_their_messages():
    assert describe_error({"detail": "Not found."}) == "Not found."
    assert describe_error({"replicas": ["A whole number."], "non_field_errors": ["Bad."]}) == (
        "replicas: A whole number.; Bad."
    )
    assert describe_error({"confirm": "Ops is protected."}) == "confirm: Ops is protected."


def test_the_log_follower_resumes_after_what_it_printed_and_prints_nothing_twice():
    follower = LogFollower(
        None, Output(), "/ws/x/", "x", merged=True, follow=True, since=None, tail="10", timestamps=False
    )  # fmt: skip
    follower.stdout, follower.stderr = io.StringIO(), io.StringIO()
    assert follower.query() == [("tail", "10")]
    batch = [
        {
            "replica": "web-1",
            "stream": "stdout",
            "ts": "2026-01-01T00:00:01.000000001Z",
            "text": "a",
        },
        {
            "replica": "web-1",
            "stream": "stderr",
            "ts": "2026-01-01T00:00:02.000000000Z",
            "text": "b",
        },
    ]
    follower._print(None, batch)
    # After a reconnect the server may send the same lines again, then new ones.
    follower._print("web-2", [{"stream": "stdout", "ts": "2026-01-01T00:00:01.5Z", "text": "c"}])
    follower._print("web-2", [{"stream": "stdout", "ts": "2026-01-01T00:00:01.49Z", "text": "old"}])
    follower._print(None, [*batch, {"replica": "web-1", "stream": "stdout", "ts": "2026-01-01T00:00:03Z", "text": "d"}])  # fmt: skip
    assert follower.stdout.getvalue() == "web-1 | a\nweb-2 | c\nweb-1 | d\n"
    assert follower.stderr.getvalue() == "web-1 | b\n"
    assert sorted(follower.query()) == [
        ("cursor", "web-1/stderr,2026-01-01T00:00:02.000000000Z"),
        ("cursor", "web-1/stdout,2026-01-01T00:00:03.000000000Z"),
        ("cursor", "web-2/stdout,2026-01-01T00:00:01.500000000Z"),
    ]


def test_help_imports_no_http_websocket_or_rich_library():
    """``berth --help`` stays fast: the heavy libraries load on first use."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from berth_cli.main import cli\n"
        "try:\n    cli.main(['--help'], prog_name='berth')\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('requests', 'websockets', 'rich', 'yaml', 'django') if m in sys.modules]\n"
        "print(heavy, file=sys.stderr)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Exit codes" in result.stdout
