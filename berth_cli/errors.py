"""The CLI's exit codes and the one error it raises: a message a person can act on."""

from __future__ import annotations

OK = 0
FAILED = 1  # the operation ran and failed (a deployment, a refused request, a conflict)
USAGE = 2  # wrong arguments or options (also Click's own code)
NOT_FOUND = 3  # not found, not allowed or not signed in (hidden looks like missing)
UNREACHABLE = 4  # the server could not be reached (or answered garbage)
TIMEOUT = 5  # ``wait --timeout`` ran out before the operation finished
INTERRUPTED = 130  # Ctrl-C

EXIT_CODES_HELP = """Exit codes:

\b
  0    ok
  1    the operation failed (deployment failed, request refused, conflict)
  2    usage error (bad arguments, protected environment without --confirm)
  3    not found, not allowed or not signed in
  4    cannot reach the server
  5    wait timed out
  130  interrupted (Ctrl-C)"""


class CliError(Exception):
    """Printed as ``berth: <message>`` on stderr; the process exits with ``code``."""

    def __init__(self, message: str, code: int = FAILED):
        super().__init__(message)
        self.message = message
        self.code = code


__all__ = [
    "EXIT_CODES_HELP",
    "FAILED",
    "INTERRUPTED",
    "NOT_FOUND",
    "OK",
    "TIMEOUT",
    "UNREACHABLE",
    "USAGE",
    "CliError",
]
