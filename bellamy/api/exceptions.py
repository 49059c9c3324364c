"""The API's error shape: ``{"detail": "<sentence>", "code": "<machine_code>"}`` (API.md).

Validation errors keep DRF's ``{"field": ["message", ...]}`` shape with 400.
"""

from __future__ import annotations

from django.http import JsonResponse
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """DRF exception handler adding a machine ``code`` next to every ``detail``.

    Returns:
        The DRF response, or ``None`` for exceptions DRF does not handle (a 500).
    """
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException) and isinstance(response.data, dict):
        # simplejwt adds a "messages" list to token errors; API.md promises {detail, code}.
        response.data.pop("messages", None)
        detail = response.data.get("detail")
        if detail is not None and "code" not in response.data:
            response.data["code"] = getattr(detail, "code", None) or exc.default_code
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        response["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    return response


def not_found(request, exception=None):
    """JSON 404 for URLs that match no route (for example a non-numeric id)."""
    return JsonResponse(
        {"detail": "No such resource: check the path and that ids are integers.", "code": "not_found"},
        status=404,
    )


def server_error(request):
    """JSON 500, never an HTML page, for the frontend."""
    return JsonResponse({"detail": "Internal server error.", "code": "server_error"}, status=500)
