"""A service's configuration document: defaults, errors named by their field path,
secret masking, JSON and YAML export and import (environments/deploying/config.py)."""

from __future__ import annotations

import json

import pytest
import yaml
from django.core.exceptions import ValidationError

from environments.deploying.config import DEFAULTS, MASK, dump, load, mask_secrets, validate
from environments.engine.units import parse_memory

MiB = 1024**2


def errors_of(document) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        validate(document)
    return caught.value.message_dict


# --- valid documents ---------------------------------------------------------------------


def test_an_empty_document_is_all_defaults():
    config = validate({})
    assert config == DEFAULTS
    assert config["strategy"] == {
        "type": "rolling", "batch_size": 1, "max_surge": 1, "max_unavailable": 0,
        "drain_timeout": 10.0,
    }  # fmt: skip
    assert config["entry_points"] == []
    assert config["network_mode"] == "host" and config["health_check"] is None


def test_validate_does_not_share_the_defaults_between_documents():
    first = validate({})
    first["env"]["LEAK"] = "x"
    first["strategy"]["batch_size"] = 9
    assert validate({})["env"] == {}
    assert validate({})["strategy"]["batch_size"] == 1


def test_a_full_document_is_normalised():
    config = validate(
        {
            "replicas": 3,
            "command": "java -jar app.jar",  # a string is split like a shell would, roughly
            "args": ["--spring.profiles.active=qa", 8080, 1.5],
            "env": {"DB_URL": "postgres://db/app", "WORKERS": 4, "DEBUG": False},
            "secret_env": ["DB_URL", "DB_URL"],
            "port": 8000,
            "volumes": ["data:/var/lib/app", "/srv/conf:/etc/app:ro"],
            "cpus": 0.5,
            "memory": "256m",
            "labels": {"team.name": "payments"},
            "restart_policy": "unless-stopped",
            "stop_grace_period": 30,
            "health_check": {"http_path": "/health", "interval": 1},
            "strategy": {"type": "rolling", "batch_size": 2},
        }
    )
    assert config["command"] == ["java", "-jar", "app.jar"]
    assert config["args"] == ["--spring.profiles.active=qa", "8080", "1.5"]
    assert config["env"] == {"DB_URL": "postgres://db/app", "WORKERS": "4", "DEBUG": "False"}
    assert config["secret_env"] == ["DB_URL"]  # deduplicated and sorted
    assert config["volumes"] == ["data:/var/lib/app", "/srv/conf:/etc/app:ro"]
    assert config["memory"] == "256m"  # kept as written; parse_memory reads it when used
    assert config["health_check"] == {
        "interval": 1,
        "timeout": 2.0,
        "retries": 3,
        "start_period": 0.0,
        "http_path": "/health",
    }
    assert config["strategy"] == {
        "type": "rolling", "batch_size": 2, "max_surge": 2, "max_unavailable": 0,
        "drain_timeout": 10.0,
    }  # fmt: skip


def test_a_command_health_check_gets_the_default_timings():
    config = validate({"health_check": {"command": "curl -f http://127.0.0.1/"}})
    assert config["health_check"] == {
        "interval": 2.0,
        "timeout": 2.0,
        "retries": 3,
        "start_period": 0.0,
        "command": ["curl", "-f", "http://127.0.0.1/"],
    }
    assert validate({"health_check": {}})["health_check"] is None


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("recreate", {"type": "recreate"}),
        (
            {"type": "blue-green"},
            {"type": "blue-green", "keep_old_for": 300.0, "drain_timeout": 10.0},
        ),
        (
            {},
            {
                "type": "rolling",
                "batch_size": 1,
                "max_surge": 1,
                "max_unavailable": 0,
                "drain_timeout": 10.0,
            },
        ),
        (
            {"type": "rolling", "max_surge": 0, "max_unavailable": 1},
            {
                "type": "rolling",
                "batch_size": 1,
                "max_surge": 0,
                "max_unavailable": 1,
                "drain_timeout": 10.0,
            },
        ),
        (
            {"type": "swarm"},
            {
                "type": "swarm",
                "parallelism": 1,
                "delay": 0.0,
                "monitor": 5.0,
                "order": "start-first",
                "failure_action": "rollback",
            },
        ),
        (
            {"type": "swarm", "order": "stop-first", "parallelism": 0, "failure_action": "pause"},
            {
                "type": "swarm",
                "parallelism": 0,
                "delay": 0.0,
                "monitor": 5.0,
                "order": "stop-first",
                "failure_action": "pause",
            },
        ),
    ],
)
def test_strategies_are_normalised_with_their_own_defaults(strategy, expected):
    assert validate({"strategy": strategy})["strategy"] == expected


