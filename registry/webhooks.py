"""The registry notification endpoint (Distribution's ``notifications: endpoints:``).

Configure the registry with::

    notifications:
      endpoints:
        - name: berth
          url: https://berth.example.com/hooks/registry/<registry id>/
          headers: {Authorization: [Bearer <the registry's webhook secret in Berth>]}
          timeout: 2s
          threshold: 5
          backoff: 5s

Pushed manifests are recorded as tags and digests. Berth's own retags (recognised by
the user agent of its registry client) are skipped: promote() already recorded them.
"""

from __future__ import annotations

import hmac
import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from registry.inventory import record_push_events
from registry.models import Registry

log = logging.getLogger(__name__)
# Distribution 2.x sends v1; newer registries and the OCI docs say v2. Same envelope.
ENVELOPES = (
    "application/vnd.docker.distribution.events.v1+json",
    "application/vnd.docker.distribution.events.v2+json",
    "application/json",
)


def _authorized(registry: Registry | None, request: HttpRequest) -> bool:
    expected = f"Bearer {registry.webhook_secret}" if registry and registry.webhook_secret else ""
    given = request.headers.get("Authorization", "")
    # Constant-time whatever happens, including an unknown registry or no secret set.
    return hmac.compare_digest(given.encode(), expected.encode()) and bool(expected)


@csrf_exempt
@require_POST
def registry_notification(request: HttpRequest, registry_id: int) -> JsonResponse:
    registry = Registry.objects.filter(pk=registry_id).first()
    if not _authorized(registry, request):
        return JsonResponse({"detail": "Unknown registry or wrong secret."}, status=401)
    if request.content_type not in ENVELOPES:
        return JsonResponse({"detail": f"Send one of {', '.join(ENVELOPES)}."}, status=415)
    try:
        envelope = json.loads(request.body)
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return JsonResponse({"detail": f"The body is larger than {limit} bytes."}, status=413)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
        envelope = None
    if not isinstance(envelope, dict):
        return JsonResponse(
            {"detail": 'The body is not a notification envelope: {"events": [...]}.'}, status=400
        )
    events = envelope.get("events", [])
    if not isinstance(events, list):
        return JsonResponse({"detail": "events must be a list."}, status=400)
    return JsonResponse({"recorded": record_push_events(registry, events)})
