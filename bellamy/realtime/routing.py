"""WebSocket URL routes, behind the ``Origin`` check.

A browser always sends ``Origin`` with a WebSocket handshake, and a page on another site could
otherwise open a socket with a token it holds; so a handshake whose ``Origin`` is not one of
ours is refused (HTTP 403, before the consumer runs). Ours are: any scheme and port on a host
of ``ALLOWED_HOSTS`` (``DJANGO_ALLOWED_HOSTS``; ``.example.org`` covers subdomains, ``*``
everything), and the exact origins of ``CORS_ALLOWED_ORIGINS`` (``DJANGO_CORS_ALLOWED_ORIGINS``,
the frontend's) and ``CSRF_TRUSTED_ORIGINS`` (``https://*.example.org`` covers subdomains).
Clients that send no ``Origin`` (mobile apps, servers, scripts) are not browsers and pass: they
still need a valid token.
"""

from __future__ import annotations

import logging

from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import path

from bellamy.realtime.consumers import UserConsumer

logger = logging.getLogger(__name__)


def allowed_origins() -> list[str]:
    """The ``Origin`` patterns ``/ws/`` accepts, from the settings (read at each handshake, so
    they follow the settings in tests)."""
    patterns = list(settings.ALLOWED_HOSTS)
    patterns += list(getattr(settings, "CORS_ALLOWED_ORIGINS", []))
    # Django writes a subdomain wildcard as https://*.example.org; Channels as https://.example.org.
    patterns += [origin.replace("://*.", "://.") for origin in getattr(settings, "CSRF_TRUSTED_ORIGINS", [])]
    return patterns


class SocketOriginValidator(OriginValidator):
    """Channels' ``OriginValidator`` with our two differences: the allowed origins come from
    :func:`allowed_origins`, and a handshake without ``Origin`` (not a browser) passes, while a
    present but unreadable one is refused."""

    def __init__(self, application):
        super().__init__(application, allowed_origins=[])

    async def __call__(self, scope, receive, send):
        if not any(name == b"origin" for name, _value in scope.get("headers", [])):
            return await self.application(scope, receive, send)
        self.allowed_origins = allowed_origins()
        return await super().__call__(scope, receive, send)

    def valid_origin(self, parsed_origin) -> bool:
        valid = parsed_origin is not None and self.validate_origin(parsed_origin)
        if not valid:
            logger.info("realtime: refused a WebSocket handshake from origin %s",
                        parsed_origin.geturl() if parsed_origin is not None else "(unreadable)")
        return valid


websocket_urlpatterns = [path("ws/", SocketOriginValidator(UserConsumer.as_asgi()))]
