"""Container log download page: the whole log (or a time range) as text, streamed.

``GET /environments/<slug>/containers/<id>/logs/download/?since=&until=&tail=`` (all
optional; see :mod:`environments.live.download`). One line per log line:
``<RFC3339Nano> <stdout|stderr> <text>``, the two streams merged in time order.

Under ASGI a StreamingHttpResponse must be given an *async* iterator, or Django reads
the whole body into a list first; the blocking Docker reads run in the log I/O pool.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse

from environments import access, actions, engine
from environments.live.download import log_response, parse_download_range
from environments.live.io import run_io
from environments.roles import LOGS

__all__ = ["container_logs_download"]


@login_required
async def container_logs_download(
    request: HttpRequest, slug: str, container_id: str
) -> HttpResponse:
    user = await request.auser()
    environment = await sync_to_async(access.get_environment)(user, LOGS, slug=slug)
    try:
        since, until, tail = parse_download_range(request.GET)
    except ValueError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    try:
        download = await run_io(
            actions.open_container_log, user, environment, container_id,
            since=since, until=until, tail=tail,
        )  # fmt: skip
    except engine.EngineUnavailable as exc:
        return HttpResponse(str(exc), status=503, content_type="text/plain; charset=utf-8")
    return log_response(download)
