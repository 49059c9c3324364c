"""WSGI entry point (HTTP only; the ASGI app in ``bellamy.asgi`` serves HTTP and WebSocket)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bellamy.settings")
application = get_wsgi_application()
