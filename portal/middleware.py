"""Request checks that belong to no view."""

from __future__ import annotations

from django.http import HttpResponseBadRequest, JsonResponse

__all__ = ["RefuseNulCharacters"]


class RefuseNulCharacters:
    """A NUL character in the path or the query string is a 400: no database stores it
    (PostgreSQL refuses it in text), so no filter or lookup may ever be handed one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            message = "The address contains a NUL character (%00)."
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain")
        return self.get_response(request)
