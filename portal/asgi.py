"""ASGI entry point: HTTP through Django, websockets through Channels.

In embedded mode the Celery worker starts here too, inside the server process, so
tasks and the in-memory channel layer share one process.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from portal.core.asgi_http import get_asgi_application  # noqa: E402

django_asgi = get_asgi_application()  # one thread hop per request to a sync view

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from portal.core.events import track_server_loop  # noqa: E402
from portal.core.ws_auth import BerthAuthStack  # noqa: E402
from portal.routing import websocket_routes  # noqa: E402

http_app = ASGIStaticFilesHandler(django_asgi) if settings.SERVE_STATIC else django_asgi

# Both protocols tell the events module which loop serves them: an event sent from a
# request (a promotion, a deployment) is then handed to that loop without the request
# waiting for it, also before any websocket has connected.
application = ProtocolTypeRouter(
    {
        "http": track_server_loop(http_app),
        "websocket": track_server_loop(BerthAuthStack(URLRouter(websocket_routes))),
    }
)

if os.environ.get("BERTH_SERVER") == "1":
    from portal.core.heap import freeze_loaded

    freeze_loaded()

if settings.EMBEDDED_WORKER and os.environ.get("BERTH_SERVER") == "1":
    from portal.worker import start_embedded_worker

    start_embedded_worker()

if os.environ.get("BERTH_SERVER") == "1":
    from environments.deploying.traffic import supervise_forever

    supervise_forever()  # the traffic proxy of entry points, restarted if it dies