# --- errors named by their path ----------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "path", "message"),
    [
        ({"replica": 2}, "replica", "Unknown field."),
        ({"replicas": -1}, "replicas", "-1 is out of range: use 0 to 50."),
        ({"replicas": 51}, "replicas", "51 is out of range: use 0 to 50."),
        ({"replicas": "2"}, "replicas", "Use a whole number between 0 and 50."),
        ({"replicas": 1.5}, "replicas", "Use a whole number between 0 and 50."),
        ({"replicas": True}, "replicas", "Use a whole number between 0 and 50."),
        ({"command": {"sh": 1}}, "command", "Use a list of strings"),
        ({"args": [["nested"]]}, "args", "Use a list of strings"),
        ({"env": ["A=1"]}, "env", "Use an object of NAME: value."),
        ({"env": {"1BAD": "x"}}, "env.1BAD", "Not a valid variable name"),
        ({"env": {"BAD-NAME": "x"}}, "env.BAD-NAME", "Not a valid variable name"),
        ({"env": {"NESTED": {"a": 1}}}, "env.NESTED", "Use a string value."),
        ({"secret_env": ["TOKEN"]}, "secret_env", "TOKEN is not in env."),
        ({"port": 80}, "port", "80 is out of range: use 1024 to 65535."),
        ({"port": 65536}, "port", "65536 is out of range"),
        ({"port": "8000"}, "port", "Use a whole number between 1024 and 65535."),
        ({"port_env": "9PORT"}, "port_env", "Not a valid variable name."),
        ({"volumes": ["nocolon"]}, "volumes.0", "'nocolon': use name:/path"),
        ({"volumes": ["a:/x", "b:relative"]}, "volumes.1", "'b:relative': use name:/path"),
        ({"volumes": ["a:/x:rx"]}, "volumes.0", "optionally :ro"),
        ({"cpus": 0}, "cpus", "0 is out of range: use 0.01 to 256."),
        ({"cpus": "1"}, "cpus", "Use a number between 0.01 and 256."),
        ({"memory": "lots"}, "memory", "'lots' is not a memory size: use e.g. 256m, 1g or 512MiB."),
        ({"memory": "1t"}, "memory", "is not a memory size"),
        ({"memory": "3m"}, "memory", "'3m' is below Docker's minimum of 4m."),
        ({"memory": "0"}, "memory", "below Docker's minimum of 4m"),
        ({"labels": ["a"]}, "labels", "Use an object of key: value."),
        ({"labels": {"Team": "x"}}, "labels.Team", "Use lowercase dotted keys"),
        ({"labels": {"berth.slot": "1"}}, "labels.berth.slot", "berth.* is reserved"),
        ({"stop_grace_period": 601}, "stop_grace_period", "601 is out of range: use 0 to 600."),
        ({"restart_policy": "sometimes"}, "restart_policy", "Use one of no, on-failure"),
        ({"network_mode": "bridge"}, "network_mode", "bridge networking is off"),
        ({"health_check": "curl"}, "health_check", "Use an object with command"),
        ({"health_check": {"interval": 1}}, "health_check", "Give a command, or an http_path"),
        ({"health_check": {"command": ["true"], "every": 1}}, "health_check.every", "Unknown field."),
        ({"health_check": {"command": ["true"], "interval": 0.1}}, "health_check.interval", "0.1 is out of range: use 0.5 to 300."),
        ({"health_check": {"command": ["true"], "retries": 0}}, "health_check.retries", "0 is out of range: use 1 to 20."),
        ({"health_check": {"command": ["true"], "start_period": 601}}, "health_check.start_period", "out of range: use 0 to 600."),
        ({"health_check": {"http_path": "health", "port": 8080}}, "health_check.http_path", "Use a path starting with /"),
        # A trailing newline is not part of a name ($ alone would let it through), and a
        # path goes into the proxy's check line: no space, quote, # or backslash.
        ({"env": {"FOO\n": "x"}}, "env.FOO\n", "Not a valid variable name"),
        ({"port_env": "PORT\n"}, "port_env", "Not a valid variable name."),
        ({"labels": {"team\n": "x"}}, "labels.team\n", "Use lowercase dotted keys"),
        ({"volumes": ["data:/data\n"]}, "volumes.0", "use name:/path"),
        ({"entry_points": [{"port": 18085, "host": "a.example.com\n"}]}, "entry_points.0.host", "Use a host name"),
        ({"health_check": {"http_path": "/health check", "port": 8080}}, "health_check.http_path", "without spaces"),
        ({"health_check": {"http_path": "/h#x", "port": 8080}}, "health_check.http_path", "without spaces"),
        ({"health_check": {"http_path": "/health", "port": 80}}, "health_check.port", "80 is out of range: use 1024 to 65535."),
        ({"health_check": {"http_path": "/health"}}, "health_check.port", "An HTTP health check needs a port (here or in port)."),
        ({"strategy": {"type": "canary"}}, "strategy.type", "'canary' is not a strategy: use one of recreate, rolling, blue-green, swarm."),
        ({"strategy": "canary"}, "strategy.type", "'canary' is not a strategy"),
        ({"strategy": 3}, "strategy", "Use an object with a type"),
        ({"strategy": {"type": "recreate", "batch_size": 2}}, "strategy.batch_size", "Unknown field for the recreate strategy."),
        ({"replicas": 2, "strategy": {"type": "rolling", "batch_size": 3}}, "strategy.batch_size", "3 is out of range: use 1 to 2."),
        ({"strategy": {"type": "swarm", "order": "random"}}, "strategy.order", "Use start-first or stop-first."),
        ({"strategy": {"type": "swarm", "failure_action": "retry"}}, "strategy.failure_action", "Use rollback, pause or continue."),
        ({"strategy": {"type": "swarm", "parallelism": 101}}, "strategy.parallelism", "out of range: use 0 to 100."),
        ({"strategy": {"type": "rolling", "max_surge": 0}}, "strategy.max_surge", "max_surge and max_unavailable cannot both be 0."),
        ({"replicas": 3, "strategy": {"type": "rolling", "batch_size": 3, "max_surge": 1}}, "strategy.batch_size", "A batch of 3 needs max_surge + max_unavailable of at least 3."),
        ({"entry_points": {"port": 8080}}, "entry_points", "Use a list"),
        ({"entry_points": [8080]}, "port", "Entry points forward to the replicas' ports"),
        ({"port": 9000, "network_mode": "none", "entry_points": [8080]}, "entry_points", "network_mode none"),
        ({"port": 9000, "entry_points": [{"port": 0}]}, "entry_points.0.port", "out of range: use 1 to 65535."),
        ({"entry_points": [{}]}, "entry_points.0.port", "An entry point needs a port."),
        ({"entry_points": [{"port": 8080, "host": "http://x"}]}, "entry_points.0.host", "Use a host name"),
        ({"entry_points": [{"port": 8080, "tls": True}]}, "entry_points.0.tls", "Unknown field"),
        ({"entry_points": [8080, {"port": 8080}]}, "entry_points.1", "8080 is listed twice"),
        ({"port": 9000, "replicas": 2, "entry_points": [9001]}, "entry_points.0.port", "9001 is a port the replicas bind"),
        ({"entry_points": [{"port": 8000 + i} for i in range(9)]}, "entry_points", "At most 8 entry points."),
        ({"replicas": 2, "health_check": {"http_path": "/health", "port": 8080}}, "port", "Replicas on host networking need a base port"),
    ],
)  # fmt: skip
def test_each_error_names_its_field(document, path, message):
    errors = errors_of(document)
    assert path in errors, errors
    assert any(message in text for text in errors[path]), errors[path]


