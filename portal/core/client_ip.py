"""The client address of a request, trusting ``X-Forwarded-For`` only from proxies the
operator declared (``BERTH_TRUSTED_PROXIES``: how many proxies stand in front of Berth).
With none, a client that sends the header changes nothing: the socket's peer counts."""

from __future__ import annotations

from django.conf import settings

__all__ = ["client_ip"]


def client_ip(request) -> str:
    """The address the last trusted proxy saw, or the peer's when no proxy is trusted."""
    peer = request.META.get("REMOTE_ADDR", "") or ""
    proxies = getattr(settings, "TRUSTED_PROXIES", 0)
    if not proxies:
        return peer
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    # Each trusted proxy appended the address it received from; the client's is the
    # proxies-th from the end. Anything further left was sent by the client itself.
    return hops[-proxies] if len(hops) >= proxies else peer
