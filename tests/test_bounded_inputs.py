"""No input, however large, deep or strange, gets a 500: each gets a 4xx with a message a
person can act on, in bounded time and memory. One test (or a few) per finding."""

from __future__ import annotations

import io
import json
import time

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.exceptions import ParseError
from rest_framework.test import APIClient

from environments.consumers.container_logs import parse_log_options
from environments.deploying.config import validate
from environments.live.download import parse_download_range
from environments.live.lines import docker_since, normalize_ts, ts_seconds
from environments.models import Deployment, Service, ServiceConfig
from portal.api.parsers import BoundedJSONParser
from portal.api.urls import router
from portal.models import AuditEvent
from registry.models import Registry, Repository, Tag

pytestmark = pytest.mark.django_db

DIGEST = "sha256:" + "e" * 64


@pytest.fixture
def admin_api(admin_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(admin_user)
    return client


@pytest.fixture
def deployment(environments) -> Deployment:
    """A service configured and once deployed in Ops (rows only, no engine)."""
    registry = Registry.objects.create(name="bounded", url="http://127.0.0.1:1")
    service = Service.objects.create(name="web", registry=registry, repository="team/web")
    config = ServiceConfig.objects.create(
        service=service,
        environment=environments["ops"],
        revision=1,
        document=validate({"replicas": 1}),
    )
    return Deployment.objects.create(
        service=service,
        environment=environments["ops"],
        config=config,
        digest=DIGEST,
        strategy="rolling",
        status="succeeded",
    )


def _raw(client: APIClient, method: str, url: str, body: str | bytes, **extra):
    """A request with exactly this body, sent as JSON."""
    return getattr(client, method)(url, data=body, content_type="application/json", **extra)


def _message(response) -> str:
    """The text a person reads in an error answer."""
    return (
        json.dumps(response.json())
        if response.get("Content-Type", "").startswith("application/json")
        else response.content.decode()
    )


# --- 1. YAML configs: no alias expansion, no duplicate keys, bounded size and depth ------

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _save_config(client, deployment, text: str, syntax: str = "yaml"):
    url = reverse("service-configs", args=[deployment.service.pk])
    body = {"environment": "ops", "text": text, "syntax": syntax}
    return client.post(url, body, format="json")


def test_a_yaml_bomb_is_refused_quickly_with_a_message(admin_api, deployment):
    started = time.monotonic()
    response = _save_config(admin_api, deployment, BILLION_LAUGHS)
    assert time.monotonic() - started < 2
    assert response.status_code == 400
    assert "alias" in _message(response).lower() or "anchor" in _message(response).lower()
    assert len(response.content) < 10_000


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("replicas: 1\nreplicas: 2\n", ("duplicate", "replicas")),
        ("x: &x 1\n", ("anchor",)),
        ("labels:" + " {a:" * 200 + " 1" + "}" * 200 + "\n", ("nested",)),
        ("env: {A: '" + "x" * 300_000 + "'}\n", ("kib",)),
    ],
    ids=["duplicate-key", "anchor", "deep", "large"],
)
def test_yaml_config_limits_answer_400_naming_the_problem(admin_api, deployment, text, words):
    response = _save_config(admin_api, deployment, text)
    assert response.status_code == 400
    message = _message(response).lower()
    assert all(word in message for word in words), message


@pytest.mark.parametrize("depth", [33, 5_000, 30_000])
def test_deep_json_config_text_is_refused(admin_api, deployment, depth):
    text = '{"labels": {"a": ' + "[" * depth + "]" * depth + "}}"
    response = _save_config(admin_api, deployment, text, "json")
    assert response.status_code == 400
    assert "nested" in _message(response).lower()


@pytest.mark.parametrize("memory", ["9" * 400 + "g", "1e400", 2**70])
def test_an_endless_memory_size_is_a_400_naming_memory(admin_api, deployment, memory):
    url = reverse("service-configs", args=[deployment.service.pk])
    body = {"environment": "ops", "document": {"memory": memory}}
    response = admin_api.post(url, body, format="json")
    assert response.status_code == 400, response.content
    assert "memory" in response.json()


