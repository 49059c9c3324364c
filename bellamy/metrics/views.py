"""``GET /metrics``: the Prometheus exposition, for the scraper only.

Access (README "Metrics"; both variables are read at start):

- ``BELLAMY_METRICS_ALLOW`` — comma-separated addresses or networks (``10.0.0.0/8``,
  ``127.0.0.1``). When set, a client outside it gets a 404, as if the endpoint did not exist.
  The client address is ``REMOTE_ADDR``, or behind ``BELLAMY_NUM_PROXIES`` trusted proxies the
  matching entry of ``X-Forwarded-For`` (as DRF's throttles count it).
- ``BELLAMY_METRICS_TOKEN`` — when set, the request must carry ``Authorization: Bearer
  <token>`` (compared in constant time); otherwise 403.
- Both set: both must pass. Neither set: 404 — the endpoint is off unless configured.

Errors use the API's JSON shape ``{"detail", "code"}``. The request middleware does not count
this view (scrapes would otherwise dominate the request figures).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from bellamy.metrics import exposition

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow_list(entries: Iterable[str]) -> tuple[Network, ...]:
    """Parse ``BELLAMY_METRICS_ALLOW`` entries (addresses or CIDR networks).

    Raises:
        ImproperlyConfigured: an entry is neither, naming it.
    """
    networks = []
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"BELLAMY_METRICS_ALLOW: {entry!r} is not an IP address or network (e.g. 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def client_address(request: HttpRequest) -> str:
    """The client's address: ``REMOTE_ADDR``, or the ``X-Forwarded-For`` entry added by the
    outermost of ``BELLAMY_NUM_PROXIES`` trusted proxies."""
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies > 0 and forwarded:
        addresses = [a.strip() for a in forwarded.split(",")]
        return addresses[-min(proxies, len(addresses))]
    return request.META.get("REMOTE_ADDR", "")


def _allowed_address(request: HttpRequest, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def _has_token(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def refusal(request: HttpRequest) -> JsonResponse | None:
    """The response refusing ``request`` access to the metrics, or ``None`` when it may read them."""
    networks = parse_allow_list(settings.BELLAMY_METRICS_ALLOW)
    token = settings.BELLAMY_METRICS_TOKEN
    if not networks and not token:
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    if networks and not _allowed_address(request, networks):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    if token and not _has_token(request, token):
        return JsonResponse(
            {"detail": "A valid metrics token is required (Authorization: Bearer <token>).",
             "code": "metrics_token_required"},
            status=403,
        )
    return None


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Every metric family in the Prometheus text format, or 404/403 (module docstring)."""
    refused = refusal(request)
    if refused is not None:
        return refused
    return HttpResponse(exposition.render(), content_type=CONTENT_TYPE_LATEST)
