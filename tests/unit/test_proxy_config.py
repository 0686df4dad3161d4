"""The HAProxy configuration rendered from plain descriptions (a pure function)."""

from pathlib import Path

import pytest

from environments.proxy import Backend, Frontend, Server, backend_name, render

RUN = Path("/run/berth-proxy")


def test_a_frontend_routes_by_host_name_and_defaults_to_the_entry_point_without_one():
    shop, web = backend_name("dev", "shop"), backend_name("dev", "web")
    text = render(
        [Frontend(8080, {"shop.example.com": shop, "": web})],
        [Backend(shop), Backend(web)],
        run_dir=RUN,
    )
    assert "frontend fe_8080\n    bind 127.0.0.1:8080" in text
    assert "acl host_0 req.hdr(host),lower,field(1,:) -m str shop.example.com" in text
    assert "use_backend be_dev.shop if host_0" in text
    assert "default_backend be_dev.web" in text
    assert f"stats socket {RUN / 'admin.sock'} mode 600 level admin" in text


def test_servers_keep_their_state_and_weight_and_checks_follow_the_health_check():
    backend = Backend(
        "be_dev.web",
        servers=(Server("d2-s1", 20100), Server("d1-s1", 20000, state="drain"),
                 Server("d0-s1", 20001, state="maint", weight=5)),
        http_path="/health", interval=0.5, fall=2,
    )  # fmt: skip
    text = render([], [backend], run_dir=RUN)
    assert "option httpchk GET /health" in text
    assert "server d2-s1 127.0.0.1:20100 weight 100 check inter 500ms fall 2 rise 1" in text
    assert "server d1-s1 127.0.0.1:20000 weight 0 check" in text
    assert "server d0-s1 127.0.0.1:20001 weight 5 check inter 500ms fall 2 rise 1 disabled" in text


def test_the_same_records_render_the_same_text():
    backend = Backend("be_dev.web", servers=(Server("b", 2), Server("a", 1)))
    assert render([Frontend(1, {"": "be_dev.web"})], [backend], run_dir=RUN) == render(
        [Frontend(1, {"": "be_dev.web"})],
        [Backend("be_dev.web", servers=(Server("a", 1), Server("b", 2)))],
        run_dir=RUN,
    )


@pytest.mark.parametrize(
    ("frontends", "backends", "problem"),
    [
        ([Frontend(80, {"x.example": "be_missing"})], [], "unknown be_missing"),
        ([], [Backend("be", http_path="/a b")], "Path '/a b'"),
        ([], [Backend("be", servers=(Server("s", 1, state="up"),))], "Unknown server state"),
    ],
)
def test_what_haproxy_would_misread_is_refused(frontends, backends, problem):
    with pytest.raises(ValueError, match=problem):
        render(frontends, backends, run_dir=RUN)


def test_backend_names_are_safe_for_haproxy():
    assert backend_name("dev", "web") == "be_dev.web"
    assert backend_name("dev", "a b/c") == "be_dev.a_b_c"


def test_the_part_for_an_external_haproxy_leaves_its_global_section_to_its_owner():
    backend = Backend("be_dev.web", (Server("d1-s1", 18001),))
    full = render([Frontend(8080, {"": "be_dev.web"})], [backend], run_dir=RUN)
    part = render([Frontend(8080, {"": "be_dev.web"})], [backend], run_dir=RUN, with_global=False)
    assert "global" in full.split("\n") and "global" not in part.split("\n")
    assert "stats socket" not in part and "pidfile" not in part
    assert part.split("defaults", 1)[1] == full.split("defaults", 1)[1]  # the rest alike
