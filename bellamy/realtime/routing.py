"""WebSocket URL routes."""

from django.urls import path

from bellamy.realtime.consumers import UserConsumer

websocket_urlpatterns = [path("ws/", UserConsumer.as_asgi())]
