"""The API's error shape: ``{"detail": "<sentence>", "code": "<machine_code>"}`` (API.md).

Validation errors keep DRF's ``{"field": ["message", ...]}`` shape with 400.
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import JsonResponse
import psycopg
from psycopg_pool import PoolTimeout
from django.views.defaults import bad_request as django_bad_request
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from bellamy.api import middleware


def exception_handler(exc, context):
    """DRF exception handler adding a machine ``code`` next to every ``detail``.

    Returns:
        The DRF response, or ``None`` for exceptions DRF does not handle (a 500).
    """
    if isinstance(exc, RequestDataTooBig):
        # Django raises it when DRF reads a body over DATA_UPLOAD_MAX_MEMORY_SIZE that came
        # without a Content-Length (the middleware answers the others before any reading).
        return Response(middleware.too_large_body(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    response = drf_exception_handler(exc, context)
    if response is None:
        if isinstance(exc, OperationalError) and (is_lock_timeout(exc) or is_pool_timeout(exc)):
            return Response(
                {"detail": "The database is busy; retry in a moment.", "code": "database_busy"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": "1"},
            )
        if isinstance(exc, OperationalError) and is_connection_lost(exc):
            # The transaction was rolled back with the connection: nothing was written.
            return Response(
                {"detail": "The database is unavailable; retry in a moment.", "code": "database_unavailable"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": "5"},
            )
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


def is_lock_timeout(exc: OperationalError) -> bool:
    """True when ``exc`` means "waited for a lock too long": SQLite's "database is locked"
    after its busy timeout, or PostgreSQL's ``lock_not_available`` (SQLSTATE 55P03)."""
    cause = exc.__cause__
    return "database is locked" in str(exc) or getattr(cause, "sqlstate", None) == "55P03"


def is_pool_timeout(exc: OperationalError) -> bool:
    """True when ``exc`` means "no pooled connection came free within
    ``BELLAMY_DB_POOL_TIMEOUT``": the process is at its connection budget (back-pressure, a
    503 with ``Retry-After``, not a server error)."""
    return isinstance(exc.__cause__, PoolTimeout)


def is_connection_lost(exc: OperationalError) -> bool:
    """True when PostgreSQL went away under the request: the server shutting down or
    restarting (SQLSTATE class 57P, e.g. ``AdminShutdown``) or the connection failing
    (class 08, or no SQLSTATE at all: every error the server reports carries one, so an
    error without one is the connection's). The pool replaces the connection; the client
    should retry."""
    cause = exc.__cause__
    if not isinstance(cause, psycopg.OperationalError):
        return False
    return cause.sqlstate is None or cause.sqlstate.startswith(("08", "57P"))


def not_found(request, exception=None):
    """JSON 404 for URLs that match no route (for example a non-numeric id)."""
    return middleware.not_found_response()


def bad_request(request, exception=None):
    """JSON 400 (413 for an oversized body) for requests Django refuses before a view runs,
    when ``DEBUG`` is off; the admin keeps Django's page."""
    if isinstance(exception, RequestDataTooBig):
        return middleware.too_large_response()
    if request.path.startswith(middleware.API_PREFIX):
        return middleware.bad_request_response()
    return django_bad_request(request, exception)


def server_error(request):
    """JSON 500, never an HTML page, for the frontend."""
    return JsonResponse({"detail": "Internal server error.", "code": "server_error"}, status=500)
