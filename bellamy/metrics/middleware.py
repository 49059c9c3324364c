"""Request rate and latency by route: the first middleware, labelling by the URL *pattern*.

The ``route`` label is the resolved pattern (``api/Post/users/<id:user_id>``), never the raw
path, so the number of series is bounded by the URL configuration however many ids, feeds and
typos clients send; a path that matches nothing is ``<unmatched>``, and an unusual HTTP method
is ``OTHER``. ``/metrics`` itself is not counted. Works under ASGI without a thread hop (it
is both sync and async capable).
"""

from __future__ import annotations

import time

from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware

from bellamy import metrics

#: Methods labelled as themselves; anything else is "OTHER" (bounded cardinality).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"


def _observe(request, response, started: float) -> None:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.url_name == "metrics":
        return
    metrics.request_finished(
        method=request.method if request.method in METHODS else "OTHER",
        route=match.route if match is not None else UNMATCHED,
        status=response.status_code,
        seconds=time.perf_counter() - started,
    )


@sync_and_async_middleware
def request_metrics_middleware(get_response):
    """Count every answered request by method, route and status, and time it."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            started = time.perf_counter()
            response = await get_response(request)
            _observe(request, response, started)
            return response

    else:

        def middleware(request):
            started = time.perf_counter()
            response = get_response(request)
            _observe(request, response, started)
            return response

    return middleware
