"""The API's error shape for what Django answers itself, before or around DRF's views.

DRF's exception handler (:mod:`bellamy.api.exceptions`) shapes the errors raised inside API
views. Two kinds of answer never reach it:

- a path that matches no route (``/api/posts/abc``): Django's 404, which with ``DEBUG`` on is
  the HTML page listing every URL pattern;
- a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``: Django refuses it with an HTML 400.

:class:`ApiErrorShapeMiddleware` gives both the JSON shape ``{"detail", "code"}`` on ``/api/``
paths, whatever ``DEBUG`` says. Other paths (the admin, the docs) keep Django's pages.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse

API_PREFIX = "/api/"


def not_found_response() -> JsonResponse:
    """404 for an ``/api/`` path that matches no route."""
    return JsonResponse(
        {"detail": "No such resource: check the path and that ids are integers.", "code": "not_found"},
        status=404,
    )


def too_large_body() -> dict[str, str]:
    """The error body of a request over ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""
    return {
        "detail": f"Request body too large: at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
        "code": "request_too_large",
    }


def too_large_response() -> JsonResponse:
    """413 for a request body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""
    return JsonResponse(too_large_body(), status=413)


def bad_request_response() -> JsonResponse:
    """400 for a request Django refused before any view ran."""
    return JsonResponse({"detail": "Bad request.", "code": "bad_request"}, status=400)


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class ApiErrorShapeMiddleware:
    """On ``/api/`` paths: answer 413 before reading an oversized body (by its
    ``Content-Length``), and replace a non-JSON 404 or 400 from Django with the API's shape.

    Sits after ``CorsMiddleware`` (its answers carry CORS headers, so a browser can read them)
    and before ``CommonMiddleware`` (whose ``APPEND_SLASH`` redirects pass through untouched).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and _content_length(request) > limit:
            return too_large_response()
        response = self.get_response(request)
        if response.status_code in (400, 404) and not response.get("Content-Type", "").startswith("application/json"):
            return not_found_response() if response.status_code == 404 else bad_request_response()
        return response
