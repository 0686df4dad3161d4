"""The arithmetic of live container stats, on Docker stats samples recorded from real
engines (trimmed to the fields that matter): cgroup v1 from Docker 20.10, cgroup v2 and a
bridge-networked container from Docker 24."""

from __future__ import annotations

import copy

import pytest

from environments.live.stats import stats_message

# Two consecutive samples of `sh -c 'while :; do :; done'` with a 64 MiB limit (cgroup v1).
V1_FIRST = {
    "read": "2026-11-23T19:05:13.032301293Z",
    "preread": "0001-01-01T00:00:00Z",
    "pids_stats": {"current": 1},
    "blkio_stats": {"io_service_bytes_recursive": []},
    "cpu_stats": {
        "cpu_usage": {"total_usage": 39682295, "percpu_usage": [39614254, 196032]},
        "system_cpu_usage": 1799980000000,
        "online_cpus": 2,
    },
    "precpu_stats": {"cpu_usage": {"total_usage": 0}},
    "memory_stats": {
        "usage": 765952,
        "stats": {"cache": 131072, "inactive_file": 0, "total_inactive_file": 0, "rss": 61440},
        "limit": 67108864,
    },
}
V1_SECOND = {
    **V1_FIRST,
    "read": "2026-11-23T19:05:14.03709096Z",
    "preread": "2026-11-23T19:05:13.032301293Z",
    "cpu_stats": {
        "cpu_usage": {"total_usage": 1024425316, "percpu_usage": [1011798353, 12626963]},
        "system_cpu_usage": 1801960000000,
        "online_cpus": 2,
    },
    "precpu_stats": V1_FIRST["cpu_stats"],
}

# cgroup v2: no "cache", page cache is "inactive_file"; op names are lowercase; 4 CPUs.
V2_FIRST = {
    "read": "2024-05-01T12:00:00.000000000Z",
    "pids_stats": {"current": 7, "limit": 4915},
    "blkio_stats": {
        "io_service_bytes_recursive": [
            {"major": 8, "minor": 0, "op": "read", "value": 4096},
            {"major": 8, "minor": 0, "op": "write", "value": 8192},
        ]
    },
    "cpu_stats": {
        "cpu_usage": {"total_usage": 5_000_000_000},
        "system_cpu_usage": 100_000_000_000,
        "online_cpus": 4,
    },
    "precpu_stats": {},
    "memory_stats": {
        "usage": 50_000_000,
        "stats": {"inactive_file": 10_000_000, "active_file": 2_000_000, "anon": 30_000_000},
        "limit": 200_000_000,
    },
    "networks": {
        "eth0": {"rx_bytes": 1000, "tx_bytes": 500},
        "eth1": {"rx_bytes": 3000, "tx_bytes": 1500},
    },
}
V2_SECOND = {
    **V2_FIRST,
    "read": "2024-05-01T12:00:02.000000000Z",  # two seconds later
    "blkio_stats": {
        "io_service_bytes_recursive": [
            {"major": 8, "minor": 0, "op": "read", "value": 4096},
            {"major": 8, "minor": 16, "op": "read", "value": 1024},
            {"major": 8, "minor": 0, "op": "write", "value": 16384},
        ]
    },
    "cpu_stats": {
        "cpu_usage": {"total_usage": 6_000_000_000},
        "system_cpu_usage": 108_000_000_000,  # 8 s of host CPU time (4 CPUs x 2 s)
        "online_cpus": 4,
    },
    "networks": {
        "eth0": {"rx_bytes": 3000, "tx_bytes": 900},
        "eth1": {"rx_bytes": 5000, "tx_bytes": 1900},
    },
}

KEYS = {
    "type": str,
    "ts": str,
    "cpu_percent": float,
    "memory_bytes": int,
    "memory_limit": int,
    "memory_percent": float,
    "net_rx_bytes": int,
    "net_tx_bytes": int,
    "net_rx_rate": float,
    "net_tx_rate": float,
    "blk_read_bytes": int,
    "blk_write_bytes": int,
    "pids": int,
}


def test_message_has_exactly_the_contract_fields_and_types():
    message = stats_message(V1_FIRST, V1_SECOND)
    assert set(message) == set(KEYS)
    for key, kind in KEYS.items():
        assert type(message[key]) is kind, key
    assert message["type"] == "stats"


