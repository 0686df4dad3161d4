"""Error pages: a plain message where the user looks, never a traceback."""

from django.shortcuts import render


def not_found(request, exception=None):
    return render(
        request,
        "portal/error.html",
        {
            "title": "Not found",
            "message": "There is nothing here, or you do not have access to it.",
        },
        status=404,
    )


def forbidden(request, exception=None):
    message = (
        str(exception) if exception and str(exception) else "You do not have permission for this."
    )
    return render(
        request, "portal/error.html", {"title": "Not allowed", "message": message}, status=403
    )


def server_error(request):
    return render(
        request,
        "portal/error.html",
        {
            "title": "Something went wrong",
            "message": "Berth hit an unexpected error; it has been logged.",
        },
        status=500,
    )