def test_a_plain_yaml_config_is_still_saved(admin_api, deployment):
    response = _save_config(admin_api, deployment, "replicas: 2\nenv: {A: b}\n")
    assert response.status_code == 201, response.content
    assert response.json()["document"]["replicas"] == 2


# --- 2. JSON bodies: bounded depth, everywhere, even anonymously -----------------------


def test_deeply_nested_json_is_a_400_on_the_anonymous_token_endpoint(db):
    body = "[" * 50_000 + "]" * 50_000
    response = _raw(APIClient(), "post", reverse("api-token"), body)
    assert response.status_code == 400
    assert "nested" in response.json()["detail"].lower()


def test_deeply_nested_json_is_a_400_on_any_endpoint(admin_api, environments):
    body = '{"name": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}"
    response = _raw(admin_api, "post", reverse("environment-list"), body)
    assert response.status_code == 400
    assert "nested" in response.json()["detail"].lower()


@pytest.mark.parametrize(("depth", "refused"), [(64, False), (65, True), (900, True)])
def test_the_json_parser_allows_64_levels(depth, refused):
    body = io.BytesIO(("[" * depth + "]" * depth).encode())
    if refused:
        with pytest.raises(ParseError, match="nested more than 64"):
            BoundedJSONParser().parse(body)
    else:
        assert BoundedJSONParser().parse(body) is not None


def test_a_body_over_the_upload_limit_is_a_413_with_a_message(admin_api, environments):
    body = json.dumps({"name": "x" * 3_000_000})
    response = _raw(admin_api, "post", reverse("environment-list"), body)
    assert response.status_code == 413
    assert "bytes" in response.json()["detail"]


def test_a_malformed_json_body_is_a_400_with_a_message(admin_api, environments):
    response = _raw(admin_api, "post", reverse("environment-list"), b"\xff{not json")
    assert response.status_code == 400
    assert response.json()["detail"]


# --- 3. Pagination: a maximum page size; limit and offset are checked ------------------

LIST_ROUTES = sorted(f"{basename}-list" for _, _, basename in router.registry)


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_every_list_caps_the_page_and_checks_limit_and_offset(admin_api, deployment, route):
    url = reverse(route)
    huge = admin_api.get(url, {"limit": "99999999999999999999"})
    assert huge.status_code == 200, huge.content
    assert len(huge.json()["results"]) <= 500
    far = admin_api.get(url, {"offset": "99999999999999999999"})
    assert far.status_code == 200, far.content
    assert far.json()["results"] == []
    for param, value in [
        ("limit", "abc"),
        ("limit", "-1"),
        ("limit", "0"),
        ("limit", "²"),
        ("limit", "9" * 5000),
        ("offset", "-1"),
        ("offset", "1.5"),
        ("offset", "²"),
    ]:
        response = admin_api.get(url, {param: value})
        if param == "limit" and value == "9" * 5000:
            assert response.status_code == 200  # clamped like any large limit
            continue
        assert response.status_code == 400, (param, value, response.content)
        assert "whole number" in response.json()[param][0]


def test_the_largest_page_is_500_and_the_next_link_goes_on(admin_api, admin_user):
    AuditEvent.objects.bulk_create(
        AuditEvent(action="test.bulk", actor=admin_user, actor_name=f"n{n}") for n in range(520)
    )
    response = admin_api.get(reverse("audit-event-list"), {"limit": "100000"})
    assert response.status_code == 200
    page = response.json()
    assert page["count"] >= 520
    assert len(page["results"]) == 500
    assert "limit=500" in page["next"] and "offset=500" in page["next"]


# --- 4. Ids in query strings: ASCII digits only ----------------------------------------


