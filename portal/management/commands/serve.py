"""``manage.py serve``: Berth's server process (uvicorn) with its settings.

The one way Berth is served, by ``make run``, the tests and production alike. The
process is the server (``BERTH_SERVER=1``): in the embedded mode it also runs the
Celery worker and beat, and it supervises the traffic proxy (``portal.asgi``).

uvicorn on uvloop, with httptools bounded to 64 KiB and 30 s of request head
(:mod:`portal.core.http_protocol`), replaced daphne: 0.2 to 1 ms less per API request
on loopback (``GET /api/environments/``) and 1.5 to 2 ms less per promotion, the two
servers side by side on one database. What daphne did and uvicorn would not do by
itself is set here:

- ``X-Forwarded-For`` is not applied to the client address: Berth reads it itself, and
  only from ``BERTH_TRUSTED_PROXIES`` (``portal.core.client_ip``);
- websocket messages are not compressed (``permessage-deflate`` would cost the log
  streams CPU for loopback and LAN links) and at most 1 MiB each (a console's input
  frame is at most 64 KiB; the consumers refuse more with 1009 themselves);
- logging stays Django's (``LOGGING``); access lines go to the ``uvicorn.access``
  logger, at INFO, unless ``BERTH_ACCESS_LOG=false``;
- no ``Server`` header, no lifespan protocol (Channels' router has none);
- on SIGTERM or SIGINT open requests get ``BERTH_SHUTDOWN_GRACE`` seconds (10) to
  finish, websockets are closed with 1012 (service restart), then the process exits.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand

WS_MAX_BYTES = 1024 * 1024


class Command(BaseCommand):
    help = "Serve Berth (HTTP and websockets) with uvicorn; this process is the server."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on.")

    def handle(self, *args, host: str, port: int, **options):
        import uvicorn

        from portal.core import http_protocol

        http_protocol.head_timeout = settings.HEAD_TIMEOUT
        os.environ["BERTH_SERVER"] = "1"  # read by portal.asgi when uvicorn imports it
        uvicorn.run(
            "portal.asgi:application",
            host=host,
            port=port,
            loop="uvloop",
            http="portal.core.http_protocol:BoundedHttpToolsProtocol",
            ws="websockets-sansio",
            ws_max_size=WS_MAX_BYTES,
            ws_per_message_deflate=False,
            lifespan="off",
            proxy_headers=False,
            server_header=False,
            log_config=None,
            access_log=settings.ACCESS_LOG,
            timeout_graceful_shutdown=settings.SHUTDOWN_GRACE,
        )
