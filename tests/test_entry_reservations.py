"""Entry-point reservations: an administrator reserves ports and host names for one
environment's entry points (``entry_ports``, ``entry_hosts``), so Dev cannot claim first
what production wants; the owner is named only to someone who may see it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from environments import actions
from environments.models import EntryPoint, Environment, Service
from registry.models import Registry
from tests import stack


@pytest.fixture
def service(db):
    registry = Registry.objects.create(name="local", url="http://127.0.0.1:5000")
    return Service.objects.create(name="shop", registry=registry, repository="demo/app")


def _config(*entries) -> dict:
    return {"port": stack.free_port_base(), "entry_points": list(entries)}


def _refusal(user, service, environment, document) -> str:
    with pytest.raises(ValidationError) as refused:
        actions.save_config(user, service, environment, document)
    assert not EntryPoint.objects.filter(service=service, environment=environment).exists()
    return " ".join(f"{k}: {' '.join(v)}" for k, v in refused.value.message_dict.items())


def test_a_port_and_a_host_name_production_reserves_are_refused_elsewhere_unnamed(
    environments, personas, admin_user, service
):
    public = stack.free_port()
    actions.update_environment(
        admin_user, environments["ops"], entry_ports=f"{public}", entry_hosts=["*.Example.com"]
    )
    ops = environments["ops"]
    ops.refresh_from_db()
    assert ops.entry_hosts == ["*.example.com"]
    message = _refusal(
        personas["developer"], service, environments["dev"], _config({"port": public})
    )
    assert f"entry_points.0: Port {public} is reserved for the entry points of another environment." in message  # fmt: skip
    assert "Ops" not in message
    message = _refusal(
        personas["developer"], service, environments["dev"],
        _config({"port": stack.free_port(), "host": "shop.example.com"}),
    )  # fmt: skip
    assert "The host name shop.example.com is reserved for the entry points of another environment." in message  # fmt: skip
    # Someone who may see Ops is told which environment holds it.
    message = _refusal(admin_user, service, environments["test"], _config({"port": public}))
    assert f"Port {public} is reserved for the entry points of Ops." in message
    # Ops itself takes them.
    actions.save_config(
        personas["operator"], service, ops,
        _config({"port": public}, {"port": public, "host": "shop.example.com"}),
    )  # fmt: skip
    assert EntryPoint.objects.filter(environment=ops).count() == 2


def test_an_environment_with_reservations_uses_only_its_own(
    environments, personas, admin_user, service
):
    low = stack.free_port()
    actions.update_environment(
        admin_user, environments["test"], entry_ports=f"{low}-{low}, 1000-1001",
        entry_hosts=["*.test.example.com"],
    )  # fmt: skip
    actions.update_environment(admin_user, environments["ops"], entry_hosts=["*.example.com"])
    test = environments["test"]
    test.refresh_from_db()
    elsewhere = stack.free_port()
    message = _refusal(personas["tester"], service, test, _config({"port": elsewhere}))
    assert f"Port {elsewhere} is not among Test's entry ports (1000-1001, {low}): choose one of them." in message  # fmt: skip
    message = _refusal(
        personas["tester"], service, test, _config({"port": low, "host": "shop.example.org"})
    )
    assert "shop.example.org is not among Test's entry host names (*.test.example.com)" in message
    # The closest reservation owns a name: Test's *.test.example.com inside Ops' *.example.com.
    actions.save_config(
        personas["tester"], service, test, _config({"port": low, "host": "shop.test.example.com"})
    )
    message = _refusal(
        personas["developer"], service, environments["dev"],
        _config({"port": stack.free_port(), "host": "api.test.example.com"}),
    )  # fmt: skip
    assert "api.test.example.com is reserved for the entry points of Test." in message


def test_a_reservation_cannot_break_what_is_claimed_or_what_another_holds(
    environments, personas, admin_user, service
):
    taken = stack.free_port()
    actions.save_config(
        personas["developer"], service, environments["dev"],
        _config({"port": taken, "host": "shop.example.com"}),
    )  # fmt: skip
    ops = environments["ops"]
    with pytest.raises(ValidationError) as refused:
        actions.update_environment(admin_user, ops, entry_ports=f"{taken - 1}-{taken + 1}")
    assert f"Port {taken} is an entry point of shop in Dev: move it first" in str(refused.value)
    with pytest.raises(ValidationError) as refused:
        actions.update_environment(admin_user, ops, entry_hosts=["*.example.com"])
    assert "shop.example.com is an entry point of shop in Dev: move it first" in str(refused.value)
    with pytest.raises(ValidationError) as refused:  # Dev's own entry point would fall outside
        actions.update_environment(admin_user, environments["dev"], entry_ports="1000-1001")
    assert f"Port {taken} is an entry point of shop in Dev: keep it among these ports" in str(
        refused.value
    )
    actions.update_environment(admin_user, ops, entry_ports="1000-1010")
    with pytest.raises(ValidationError) as refused:
        actions.update_environment(admin_user, environments["test"], entry_ports="1005-1020")
    assert "1005-1010 is reserved for Ops already." in str(refused.value)
    ops.refresh_from_db()
    assert ops.entry_ports == "1000-1010" and ops.entry_hosts == []


def test_clearing_a_reservation_cannot_hand_its_entry_points_to_another(
    environments, personas, admin_user, service
):
    """Dev's a.dev.example.com sits under Ops' *.example.com too: clearing Dev's
    *.dev.example.com would give it to Ops, so it is refused, naming the entry point."""
    actions.update_environment(admin_user, environments["ops"], entry_hosts=["*.example.com"])
    dev = actions.update_environment(
        admin_user, environments["dev"], entry_hosts=["*.dev.example.com"]
    )
    actions.save_config(
        personas["developer"], service, dev,
        _config({"port": stack.free_port(), "host": "a.dev.example.com"}),
    )  # fmt: skip
    for hosts in ([], ["*.other.example.com"]):
        with pytest.raises(ValidationError) as refused:
            actions.update_environment(admin_user, dev, entry_hosts=hosts)
        assert refused.value.message_dict["entry_hosts"] == [
            "a.dev.example.com is an entry point of shop in Dev: keep a name that matches it, "
            "or move it first."
        ]
    assert Environment.objects.get(pk=dev.pk).entry_hosts == ["*.dev.example.com"]
    # The exact name, Dev's own, still holds it.
    actions.update_environment(admin_user, dev, entry_hosts=["a.dev.example.com"])


def test_what_was_accepted_before_does_not_stop_a_manager_s_edit(
    environments, personas, admin_user, service
):
    """Reservations are checked when they change: a manager renaming Dev, or changing its
    description, is never refused for them (nor told of an environment out of sight)."""
    port = stack.free_port()
    actions.save_config(
        personas["developer"], service, environments["dev"],
        _config({"port": port, "host": "shop.example.com"}),
    )  # fmt: skip
    # A reservation made before the checks existed, now over Dev's entry point.
    Environment.objects.filter(pk=environments["ops"].pk).update(
        entry_ports=f"{port}", entry_hosts=["*.example.com"]
    )
    actions.grant_role(admin_user, environments["dev"], role="admin", to_user=personas["developer"])
    dev = actions.update_environment(
        personas["developer"], environments["dev"], description="Shop team", name="Dev"
    )
    assert dev.description == "Shop team"
    ops = Environment.objects.get(pk=environments["ops"].pk)
    actions.update_environment(admin_user, ops, description="Production")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("entry_ports", "80-", "is not a port or a range"),
        ("entry_ports", "9" * 1000, "no more than 400 characters"),
        ("entry_hosts", ["http://x"], "is not a host name"),
        ("entry_hosts", "x.example.com", "Give a list"),
        ("entry_hosts", {"a": {"b": []}}, "Give a list"),
    ],
)
def test_the_api_refuses_a_bad_reservation_with_its_field(
    environments, admin_user, api_for, field, value, problem
):
    client = api_for("developer")
    client.force_authenticate(admin_user)
    answer = client.patch(
        f"/api/environments/{environments['ops'].pk}/", {field: value}, format="json"
    )
    assert answer.status_code == 400, answer.content
    assert problem in str(answer.json()[field])


def test_only_administrators_reserve_and_the_api_gives_the_plain_form(
    environments, personas, admin_user, api_for
):
    ops = environments["ops"]
    answer = api_for("operator").patch(
        f"/api/environments/{ops.pk}/", {"entry_ports": "80"}, format="json"
    )
    assert answer.status_code == 403, answer.content
    client = api_for("developer")
    client.force_authenticate(admin_user)
    answer = client.patch(
        f"/api/environments/{ops.pk}/",
        {"entry_ports": " 443,80 , 8000-8010", "entry_hosts": ["Shop.Example.com"]},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["entry_ports"] == "80, 443, 8000-8010"
    assert answer.json()["entry_hosts"] == ["shop.example.com"]


def test_the_environment_page_says_what_it_reserves(environments, admin_user, client):
    actions.update_environment(
        admin_user, environments["ops"], entry_ports="80, 443", entry_hosts=["*.example.com"]
    )
    client.force_login(admin_user)
    page = client.get("/environments/ops/").content.decode()
    assert (
        "Entry points: ports <code>80, 443</code> and host names <code>*.example.com</code> "
        "are reserved for Ops: its entry points use only these." in page
    )
    assert "data-entry-policy" not in client.get("/environments/dev/").content.decode()


def test_replicas_never_bind_a_port_reserved_for_entry_points(
    environments, personas, admin_user, service
):
    """Else Dev's replicas would hold production's port first, and Ops' proxy could
    not listen on it."""
    base = stack.free_port_base()
    actions.update_environment(
        admin_user, environments["ops"], entry_ports=f"{base + 1}-{base + 2}"
    )
    document = {"port": base, "replicas": 2}
    with pytest.raises(ValidationError) as refused:
        actions.save_config(personas["developer"], service, environments["dev"], document)
    assert refused.value.message_dict["port"] == [
        f"Port {base + 1} is reserved for the entry points of another environment: "
        "replicas bind other ports."
    ]
    with pytest.raises(ValidationError) as refused:  # its own environment's too
        actions.save_config(personas["operator"], service, environments["ops"], dict(document, replicas=3))  # fmt: skip
    assert refused.value.message_dict["port"] == [
        f"Ports {base + 1}, {base + 2} are reserved for the entry points of Ops: "
        "replicas bind other ports."
    ]
    health = {"command": ["true"]}
    saved = actions.save_config(
        personas["developer"], service, environments["dev"],
        {"port": base + 3, "replicas": 2, "health_check": health},
    )  # fmt: skip
    assert saved.revision == 1


def test_reserving_a_port_replicas_bind_is_refused_and_so_is_their_next_deployment(
    environments, personas, admin_user, service
):
    """The administrator is told which replicas bind a port before reserving it; a
    reservation that got there anyway (set before this check, or in the database) stops
    their next deploy (or rollback) before anything starts, naming the port."""
    base = stack.free_port_base()
    actions.save_config(personas["developer"], service, environments["dev"], {"port": base})
    with pytest.raises(ValidationError) as refused:
        actions.update_environment(
            admin_user, environments["ops"], entry_ports=f"{base - 5}-{base}"
        )
    assert refused.value.message_dict["entry_ports"] == [
        f"Port {base} is bound by the replicas of shop in Dev: give them other ports first, "
        "or reserve other ports."
    ]
    ops = Environment.objects.get(pk=environments["ops"].pk)
    assert ops.entry_ports == ""
    # Ports reserved already stay reservable: only the new ones are checked.
    Environment.objects.filter(pk=ops.pk).update(entry_ports=f"{base}")
    actions.update_environment(admin_user, ops, entry_ports=f"{base}, {base + 500}")
    with pytest.raises(ValidationError) as refused:
        actions.deploy(
            service, environments["dev"], "sha256:" + "a" * 64, user=personas["developer"]
        )
    assert f"Port {base} is reserved for the entry points of another environment" in str(
        refused.value
    )


def _at_once(*calls, meet: list) -> list:
    """Run ``calls`` in threads at the same time; each waits (at most two seconds) at a
    barrier put in the checks named by ``meet`` (object, attribute), so that without a
    lock both would read the other's old state. Returns each call's result or error."""
    import contextlib
    import threading

    from django.db import connection

    barrier = threading.Barrier(len(calls))
    originals = [(owner, name, getattr(owner, name)) for owner, name in meet]

    def waiting(original):
        def check(*args, **kwargs):
            # The other one may wait for a lock instead: then this goes on alone.
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=2)
            return original(*args, **kwargs)

        return check

    for owner, name, original in originals:
        setattr(owner, name, waiting(original))
    outcomes: list = [None] * len(calls)

    def run(index, call):
        try:
            outcomes[index] = call()
        except Exception as exc:  # noqa: BLE001 - returned to the test
            outcomes[index] = exc
        finally:
            connection.close()

    try:
        threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_two_administrators_reserving_one_port_at_once_cannot_both_win(environments, admin_user):
    port = stack.free_port()
    outcomes = _at_once(
        lambda: actions.update_environment(admin_user, environments["ops"], entry_ports=f"{port}"),
        lambda: actions.update_environment(admin_user, environments["dev"], entry_ports=f"{port}"),
        meet=[(Environment, "_clean_entry_policy")],
    )
    refused = [o for o in outcomes if isinstance(o, ValidationError)]
    assert len(refused) == 1, outcomes
    assert f"Port {port} is reserved for" in str(refused[0].message_dict["entry_ports"])
    holders = Environment.objects.filter(entry_ports=f"{port}").values_list("slug", flat=True)
    assert len(holders) == 1


@pytest.mark.django_db(transaction=True)
def test_an_entry_point_and_a_reservation_of_its_port_at_once_cannot_both_pass(
    environments, personas, admin_user, service
):
    from environments.deploying import policy

    port = stack.free_port()
    outcomes = _at_once(
        lambda: actions.update_environment(admin_user, environments["ops"], entry_ports=f"{port}"),
        lambda: actions.save_config(
            personas["developer"], service, environments["dev"], _config({"port": port})
        ),
        meet=[(Environment, "_clean_entry_policy"), (policy, "check_entry_reservations")],
    )
    refused = [o for o in outcomes if isinstance(o, ValidationError)]
    assert len(refused) == 1, outcomes
    reserved = Environment.objects.get(pk=environments["ops"].pk).entry_ports == f"{port}"
    claimed = EntryPoint.objects.filter(port=port, environment=environments["dev"]).exists()
    assert reserved != claimed