@pytest.mark.parametrize("value", ["²", "٣", "1²", "99999999999999999999999", "-1", "x"])
@pytest.mark.parametrize("route", ["audit-event-list", "grant-list"])
def test_an_id_filter_that_is_not_an_id_is_a_400(admin_api, environments, route, value):
    response = admin_api.get(reverse(route), {"environment": value})
    assert response.status_code == 400, response.content
    assert "environment" in _message(response)


def test_an_id_filter_still_filters(admin_api, environments):
    ops = environments["ops"].pk
    response = admin_api.get(reverse("grant-list"), {"environment": str(ops)})
    assert response.status_code == 200
    assert {row["environment"] for row in response.json()["results"]} <= {ops}


def test_pages_ignore_an_id_filter_that_is_not_an_id(client, admin_user, deployment):
    client.force_login(admin_user)
    assert client.get(reverse("audit-log"), {"environment": "²"}).status_code == 200
    service = reverse("page-service", args=[deployment.service.name])
    assert client.get(service, {"env": "ops", "rev": "²"}).status_code == 200
    export = reverse("page-service-config-json", args=[deployment.service.name, "ops"])
    assert client.get(export, {"revision": "²"}).status_code == 404
    assert client.get(export, {"revision": "9" * 30}).status_code == 404


def test_the_audit_action_filter_refuses_nul_and_very_long_text(admin_api, environments):
    url = reverse("audit-event-list")
    for value, named in (("deploy\x00", "NUL"), ("x" * 201, "action")):
        response = admin_api.get(url, {"action": value})
        assert response.status_code == 400
        assert named in str(response.json())
    assert admin_api.get(url, {"action": "environment.create"}).status_code == 200


# --- 5. Log times at the calendar's ends ------------------------------------------------

EDGE_TIMES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:30:00-01:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59.999999999Z",
    "0000-00-00T00:00:00.000000000Z",
    "9999-99-99T99:99:99.000000000Z",
    "1969-12-31T23:59:59.000000000Z",
    "2024-13-45T10:00:00Z",
    "2024-01-01T10:00:00+99:99",
    "999999999999",
    "999999999999.999999999",
    "0",
    "-1",
    "1e30",
    "inf",
    "nan",
    "²",
    "",
    " ",
    "x" * 10_000,
]


def _valid_ts(ts: str) -> bool:
    return (
        len(ts) == 30
        and "1970-01-01T00:00:00.000000000Z" <= ts <= "9999-12-31T23:59:59.999999999Z"
        and ts_seconds(ts) >= 0
    )


@pytest.mark.parametrize("value", EDGE_TIMES)
def test_log_times_are_normalized_into_range_or_refused_with_a_message(value):
    try:
        ts = normalize_ts(value)
    except ValueError as exc:
        assert str(exc)
        return
    assert _valid_ts(ts), ts
    assert docker_since(ts) > 0


def test_times_before_the_epoch_and_after_9999_are_clamped():
    assert normalize_ts("0001-01-01T00:00:00Z") == "1970-01-01T00:00:00.000000000Z"
    assert normalize_ts("9999-12-31T23:59:59-01:00") == "9999-12-31T23:59:59.999999999Z"
    assert normalize_ts("999999999999") == "9999-12-31T23:59:59.999999999Z"
    assert normalize_ts("2024-05-01T12:00:00.5+02:00") == "2024-05-01T10:00:00.500000000Z"
    with pytest.raises(ValueError, match="not a valid time"):
        normalize_ts("2024-13-45T10:00:00Z")


@pytest.mark.parametrize("value", ["0", "0.000001", "1970-01-01T00:00:00Z", "1"])
def test_since_goes_to_docker_as_a_plain_decimal(value):
    since = docker_since(normalize_ts(value))
    assert "e" not in repr(since) and since > 0


@pytest.mark.parametrize("value", EDGE_TIMES)
@pytest.mark.parametrize("name", ["since", "until"])
def test_the_download_range_refuses_or_clamps_edge_times(name, value):
    try:
        since, until, tail = parse_download_range({name: value})
    except ValueError as exc:
        assert str(exc)
        return
    ts = since or until
    assert ts == "" or _valid_ts(ts)
    if until:
        assert ts_seconds(until) + 1.0 > 0


