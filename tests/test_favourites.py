"""Favourites: a person stars environments and services they can see, and the dashboard
shows those first. Hidden objects cannot be starred (404, as a missing one), another
person's stars are not theirs to see or remove, and a star whose object became hidden is
no longer shown."""

import pytest
from django.urls import reverse

from environments import actions
from environments.models import Favourite, RoleGrant, Service, ServiceConfig
from portal.core.errors import NotFound
from registry.models import Registry

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(admin_user, environments):
    """Service "shop", configured in Dev only."""
    registry = Registry.objects.create(name="local", url="http://127.0.0.1:5000")
    service = Service.objects.create(name="shop", registry=registry, repository="team/shop")
    ServiceConfig.objects.create(
        service=service, environment=environments["dev"], revision=1, document={"replicas": 1}
    )
    return service


def _dashboard(client, user, query: str = "") -> str:
    client.force_login(user)
    return client.get(reverse("dashboard") + query).content.decode()


def test_a_starred_environment_and_service_come_first_on_the_dashboard(client, personas, shop):
    developer = personas["developer"]
    actions.star(developer, environment="test")
    actions.star(developer, service="shop")
    page = _dashboard(client, developer)
    favourites = page.index("Your favourites")
    assert favourites < page.index(">Test</a>") < page.index(">Dev</a>")
    assert page.index('href="/services/shop/"') > favourites
    assert 'aria-label="Remove Test from your favourites"' in page
    assert 'aria-label="Add Dev to your favourites"' in page
    # Test is shown once, among the favourites, not again in its tier.
    assert page.count('data-environment="') == 2
    # Searching lists every match, starred or not, without the favourites block.
    searched = _dashboard(client, developer, "?q=e")
    assert "Your favourites" not in searched and ">Test</a>" in searched


def test_a_hidden_environment_or_service_cannot_be_starred(personas, environments, shop):
    with pytest.raises(NotFound):
        actions.star(personas["developer"], environment="ops")
    with pytest.raises(NotFound):
        actions.star(personas["stranger"], service="shop")
    with pytest.raises(NotFound):
        actions.star(personas["developer"], environment="no-such-environment")
    assert not Favourite.objects.exists()


def test_starring_twice_keeps_one_star_and_unstarring_anothers_is_refused(personas, shop):
    first = actions.star(personas["developer"], service="shop")
    assert actions.star(personas["developer"], service="shop") == first
    with pytest.raises(NotFound):
        actions.unstar(personas["tester"], first.pk)
    actions.unstar(personas["developer"], first.pk)
    assert not Favourite.objects.exists()


def test_a_star_whose_object_became_hidden_is_not_shown(client, personas, environments):
    tester = personas["tester"]
    actions.star(tester, environment="ops")
    assert "Your favourites" in _dashboard(client, tester)
    RoleGrant.objects.filter(environment=environments["ops"]).delete()
    tester.groups.clear()
    assert actions.favourites_of(tester) == ([], [])
    assert "Your favourites" not in _dashboard(client, tester)


def test_the_api_lists_only_ones_own_visible_stars(api_for, personas, shop):
    actions.star(personas["tester"], environment="ops")
    actions.star(personas["developer"], service="shop")
    answer = api_for("developer").get(reverse("favourite-list"))
    assert answer.status_code == 200
    assert [(f["environment"], f["service"]) for f in answer.json()["results"]] == [(None, "shop")]
    assert Service.objects.get(name="shop").pk == shop.pk


def test_the_dashboard_shows_a_bounded_number_of_favourites_earliest_first(personas):
    tester = personas["tester"]
    for slug in ("ops", "dev", "test"):
        actions.star(tester, environment=slug)
    environments, _ = actions.favourites_of(tester, limit=2)
    assert [e.slug for e in environments] == ["ops", "dev"]
