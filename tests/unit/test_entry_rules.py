"""Parsing and matching of the ports and host names an environment reserves for its
entry points (environments.entry_rules: pure functions)."""

import pytest

from environments.entry_rules import (
    closeness,
    host_owner,
    in_ranges,
    overlap,
    parse_host_patterns,
    parse_ports,
)


def test_ports_and_ranges_are_parsed_sorted():
    assert parse_ports("443, 80 ,18000-18999,") == [(80, 80), (443, 443), (18000, 18999)]
    assert parse_ports("") == []
    assert in_ranges(18500, parse_ports("18000-18999")) and not in_ranges(19000, [(18000, 18999)])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("http", "is not a port"),
        ("80-", "is not a port"),
        ("-80", "is not a port"),
        ("1e3", "is not a port"),
        ("²", "is not a port"),
        ("0", "from 1 to 65535"),
        ("70000", "from 1 to 65535"),
        ("9000-8000", "the lower one first"),
        ("8000-8100, 8050", "overlap"),
        (",".join(str(p) for p in range(1000, 1060)), "At most 50"),
        ("9" * 100_000, "is not a port"),
    ],
)
def test_a_bad_port_list_names_its_part(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_ports(text)


def test_overlap_finds_the_shared_ports():
    assert overlap([(80, 80), (8000, 8100)], [(8050, 9000)]) == (8050, 8100)
    assert overlap([(80, 80)], [(81, 443)]) is None


def test_host_patterns_are_names_or_wildcards_lower_cased():
    assert parse_host_patterns(["Shop.Example.com", "*.example.com", "shop.example.com"]) == [
        "shop.example.com",
        "*.example.com",
    ]
    assert parse_host_patterns([]) == [] and parse_host_patterns(None) == []
    for bad in (["*"], ["http://x"], ["a..b"], ["*.*.x"], "shop.example.com", [1], ["x" * 300]):
        with pytest.raises(ValueError):
            parse_host_patterns(bad)


def test_the_closest_pattern_owns_a_host_name():
    reservations = [("ops", ["*.example.com"]), ("test", ["*.test.example.com", "qa.example.com"])]
    assert host_owner("shop.example.com", reservations) == "ops"
    assert host_owner("shop.test.example.com", reservations) == "test"
    assert host_owner("qa.example.com", reservations) == "test"  # exact beats a wildcard
    assert host_owner("example.com", reservations) is None  # a wildcard names what is under it
    assert host_owner("shop.example.org", reservations) is None
    assert closeness("a.b.example.com", "*.example.com") == len(".example.com")