def test_every_bad_field_is_reported_at_once():
    errors = errors_of(
        {"replicas": 99, "env": {"1BAD": "x", "GOOD": "y"}, "port": 1, "colour": "blue"}
    )
    assert set(errors) == {"replicas", "env.1BAD", "port", "colour"}


def test_a_document_that_is_not_an_object_is_refused():
    for document in ([], "replicas: 2", None):
        assert errors_of(document) == {"config": ["The configuration must be an object."]}


def test_replicas_on_host_networking_may_share_nothing_only_with_a_base_port():
    validate({"replicas": 2, "port": 8000, "health_check": {"http_path": "/health"}})
    validate({"replicas": 2, "network_mode": "none", "health_check": {"http_path": "/h", "port": 8080}})  # fmt: skip
    validate({"replicas": 1, "health_check": {"http_path": "/health", "port": 8080}})


# --- memory sizes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("256m", 256 * MiB),
        ("1g", 1024 * MiB),
        ("1G", 1024 * MiB),
        ("512MiB", 512 * MiB),
        ("256mb", 256 * MiB),
        ("1.5g", 1536 * MiB),
        ("4096k", 4 * MiB),
        ("4m", 4 * MiB),
        (" 64 m ", 64 * MiB),
        ("8388608", 8 * MiB),
        (8 * MiB, 8 * MiB),
    ],
)
def test_memory_sizes_are_read_as_docker_reads_them(value, size):
    assert parse_memory(value) == size
    assert validate({"memory": value})["memory"] == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("3m", "below Docker's minimum of 4m"),
        ("4194303", "below Docker's minimum of 4m"),
        ("1k", "below Docker's minimum of 4m"),
        ("lots", "is not a memory size"),
        ("-1g", "is not a memory size"),
        ("1t", "is not a memory size"),
        ("m", "is not a memory size"),
        (-5, "is not a memory size"),
    ],
)
def test_memory_sizes_docker_would_refuse_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        parse_memory(value)