def test_cpu_percent_is_the_share_of_host_cpu_time_times_online_cpus_like_docker_stats():
    message = stats_message(V1_FIRST, V1_SECOND)
    expected = (1024425316 - 39682295) / (1801960000000 - 1799980000000) * 2 * 100
    assert message["cpu_percent"] == pytest.approx(expected, abs=0.001)
    assert 99 < message["cpu_percent"] < 100  # one busy shell on one of two CPUs

    assert stats_message(V2_FIRST, V2_SECOND)["cpu_percent"] == pytest.approx(50.0)


def test_cpu_percent_without_previous_sample_uses_dockers_precpu_stats():
    assert stats_message(None, V1_SECOND)["cpu_percent"] == pytest.approx(
        stats_message(V1_FIRST, V1_SECOND)["cpu_percent"]
    )
    # The first sample of a stream has no precpu system time: no figure rather than a wrong one.
    assert stats_message(None, V1_FIRST)["cpu_percent"] == 0.0


def test_cpu_percent_counts_per_cpu_entries_when_online_cpus_is_missing():
    second = copy.deepcopy(V1_SECOND)
    del second["cpu_stats"]["online_cpus"]
    assert stats_message(V1_FIRST, second)["cpu_percent"] == pytest.approx(
        stats_message(V1_FIRST, V1_SECOND)["cpu_percent"]
    )


def test_memory_on_cgroup_v1_leaves_out_the_page_cache():
    message = stats_message(V1_FIRST, V1_SECOND)
    assert message["memory_bytes"] == 765952 - 131072
    assert message["memory_limit"] == 67108864
    assert message["memory_percent"] == pytest.approx((765952 - 131072) / 67108864 * 100, abs=1e-3)


def test_memory_on_cgroup_v2_leaves_out_inactive_file():
    message = stats_message(V2_FIRST, V2_SECOND)
    assert message["memory_bytes"] == 40_000_000
    assert message["memory_limit"] == 200_000_000
    assert message["memory_percent"] == pytest.approx(20.0)


def test_memory_percent_is_zero_without_a_limit():
    second = copy.deepcopy(V2_SECOND)
    second["memory_stats"]["limit"] = 0
    assert stats_message(V2_FIRST, second)["memory_percent"] == 0.0


def test_network_totals_and_rates_are_summed_over_interfaces():
    message = stats_message(V2_FIRST, V2_SECOND)
    assert (message["net_rx_bytes"], message["net_tx_bytes"]) == (8000, 2800)
    # (8000 - 4000) / 2 s and (2800 - 2000) / 2 s
    assert (message["net_rx_rate"], message["net_tx_rate"]) == (2000.0, 400.0)


def test_network_is_zero_with_network_none():
    message = stats_message(V1_FIRST, V1_SECOND)
    assert [message[k] for k in ("net_rx_bytes", "net_tx_bytes")] == [0, 0]
    assert [message[k] for k in ("net_rx_rate", "net_tx_rate")] == [0.0, 0.0]


def test_network_rates_are_zero_without_a_previous_sample():
    message = stats_message(None, V2_SECOND)
    assert message["net_rx_bytes"] == 8000 and message["net_rx_rate"] == 0.0


def test_block_io_sums_devices_whatever_the_case_of_the_op():
    message = stats_message(V2_FIRST, V2_SECOND)
    assert (message["blk_read_bytes"], message["blk_write_bytes"]) == (5120, 16384)
    v1 = copy.deepcopy(V1_SECOND)
    v1["blkio_stats"]["io_service_bytes_recursive"] = [
        {"major": 8, "minor": 0, "op": "Read", "value": 100},
        {"major": 8, "minor": 0, "op": "Write", "value": 200},
        {"major": 8, "minor": 0, "op": "Total", "value": 300},
    ]
    message = stats_message(V1_FIRST, v1)
    assert (message["blk_read_bytes"], message["blk_write_bytes"]) == (100, 200)


def test_pids_and_timestamp_in_utc():
    message = stats_message(V2_FIRST, V2_SECOND)
    assert message["pids"] == 7
    assert message["ts"] == "2024-05-01T12:00:02.000000Z"
    assert stats_message(V1_FIRST, V1_SECOND)["ts"] == "2026-11-23T19:05:14.037090Z"


def test_missing_sections_give_zeros_not_errors():
    bare = {"read": "2024-05-01T12:00:03Z"}
    message = stats_message(V2_SECOND, bare)
    assert message["cpu_percent"] == 0.0 and message["memory_bytes"] == 0 and message["pids"] == 0
    assert message["ts"] == "2024-05-01T12:00:03.000000Z"
