"""Error pages: a plain message where the user looks, never a traceback. Under ``/api/``
the same message comes as JSON (``{"detail": ...}``, as the API's own errors do), so a
client that mistypes a route still gets something it can read."""

from django.http import JsonResponse
from django.shortcuts import render


def _answer(request, title: str, message: str, status: int):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    return render(request, "portal/error.html", {"title": title, "message": message}, status=status)


def not_found(request, exception=None):
    return _answer(
        request, "Not found", "There is nothing here, or you do not have access to it.", 404
    )


def forbidden(request, exception=None):
    message = (
        str(exception) if exception and str(exception) else "You do not have permission for this."
    )
    return _answer(request, "Not allowed", message, 403)


def server_error(request):
    return _answer(
        request,
        "Something went wrong",
        "Berth hit an unexpected error; it has been logged.",
        500,
    )
