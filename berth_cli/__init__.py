"""``berth``: Berth's command-line client. It talks only to Berth's REST API and
websockets, with a personal API token (see ``berth --help``)."""

SCHEMA = "berth.cli/v1"

__all__ = ["SCHEMA"]
