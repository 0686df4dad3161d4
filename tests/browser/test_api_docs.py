"""The API docs work offline: Swagger UI (/api/docs/) and Redoc (/api/redoc/) come from
the installed drf-spectacular-sidecar through Berth's own static files. The browser
refuses every request that leaves the server and the pages still render the API."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _offline(page, server_url: str) -> list[str]:
    """Abort every request not for the server (or in the page itself: blob:, data:);
    the list of those attempted."""
    attempted: list[str] = []

    def route(route):
        if route.request.url.startswith((server_url, "blob:", "data:")):  # Redoc's worker
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    return attempted


def test_swagger_ui_renders_the_api_without_leaving_the_server(new_page, demo_server, artifacts):
    page = new_page()
    attempted = _offline(page, demo_server.url)
    page.goto("/api/docs/")
    expect(page.locator(".swagger-ui .title")).to_contain_text("Berth API")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    expect(page.get_by_text("/api/environments/", exact=True).first).to_be_visible()
    page.screenshot(path=str(artifacts / "api-docs-swagger.png"))
    assert attempted == []


def test_redoc_renders_the_api_without_leaving_the_server(new_page, demo_server, artifacts):
    """Redoc's footer asks for its logo on Redocly's CDN whatever its options: the page's
    content security policy blocks that in the browser, before it reaches any network."""
    page = new_page()
    attempted = _offline(page, demo_server.url)
    blocked: list[tuple[str, str]] = []
    page.on(
        "requestfailed",
        lambda request: (
            blocked.append((request.url, request.failure))
            if not request.url.startswith(demo_server.url)
            else None
        ),
    )
    page.goto("/api/redoc/")
    expect(page.get_by_role("heading", name="Berth API")).to_be_visible()
    expect(page.get_by_text("environments_list").first).to_be_attached()
    page.screenshot(path=str(artifacts / "api-docs-redoc.png"))
    assert attempted == []
    assert all(reason == "csp" for _, reason in blocked), blocked
