"""Liveness and readiness probes (API.md "Operations").

``/healthz`` answers while the process runs. ``/readyz`` really queries every configured
backend — database, cache, event bus, notification store, graph store — and answers 503
naming each failing check, so a load balancer stops routing to an instance whose backends
are down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.cache import cache
from django.db import connections
from django.http import JsonResponse

from bellamy.backends import get_backend

logger = logging.getLogger(__name__)


def _database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        if cursor.fetchone() != (1,):
            raise RuntimeError("SELECT 1 returned an unexpected row")


def _cache() -> None:
    cache.set("readyz:probe", "1", timeout=10)
    if cache.get("readyz:probe") != "1":
        raise RuntimeError("cache did not return the value just set")


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database,
    "cache": _cache,
    "events": lambda: get_backend("BELLAMY_EVENTS").ping(),
    "notifications": lambda: get_backend("BELLAMY_NOTIFICATIONS").ping(),
    "graph": lambda: get_backend("BELLAMY_GRAPH").ping(),
}


def run_checks() -> dict[str, str]:
    """Run every readiness check.

    Returns:
        ``{check name: "ok" or "<ExceptionClass>: <message>"}`` for each of ``CHECKS``.
    """
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # a probe reports every failure, it never raises
            logger.warning("readiness check %s failed: %s", name, exc)
            results[name] = f"{type(exc).__name__}: {exc}"[:300]
        else:
            results[name] = "ok"
    return results


def healthz(request) -> JsonResponse:
    """200 ``{"status": "ok"}`` while the process is alive."""
    return JsonResponse({"status": "ok"})


def readyz(request) -> JsonResponse:
    """200 when every backend answers, else 503; body ``{"checks": {name: "ok" | error}}``."""
    checks = run_checks()
    status = 200 if all(value == "ok" for value in checks.values()) else 503
    return JsonResponse({"checks": checks}, status=status)