def test_a_memory_size_in_bytes_below_4m_is_refused_like_its_string():
    with pytest.raises(ValueError, match="below Docker's minimum of 4m"):
        parse_memory(100)


# --- secrets, export and import ----------------------------------------------------------


SECRET_DOCUMENT = {
    "env": {"DB_PASSWORD": "hunter2", "LOG_LEVEL": "debug"},
    "secret_env": ["DB_PASSWORD"],
    "replicas": 2,
    "port": 9000,
    "health_check": {"command": ["true"]},
    "strategy": {"type": "blue-green"},
}


def test_mask_secrets_hides_only_the_secret_values_and_leaves_the_config_alone():
    config = validate(SECRET_DOCUMENT)
    masked = mask_secrets(config)
    assert masked["env"] == {"DB_PASSWORD": MASK, "LOG_LEVEL": "debug"}
    assert config["env"]["DB_PASSWORD"] == "hunter2"  # the stored config is not changed
    assert {k: v for k, v in masked.items() if k != "env"} == {
        k: v for k, v in config.items() if k != "env"
    }
    assert mask_secrets({"replicas": 1}) == {"replicas": 1, "env": {}}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_an_export_imports_back_to_the_same_config(fmt):
    config = validate({**SECRET_DOCUMENT, "secret_env": []})
    text = dump(config, fmt)
    assert validate(load(text, fmt)) == config


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_an_export_never_contains_a_secret_value(fmt):
    config = validate(SECRET_DOCUMENT)
    text = dump(config, fmt)
    assert "hunter2" not in text
    parsed = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    assert parsed["env"] == {"DB_PASSWORD": MASK, "LOG_LEVEL": "debug"}
    assert parsed["secret_env"] == ["DB_PASSWORD"]
    assert load(text, fmt) == parsed


def test_yaml_export_keeps_the_field_order_of_the_config():
    text = dump(validate({}), "yaml")
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line[0].isspace()]
    assert keys == list(DEFAULTS)


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ('{"replicas": 2', "json", "Cannot parse the JSON document"),
        ("replicas: [2", "yaml", "Cannot parse the YAML document"),
        ("a: b: c", "yaml", "Cannot parse the YAML document"),
    ],
)
def test_an_unreadable_import_is_one_config_error(text, fmt, message):
    with pytest.raises(ValidationError) as caught:
        load(text, fmt)
    errors = caught.value.message_dict
    assert list(errors) == ["config"] and errors["config"][0].startswith(message)


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n", "~", "null", "---\n"])
def test_an_empty_yaml_import_is_refused_not_read_as_every_default(text):
    """An empty file pasted or uploaded by mistake would otherwise save a config of
    defaults (its entry points gone); ``{}`` says "every default" on purpose."""
    with pytest.raises(ValidationError) as caught:
        load(text, "yaml")
    assert caught.value.message_dict["config"] == [
        "Cannot parse the YAML document: it is empty. Give the config's fields, e.g. replicas: 2."
    ]
    assert validate(load("{}", "yaml")) == DEFAULTS


@pytest.mark.parametrize("text", ["[]", "false", "0", "''"])
def test_a_yaml_import_that_is_no_mapping_is_refused(text):
    with pytest.raises(ValidationError) as caught:
        validate(load(text, "yaml"))
    assert caught.value.message_dict["config"] == ["The configuration must be an object."]


@pytest.mark.parametrize("name", [None, True, 12])
def test_an_env_name_that_is_not_text_is_refused(name):
    with pytest.raises(ValidationError) as caught:
        validate({"env": {name: "x"}})
    assert list(caught.value.message_dict) == [f"env.{name}"]


def test_entry_points_are_normalised_to_port_and_lowercase_host():
    config = validate(
        {"port": 9000, "entry_points": [8080, {"port": 80, "host": "Shop.Example.com"}]}
    )
    assert config["entry_points"] == [
        {"port": 8080, "host": ""},
        {"port": 80, "host": "shop.example.com"},
    ]