@pytest.mark.parametrize("tail", ["²", "-1", "1e3", "9" * 5000, "x"])
def test_the_download_tail_is_refused_with_a_message(tail):
    with pytest.raises(ValueError, match="tail"):
        parse_download_range({"tail": tail})


@pytest.mark.parametrize("value", EDGE_TIMES)
def test_log_socket_options_refuse_or_clamp_edge_times(value):
    for query in (f"since={value}", f"since_stdout={value}", f"cursor=web.1/stdout,{value}"):
        try:
            options = parse_log_options(query.encode())
        except ValueError as exc:
            assert str(exc)
            continue
        assert all(_valid_ts(ts) for ts in options["cursors"].values())


@pytest.mark.parametrize("tail", ["²", "-1", "1e3", "x"])
def test_log_socket_tail_is_refused_with_a_message(tail):
    with pytest.raises(ValueError, match="tail"):
        parse_log_options(f"tail={tail}")


def test_a_log_socket_tail_past_the_most_is_the_most():
    assert parse_log_options("tail=" + "9" * 5000)["tail"] == parse_log_options("tail=all")["tail"]


# --- 6. Rollback with a body that is not an object -------------------------------------


@pytest.mark.parametrize("body", ["[]", "1", "null", '"yes"', '{"confirm": "maybe"}'])
def test_rollback_with_a_body_that_is_not_an_object_is_a_400(admin_api, deployment, body):
    url = reverse("deployment-rollback", args=[deployment.pk])
    response = _raw(admin_api, "post", url, body)
    assert response.status_code == 400, response.content
    assert response.json()


# --- 7. Deleting what is still in use: 409 naming what uses it -------------------------


def test_deleting_an_environment_in_use_is_a_409_naming_the_users(admin_api, deployment):
    response = admin_api.delete(reverse("environment-detail", args=[deployment.environment.pk]))
    assert response.status_code == 409, response.content
    detail = response.json()["detail"]
    assert f"#{deployment.pk}" in detail and "web" in detail
    assert not AuditEvent.objects.filter(action="environment.delete").exists()


def test_deleting_a_registry_in_use_is_a_409_naming_the_users(admin_api, deployment):
    response = admin_api.delete(reverse("registry-detail", args=[deployment.service.registry.pk]))
    assert response.status_code == 409, response.content
    assert "web" in response.json()["detail"]
    assert Registry.objects.filter(pk=deployment.service.registry.pk).exists()


def test_the_admin_refuses_to_delete_what_is_in_use_without_a_500(client, admin_user, deployment):
    client.force_login(admin_user)
    for model, pk in [
        ("environments_environment", deployment.environment.pk),
        ("registry_registry", deployment.service.registry.pk),
    ]:
        url = reverse(f"admin:{model}_delete", args=[pk])
        assert client.get(url).status_code == 200
        response = client.post(url, {"post": "yes"})
        assert response.status_code == 200
        assert b"cannot delete" in response.content.lower()


# --- 8. Registry URLs: http(s), a real port, no credentials -----------------------------


@pytest.mark.parametrize(
    ("url", "word"),
    [
        ("http://127.0.0.1:99999", "port"),
        ("http://127.0.0.1:0", "port"),
        ("ftp://registry.example.com", "http"),
        ("http://user:pw@registry.example.com", "password"),
        ("https://user@registry.example.com:5000", "password"),
        ("http://registry.example.com/?x=1", "query"),
    ],
)
def test_a_registry_url_that_cannot_work_is_a_400_naming_url(admin_api, url, word):
    response = admin_api.post(reverse("registry-list"), {"name": "r", "url": url}, format="json")
    assert response.status_code == 400, response.content
    assert "url" in response.json()
    assert word in json.dumps(response.json()["url"]).lower()
    assert not Registry.objects.filter(name="r").exists()


