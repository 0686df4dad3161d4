"""HTTP and websocket access to one Berth server with an API token; server answers
become :class:`~berth_cli.errors.CliError` with the server's own message and an exit code.

The HTTP and websocket libraries are imported on first use, so ``berth --help`` starts fast.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from berth_cli.errors import FAILED, NOT_FOUND, UNREACHABLE, USAGE, CliError

__all__ = ["Client", "describe_error", "ws_refusal"]

TIMEOUT = 30
# Close codes of Berth's websockets (README, "Websocket clients").
CLOSE_CODES = {
    4400: ("bad parameters", USAGE),
    4401: ("not signed in (is the token still valid?)", NOT_FOUND),
    4403: ("not allowed", NOT_FOUND),
    4404: ("not found", NOT_FOUND),
    4408: ("idle for too long", FAILED),
    4409: ("not possible in its state", FAILED),
    4429: ("too many at once", FAILED),
    4503: ("the engine could not be reached", FAILED),
}


def describe_error(body: Any) -> str:
    """The server's message from a DRF error body: ``detail``, or ``field: message``."""
    if isinstance(body, str):
        return body.strip()[:2000]
    if isinstance(body, list):
        return "; ".join(describe_error(item) for item in body)
    if isinstance(body, dict):
        if set(body) <= {"detail", "code"} and "detail" in body:
            return describe_error(body["detail"])
        parts = []
        for key, value in body.items():
            text = describe_error(value)
            parts.append(text if key in ("detail", "non_field_errors") else f"{key}: {text}")
        return "; ".join(parts)
    return str(body)


def ws_refusal(code: int | None, reason: str, what: str) -> CliError:
    label, exit_code = CLOSE_CODES.get(code or 0, (f"closed ({code})", FAILED))
    return CliError(f"{what}: {reason or label}.", exit_code)


class Client:
    """One server, one token. ``get``/``post`` answer the decoded JSON (or text)."""

    def __init__(self, url: str, token: str | None = None):
        self.url = url.rstrip("/")
        self.token = token
        self._session = None

    @property
    def session(self):
        if self._session is None:
            import requests

            self._session = requests.Session()
            self._session.headers["User-Agent"] = "berth-cli"
            if self.token:
                self._session.headers["Authorization"] = f"Token {self.token}"
        return self._session

    def request(self, method: str, path: str, *, expect_json: bool = True, **kwargs) -> Any:
        import requests

        try:
            response = self.session.request(
                method, self.url + path, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs
            )
        except requests.ConnectionError:
            raise CliError(f"Cannot reach the server at {self.url}.", UNREACHABLE) from None
        except requests.Timeout:
            raise CliError(
                f"The server at {self.url} did not answer in time.", UNREACHABLE
            ) from None
        except requests.RequestException as exc:
            raise CliError(f"Cannot talk to {self.url}: {exc}", UNREACHABLE) from None
        return self._answer(response, expect_json)

    def _answer(self, response, expect_json: bool) -> Any:
        status = response.status_code
        try:
            body = response.json() if "json" in response.headers.get("Content-Type", "") else None
        except ValueError:
            body = None
        if status >= 400 and not (status == 424 and isinstance(body, dict) and "status" in body):
            message = describe_error(body) if body is not None else response.reason
            if status == 401:
                raise CliError(f"Not signed in: {message}", NOT_FOUND)
            if status in (403, 404):
                raise CliError(message or "Not found.", NOT_FOUND)
            if status >= 500 and status != 503:
                raise CliError(f"The server failed ({status}): {message}", FAILED)
            if status == 503:
                raise CliError(f"The server is unavailable: {message}", UNREACHABLE)
            raise CliError(message or f"Refused ({status}).", FAILED)
        if not expect_json:
            return response.text
        if body is None and response.content:
            raise CliError(f"{self.url} did not answer JSON: is it a Berth server?", UNREACHABLE)
        return body

    def get(self, path: str, params: dict | None = None, **kwargs) -> Any:
        return self.request("GET", path, params=params, **kwargs)

    def post(self, path: str, data: dict | None = None, **kwargs) -> Any:
        return self.request("POST", path, json=data if data is not None else {}, **kwargs)

    def get_all(self, path: str, params: dict | None = None, limit: int | None = None) -> list:
        """Every row of a paginated list (or a bare list), following ``next``."""
        params = dict(params or {}, limit=min(limit or 500, 500))
        rows: list = []
        page = self.get(path, params)
        while True:
            if isinstance(page, list):
                return page
            rows.extend(page.get("results", []))
            if (limit and len(rows) >= limit) or not page.get("next"):
                return rows[:limit] if limit else rows
            page = self._next(page["next"])

    def _next(self, absolute: str) -> Any:
        import requests

        try:
            response = self.session.get(absolute, timeout=TIMEOUT)
        except requests.RequestException:
            raise CliError(f"Cannot reach the server at {self.url}.", UNREACHABLE) from None
        return self._answer(response, True)

    # Websockets ------------------------------------------------------------------

    def ws_url(self, path: str, query: list[tuple[str, str]] | dict | None = None) -> str:
        base = "ws" + self.url[len("http") :]
        return base + path + (("?" + urlencode(query)) if query else "")

    def websocket(self, path: str, query=None, *, what: str = "", open_timeout: float = 10):
        """An open ``websockets.sync`` connection; refusals become a CliError."""
        from websockets.exceptions import InvalidHandshake, InvalidStatus
        from websockets.sync.client import connect

        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        try:
            return connect(
                self.ws_url(path, query),
                additional_headers=headers,
                open_timeout=open_timeout,
                max_size=None,
                compression=None,
                user_agent_header="berth-cli",
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403, 404):
                # Before accept every refusal is one 403 from the server: not found, not
                # allowed and not signed in look alike.
                raise CliError(f"{what or path}: not found or not allowed.", NOT_FOUND) from None
            raise CliError(
                f"{what or path}: the server refused the socket ({status}).", FAILED
            ) from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise CliError(f"Cannot reach the server at {self.url} ({exc}).", UNREACHABLE) from None
