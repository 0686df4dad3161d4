"""Pipeline definitions: YAML errors name their line and field; git URLs and refs that
could run commands or smuggle options are refused before git runs; JUnit summaries."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from pipelines.definition import parse
from pipelines.runner.build import BuildFailed, validate_git_ref, validate_git_url
from pipelines.runner.testing import summarise_junit

ENVS = {"dev", "test", "ops"}
GOOD = """\
description: web release
stages:
  - name: build
    kind: build
    environment: dev
    git: {url: /srv/web.git, ref: main}
  - name: deploy-test
    kind: deploy
    environment: test
  - parallel:
      - {name: smoke, kind: test, environment: test, command: "echo ok", timeout: 30}
      - {name: manual, kind: approval, environment: test}
  - {name: promote, kind: promote, environment: test}
  - {name: deploy-ops, kind: deploy, environment: ops}
"""


def _errors(text: str) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        parse(text, ENVS)
    return caught.value.message_dict["text"]


def test_a_good_definition_gives_its_steps_in_order():
    document = parse(GOOD, ENVS)
    assert [[s["name"] for s in step] for step in document["steps"]] == [
        ["build"], ["deploy-test"], ["smoke", "manual"], ["promote"], ["deploy-ops"],
    ]  # fmt: skip
    assert document["steps"][2][0]["command"] == ["sh", "-c", "echo ok"]
    assert document["steps"][2][1]["min_approvers"] == 1
    assert document["allow_self_approval"] is False


def test_an_unknown_stage_kind_is_named_with_its_line():
    errors = _errors(
        GOOD.replace("kind: deploy\n    environment: test", "kind: deplyo\n    environment: test")
    )
    assert any(
        e.startswith("line 8, stages[1].kind: unknown stage kind 'deplyo'") for e in errors
    ), errors


def test_an_unknown_environment_and_field_are_named():
    errors = _errors(GOOD.replace("environment: ops}", "environment: prod, colour: red}"))
    assert any("line 14, stages[4].environment: no environment 'prod'" in e for e in errors), errors
    assert any("stages[4].colour: unknown field" in e for e in errors), errors


def test_a_promote_needs_an_approval_of_its_environment_before_it():
    errors = _errors(GOOD.replace("kind: approval", "kind: test"))
    assert any("stages[3].kind: a promote from test needs an approval" in e for e in errors), errors


def test_aliases_and_duplicate_keys_are_refused_with_their_line():
    assert "anchors" in _errors("stages: &a [1]\nother: *a\n")[0]
    duplicate = _errors("stages: []\nstages: []\n")[0]
    assert "duplicate key 'stages'" in duplicate and "line 2" in duplicate


@pytest.mark.parametrize(
    "text", ["", "- a list", "stages: 3", "stages: [{parallel: 3}]", "x" * 70000]
)
def test_malformed_documents_are_refused_with_a_message(text):
    assert _errors(text)


@pytest.mark.parametrize(
    "url",
    ["ext::sh -c touch% /tmp/pwned", "--upload-pack=touch /tmp/x", "-u", "relative/path",
     "ftp://example.com/x.git", "git@host:x.git", "", "/a\0b"],
)  # fmt: skip
def test_git_urls_that_are_not_a_path_or_http_ssh_file_are_refused(url):
    with pytest.raises(BuildFailed):
        validate_git_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "/srv/git/web.git",
        "https://example.com/web.git",
        "ssh://git@example.com/web.git",
        "file:///srv/web.git",
    ],
)
def test_paths_and_http_ssh_file_urls_are_accepted(url):
    assert validate_git_url(url) == url


def test_a_local_path_in_a_system_directory_or_berths_own_is_refused(settings):
    for url in ["/", "/etc", "/root/.ssh", "file:///etc/x.git", "/srv/../etc",
                str(settings.BASE_DIR), f"{settings.DATA_DIR}/x.git"]:  # fmt: skip
        with pytest.raises(BuildFailed):
            validate_git_url(url)
    settings.BUILD_LOCAL_ROOTS = ["/etcetera"]
    assert validate_git_url("/etcetera/web.git") == "/etcetera/web.git"


def test_a_build_clones_local_paths_only_inside_the_directories_an_administrator_lists(
    settings, tmp_path
):
    allowed, outside = tmp_path / "git", tmp_path / "elsewhere"
    (allowed / "web.git").mkdir(parents=True)
    (outside / "secret.git").mkdir(parents=True)
    (allowed / "link.git").symlink_to(outside / "secret.git")
    settings.BUILD_LOCAL_ROOTS = []
    for url in (f"{allowed}/web.git", f"file://{allowed}/web.git"):
        with pytest.raises(BuildFailed, match="builds here clone no local repository: use an http"):
            validate_git_url(url)
    errors = " ".join(_errors(GOOD.replace("/srv/web.git", f"{allowed}/web.git")))
    assert "git.url" in errors and "BERTH_BUILD_LOCAL_ROOTS" in errors
    assert validate_git_url("https://example.com/web.git")  # remotes need no listing
    settings.BUILD_LOCAL_ROOTS = [str(allowed)]
    assert validate_git_url(f"{allowed}/web.git") == f"{allowed}/web.git"
    for encoded in (f"file://{allowed}/%2e%2e/elsewhere/secret.git", f"file://{allowed}/%2E%2E/x"):
        with pytest.raises(BuildFailed, match="has percent-encoding in it"):
            validate_git_url(encoded)  # git would decode it to ..
    for url in (f"{outside}/secret.git", f"{allowed}-other/web.git", f"{allowed}/link.git"):
        with pytest.raises(
            BuildFailed, match=f"outside the directories builds may read here: {allowed}"
        ):
            validate_git_url(url)  # a symbolic link is followed at checkout


def test_git_may_not_be_led_out_of_the_directories_by_a_repository_inside_them(settings, tmp_path):
    """A .git file or link, a common directory or alternates pointing outside would make
    git read another repository the server can read."""
    allowed, outside = tmp_path / "git", tmp_path / "elsewhere"
    (outside / "secret.git" / "objects").mkdir(parents=True)
    settings.BUILD_LOCAL_ROOTS = [str(allowed)]
    (allowed / "gitfile").mkdir(parents=True)
    (allowed / "gitfile" / ".git").write_text(f"gitdir: {outside}/secret.git\n")
    (allowed / "dotgitlink").mkdir()
    (allowed / "dotgitlink" / ".git").symlink_to(outside / "secret.git")
    (allowed / "alt.git" / "objects" / "info").mkdir(parents=True)
    (allowed / "alt.git" / "objects" / "info" / "alternates").write_text(
        f"# borrowed\n{outside}/secret.git/objects\n"
    )
    (allowed / "common.git").mkdir()
    (allowed / "common.git" / "commondir").write_text("../../elsewhere/secret.git\n")
    for name in ("gitfile", "dotgitlink", "alt.git", "common.git"):
        with pytest.raises(BuildFailed, match="makes git read outside the directories"):
            validate_git_url(f"{allowed}/{name}")
    # Inside, the same kinds of links are fine.
    (allowed / "ok.git" / "objects" / "info").mkdir(parents=True)
    (allowed / "ok.git" / "objects" / "info" / "alternates").write_text("../../alt.git/objects\n")
    (allowed / "alt.git" / "objects" / "info" / "alternates").write_text("")
    (allowed / "work").mkdir()
    (allowed / "work" / ".git").write_text("gitdir: ../ok.git\n")
    for name in ("ok.git", "work", "missing.git"):
        assert validate_git_url(f"{allowed}/{name}") == f"{allowed}/{name}"


@pytest.mark.parametrize("ref", ["--output=/tmp/x", "-b", "a..b", "main@{1}", "", "a b", "x" * 300])
def test_refs_that_could_be_options_or_ranges_are_refused(ref):
    with pytest.raises(BuildFailed):
        validate_git_ref(ref)


def test_a_junit_report_is_summarised_with_failed_names():
    report = summarise_junit(
        b'<testsuites><testsuite><testcase classname="web" name="home"/>'
        b'<testcase classname="web" name="login"><failure>no</failure></testcase>'
        b'<testcase name="db"><error/></testcase><testcase name="later"><skipped/></testcase>'
        b"</testsuite></testsuites>"
    )
    assert report == {
        "tests": 4, "failures": 1, "errors": 1, "skipped": 1, "passed": 1,
        "failed": ["web.login", "db"],
    }  # fmt: skip


def test_a_junit_report_with_entities_or_garbage_is_refused_unparsed():
    bomb = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa">]><testsuite>&a;</testsuite>'
    assert "DOCTYPE" in summarise_junit(bomb)["error"]
    assert "not XML" in summarise_junit(b"<testsuite>")["error"]
    assert "larger" in summarise_junit(b" " * (2 * 1024 * 1024))["error"]


@pytest.mark.parametrize(
    ("git", "field"),
    [
        ("{url: 'ext::sh -c touch% /tmp/pwn', ref: main}", "git.url"),
        ("{url: '--upload-pack=touch /tmp/pwn', ref: main}", "git.url"),
        ("{url: /srv/web.git, ref: '--upload-pack=touch /tmp/pwn'}", "git.ref"),
        ("{url: /srv/web.git, ref: 'a..b'}", "git.ref"),
    ],
)
def test_a_git_url_or_ref_git_would_misread_is_refused_at_save(git, field):
    errors = _errors(GOOD.replace("{url: /srv/web.git, ref: main}", git))
    assert any(f"stages[0].{field}:" in e for e in errors), errors


def test_a_build_after_an_approval_is_refused():
    """It would replace the digest people approved with one nobody looked at."""
    text = GOOD.replace(
        "  - {name: promote",
        "  - {name: rebuild, kind: build, environment: dev, git: {url: /x}}\n  - {name: promote",
    )
    errors = _errors(text)
    assert any("stages[3].kind: a build after an approval" in e for e in errors), errors