def test_a_registry_url_that_works_is_accepted(admin_api):
    for n, url in enumerate(["http://127.0.0.1:5000", "https://registry.example.com/"]):
        body = {"name": f"r{n}", "url": url}
        response = admin_api.post(reverse("registry-list"), body, format="json")
        assert response.status_code == 201, response.content


def test_changing_a_registry_url_is_checked_too(admin_api):
    registry = Registry.objects.create(name="r", url="http://127.0.0.1:5000")
    url = reverse("registry-detail", args=[registry.pk])
    response = admin_api.patch(url, {"url": "http://127.0.0.1:99999"}, format="json")
    assert response.status_code == 400
    assert "url" in response.json()


# --- 9. The registry webhook: any JSON shape, never an invalid name or digest ----------


@pytest.fixture
def hooked_registry(db) -> Registry:
    return Registry.objects.create(name="hooked", url="http://127.0.0.1:1", webhook_secret="hook")


def _push(repository="team/app", digest="sha256:" + "a" * 64, tag="v1", **target):
    return {
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "repository": repository,
            "digest": digest,
            "tag": tag,
            **target,
        },
        "request": {"useragent": "docker/27"},
    }


WEBHOOK_BODIES = {
    "list": [],
    "string": "events",
    "number": 1,
    "null": None,
    "events-string": {"events": "x"},
    "events-object": {"events": {"a": 1}},
    "events-null": {"events": None},
    "non-object-events": {"events": [1, "x", None, [], True]},
    "dotdot": {"events": [_push(repository="../x", digest="sha256:zz")]},
    "bad-digest": {"events": [_push(digest="sha256:zz")]},
    "newline-repository": {"events": [_push(repository="team/app\n")]},
    "newline-digest": {"events": [_push(digest="sha256:" + "a" * 64 + "\n")]},
    "newline-tag": {"events": [_push(tag="v1\n")]},
    "list-tag": {"events": [_push(tag=["v1"])]},
    "object-target": {"events": [{"action": "push", "target": "x", "request": 1}]},
    "list-media-type": {"events": [_push(mediaType=["x"])]},
    "many": {"events": [{"action": "pull"}] * 100_000},
    "deep-values": {"events": [_push(repository=json.loads("[" * 500 + "]" * 500))]},
    "deep-useragent": {
        "events": [
            {
                **_push(repository="../x"),
                "request": {"useragent": json.loads("[" * 500 + "]" * 500)},
            }
        ]
    },
}


@pytest.mark.parametrize("name", list(WEBHOOK_BODIES))
def test_the_webhook_takes_any_json_and_records_nothing_invalid(client, hooked_registry, name):
    url = reverse("registry-notification", args=[hooked_registry.pk])
    started = time.monotonic()
    response = client.post(
        url,
        json.dumps(WEBHOOK_BODIES[name]),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer hook",
    )
    assert response.status_code < 500
    assert 200 <= response.status_code < 500 and response.json()
    assert time.monotonic() - started < 5
    assert not Repository.objects.exists()
    assert not Tag.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 50_000 + b"]" * 50_000,
        b'{"events": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        b"\xff\xfe",
        b"",
        b"{" * 3_000_000,
    ],
    ids=["deep", "deep-events", "not-utf8", "empty", "too-large"],
)
def test_the_webhook_refuses_malformed_bodies_with_a_4xx(client, hooked_registry, body):
    url = reverse("registry-notification", args=[hooked_registry.pk])
    response = client.post(
        url, body, content_type="application/json", HTTP_AUTHORIZATION="Bearer hook"
    )
    assert response.status_code == (413 if len(body) > 2_621_440 else 400) or not body
    assert response.json()["detail"]
    assert not Repository.objects.exists()


def test_the_webhook_still_records_a_valid_push(client, hooked_registry):
    url = reverse("registry-notification", args=[hooked_registry.pk])
    response = client.post(
        url,
        json.dumps({"events": [_push()]}),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer hook",
    )
    assert response.status_code == 200
    assert response.json() == {"recorded": 1}
    assert Tag.objects.get().name == "v1"


