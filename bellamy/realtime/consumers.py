"""The ``/ws/`` WebSocket consumer (API.md "Real time").

The client authenticates with its access JWT in ``?token=`` or the subprotocol pair
``bearer, <token>``; a missing, garbage or expired token, an inactive user, a password
changed since, or a logged-out session close the socket with code 4401. An authenticated socket joins group ``user.<id>``, through which
services push ``{"type", "data"}`` messages after commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from bellamy import metrics
from bellamy.accounts.authentication import JWTAuthentication
from bellamy.realtime.presence import HEARTBEAT_INTERVAL, get_presence

logger = logging.getLogger(__name__)

#: Close code for authentication failures (4000-4999 are application codes).
CLOSE_UNAUTHORIZED = 4401
#: Close code for frames over :data:`MAX_FRAME_BYTES`.
CLOSE_TOO_LARGE = 4413
#: Largest client frame accepted, in bytes (clients only send small control messages).
MAX_FRAME_BYTES = 4096


def user_group(user_id: int) -> str:
    """The channel-layer group of one user's sockets: ``user.<id>``."""
    return f"user.{user_id}"


@database_sync_to_async
def _user_for_token(raw: str):
    """The user of access token ``raw`` after the REST API's checks (signature, expiry, active
    user, password unchanged, session not logged out), or None."""
    try:
        return JWTAuthentication().get_user(AccessToken(raw))
    except (TokenError, AuthenticationFailed):
        return None


class UserConsumer(AsyncWebsocketConsumer):
    """One client socket. Server → client messages are JSON ``{"type", "data"?}``."""

    async def connect(self):
        raw, subprotocol = self._token()
        user = await _user_for_token(raw) if raw else None
        if user is None:
            # Accept first so the client sees close code 4401 (a close before accepting
            # becomes an HTTP 403 handshake rejection that browsers cannot read).
            await self.accept(subprotocol=subprotocol)
            await self.close(code=CLOSE_UNAUTHORIZED)
            metrics.socket_rejected()
            return
        self.user_id = user.pk
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept(subprotocol=subprotocol)
        metrics.socket_opened()
        self.counted = True
        await sync_to_async(get_presence().touch)(self.user_id, self.channel_name)
        self.heartbeat = asyncio.ensure_future(self._heartbeat())

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:  # also when the consumer dies of an exception, which skips disconnect()
            if getattr(self, "counted", False):
                metrics.socket_closed()

    async def _heartbeat(self):
        """Refresh this socket's presence until it closes (a crashed server stops refreshing)."""
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL)
            await sync_to_async(get_presence().touch)(self.user_id, self.channel_name)

    def _token(self) -> tuple[str | None, str | None]:
        subprotocols = self.scope.get("subprotocols") or []
        if len(subprotocols) >= 2 and subprotocols[0].lower() == "bearer":
            return subprotocols[1], "bearer"
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        return (query.get("token") or [None])[0], None

    async def disconnect(self, code):
        if getattr(self, "group", None):
            self.heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.heartbeat
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await sync_to_async(get_presence().remove)(self.user_id, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > MAX_FRAME_BYTES:
            await self.close(code=CLOSE_TOO_LARGE)
            return
        try:
            message = json.loads(text_data if text_data is not None else bytes_data)
        except (TypeError, ValueError):
            await self._send({"type": "error", "data": {"code": "malformed"}})
            return
        if isinstance(message, dict) and message.get("type") == "ping":
            await self._send({"type": "pong"})
        else:
            await self._send({"type": "error", "data": {"code": "unknown_type"}})

    async def _send(self, message: dict) -> None:
        await self.send(text_data=json.dumps(message))

    # Channel-layer handlers: ``group_send(..., {"type": "push.message", "message": {...}})``.
    async def push_message(self, event):
        """Forward a pushed ``{"type", "data"}`` message to the client."""
        await self._send(event["message"])

    async def session_close(self, event):
        """Close this socket (the user logged out)."""
        await self.close(code=CLOSE_UNAUTHORIZED)