@pytest.mark.parametrize(
    "url", ["/api/deployments/?service=%00", "/api/images/?repository=a%00b", "/services/?x=%00"]
)
def test_a_nul_character_in_the_address_is_a_400(api_for, url):
    response = api_for("developer").get(url)
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


@pytest.mark.parametrize(
    "body",
    [
        {"service": "web\u0000", "environment": "dev", "digest": "sha256:" + "a" * 64},
        {"service": "web", "environment": "dev", "digest": "sha256:" + "a" * 64, "x\u0000": 1},
        {"service": ["web", {"deep": "a\u0000"}]},
    ],
)
def test_a_nul_character_in_a_json_body_is_a_400(api_for, body):
    response = api_for("developer").post(reverse("deployment-list"), body, format="json")
    assert response.status_code == 400
    assert "NUL" in str(response.data)


def test_a_lone_surrogate_in_a_json_body_is_a_400(api_for):
    """``"\\ud800"`` is valid JSON but no text: SQLite cannot encode it, PostgreSQL's
    json refuses it."""
    response = api_for("developer").post(
        reverse("deployment-list"), '{"service": "web\\ud800", "environment": "dev"}',
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert "surrogate" in str(response.data)


@pytest.mark.parametrize(("escape", "named"), [("\\0", "NUL"), ("\\ud800", "surrogate")])
def test_a_yaml_escape_of_what_no_database_stores_is_refused(escape, named):
    """YAML's double-quoted escapes write NUL and lone surrogates past the JSON parser's
    check: the document loader refuses them, for service configs and pipelines alike."""
    from environments.deploying import config

    with pytest.raises(ValidationError) as refused:
        config.load(f'env: {{A: "x{escape}y"}}\n', "yaml")
    assert named in str(refused.value)


@pytest.mark.parametrize(
    ("query", "field"),
    [("pipeline=99999999999999999999999", "pipeline"), ("pipeline=%C2%B2", "pipeline"),
     ("status=bogus", "status")],
)  # fmt: skip
def test_pipeline_run_filters_out_of_range_or_unknown_are_a_400(api_for, query, field):
    response = api_for("developer").get(f"/api/pipeline-runs/?{query}")
    assert response.status_code == 400
    assert field in response.json()


def _digits(number: int, zero: str) -> str:
    return "".join(chr(ord(zero) + int(d)) for d in str(number))


@pytest.mark.parametrize(
    "write",
    [
        lambda pk: f"{pk} ", lambda pk: f" {pk}", lambda pk: f"+{pk}", lambda pk: f"\t{pk}",
        lambda pk: _digits(pk, "\uff10"), lambda pk: _digits(pk, "\u0660"), lambda pk: f"{pk}.0",
    ],
    ids=["space-after", "space-before", "plus", "tab", "full-width", "arabic-indic", "decimal"],
)  # fmt: skip
def test_an_object_url_takes_ascii_digits_only(admin_api, admin_user, environments, write):
    """``/api/environments/1 /`` (or ``+1``, a full-width or Arabic-Indic one) is no
    object's URL: the lookup would read it as 1, and a sloppy DELETE would act on it."""
    from urllib.parse import quote

    from environments.models import Environment
    from portal.core.tokens import create_token

    environment = environments["dev"]
    path = f"/api/environments/{quote(write(environment.pk))}/"
    assert admin_api.get(path).status_code == 404
    assert admin_api.delete(path).status_code == 404
    assert Environment.objects.filter(pk=environment.pk).exists()
    token = create_token(admin_user, "laptop")[0]
    assert admin_api.delete(f"/api/tokens/{quote(write(token.pk))}/").status_code == 404
    registry = Registry.objects.create(name="r", url="http://127.0.0.1:5000")
    assert admin_api.get(f"/api/registries/{quote(write(registry.pk))}/").status_code == 404
    assert admin_api.get(f"/api/registries/{registry.pk}/").status_code == 200
