"""The ``/ws/`` WebSocket consumer (API.md "Real time", README "Real time").

The client authenticates with its access JWT in ``?token=`` or the subprotocol pair
``bearer, <token>``; a missing, garbage or expired token, an inactive user, a password changed
since, or a logged-out session close the socket with code 4401 (the REST API's checks). An
authenticated socket joins group ``user.<id>`` (``bellamy.realtime.sessions``), through which
services push ``{"type", "data", "seq"}`` frames after commit.

Lifetime: an authenticated socket stays open, idle or not, until the client closes it, the user
logs out (4401), or its access token expires. Before expiry the client may send
``{"type": "auth", "data": {"token": "<new access token>"}}`` (same user) to extend the socket
to the new token's expiry (answer ``{"type": "auth.ok", "data": {"expires_at"}}``); otherwise
the server closes the socket at expiry with 4401 (reason ``token expired``) and the client
reconnects with a fresh token and catches up. The heartbeat (group membership and presence,
every 30 s) runs in the server; the web server sends no protocol-level pings (clients may
send ``ping`` frames to keep a proxy's idle timeout from closing the socket).

Client frames: ``ping`` → ``pong``; ``auth`` as above; anything else well-formed →
``error``/``unknown_type``; not JSON, or nested deeper than :data:`MAX_DEPTH` →
``error``/``malformed``; the socket stays open in every case. A frame over
:data:`MAX_FRAME_BYTES` closes it with 4413.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs

import orjson
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from bellamy import metrics
from bellamy.accounts.authentication import JWTAuthentication
from bellamy.api.parsers import json_depth_exceeds
from bellamy.realtime.sessions import local_sockets, user_group

__all__ = ["UserConsumer", "authenticate", "user_group"]

logger = logging.getLogger(__name__)

#: Close code for authentication failures and token expiry (4000-4999 are application codes).
CLOSE_UNAUTHORIZED = 4401
#: Close code for frames over :data:`MAX_FRAME_BYTES`.
CLOSE_TOO_LARGE = 4413
#: Largest client frame accepted, in bytes (clients only send small control messages).
MAX_FRAME_BYTES = 4096
#: Deepest nesting of arrays/objects accepted in a client frame (ours are two levels deep).
MAX_DEPTH = 16


@dataclass(frozen=True)
class SocketAuth:
    """Who a socket belongs to and until when (Unix seconds)."""

    user_id: int
    expires_at: float


async def authenticate(raw: str) -> SocketAuth | None:
    """The socket's user and expiry for access token ``raw``, or ``None`` when the REST API
    would refuse the token: garbage, expired, badly signed, an unknown or inactive user, a
    password changed since, or a logged-out session.

    The single token check of ``/ws/`` (connect and in-band renewal).
    """
    return await _authenticate(raw)


@database_sync_to_async
def _authenticate(raw: str) -> SocketAuth | None:
    try:
        token = AccessToken(raw)
        user = JWTAuthentication().get_user(token)
    except (TokenError, AuthenticationFailed):
        return None
    return SocketAuth(user_id=user.pk, expires_at=float(token["exp"]))


def decode_frame(text: str | bytes) -> dict | list | None:
    """The decoded client frame, or ``None`` when it is not JSON or nests deeper than
    :data:`MAX_DEPTH` (json's C decoder raises ``RecursionError`` near 1,000 levels, which
    used to kill the consumer and close the socket with 1011)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return None
    return None if json_depth_exceeds(value, MAX_DEPTH) else value


class UserConsumer(AsyncWebsocketConsumer):
    """One client socket. Server → client messages are JSON ``{"type", "data"?, "seq"?}``."""

    user_id: int | None = None
    _expiry: asyncio.TimerHandle | None = None

    async def dispatch(self, message):
        """Run the handler of ``message`` without Channels' per-message database clean-up.

        Channels (4.2+) calls ``close_old_connections`` in the synchronous thread before every
        handler: one thread hop per frame, through the single thread that also runs the
        process's synchronous Django views, and the largest cost of a push in a profile of
        1,000 sockets. No handler here touches the database except through
        ``database_sync_to_async``, which closes stale connections itself.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        raw, subprotocol = self._token()
        auth = await authenticate(raw) if raw else None
        if auth is None or auth.expires_at <= _now():
            # Accept first so the client sees close code 4401 (a close before accepting
            # becomes an HTTP 403 handshake rejection that browsers cannot read).
            await self.accept(subprotocol=subprotocol)
            await self.close(code=CLOSE_UNAUTHORIZED)
            metrics.socket_rejected()
            return
        self.user_id = auth.user_id
        # Registered before accepting, so a push sent right after the handshake arrives.
        await local_sockets().register(self.channel_layer, self.user_id, self.channel_name)
        await self.accept(subprotocol=subprotocol)
        metrics.socket_opened()
        self.counted = True
        self._expire_at(auth.expires_at)

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:  # also when the consumer dies of an exception, which skips disconnect()
            if getattr(self, "counted", False):
                metrics.socket_closed()

    def _token(self) -> tuple[str | None, str | None]:
        subprotocols = self.scope.get("subprotocols") or []
        if len(subprotocols) >= 2 and subprotocols[0].lower() == "bearer":
            return subprotocols[1], "bearer"
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        return (query.get("token") or [None])[0], None

    def _expire_at(self, expires_at: float) -> None:
        """Close the socket with 4401 when its token expires (rescheduled by ``auth``)."""
        if self._expiry is not None:
            self._expiry.cancel()
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_later(max(0.0, expires_at - _now()),
                                       lambda: asyncio.ensure_future(self._close_expired()))

    async def _close_expired(self) -> None:
        await self.close(code=CLOSE_UNAUTHORIZED, reason="token expired")

    async def disconnect(self, code):
        if self._expiry is not None:
            self._expiry.cancel()
        if self.user_id is not None:
            await local_sockets().unregister(self.channel_layer, self.user_id, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if self.user_id is None:
            # refused at connect (closed with 4401): a frame the client sent before it saw the
            # close is dropped, not answered on a closed socket
            return
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > MAX_FRAME_BYTES:
            await self.close(code=CLOSE_TOO_LARGE)
            return
        message = decode_frame(text_data if text_data is not None else bytes_data)
        if message is None:
            await self._error("malformed")
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ping":
            await self._send({"type": "pong"})
        elif kind == "auth":
            await self._renew(message.get("data"))
        else:
            await self._error("unknown_type")

    async def _renew(self, data) -> None:
        """``{"type": "auth", "data": {"token"}}``: extend the socket to a new token's expiry."""
        raw = data.get("token") if isinstance(data, dict) else None
        auth = await authenticate(raw) if isinstance(raw, str) and raw else None
        if auth is None or auth.user_id != self.user_id or auth.expires_at <= _now():
            await self._error("invalid_token")
            return
        self._expire_at(auth.expires_at)
        expires = datetime.fromtimestamp(auth.expires_at, UTC).isoformat().replace("+00:00", "Z")
        await self._send({"type": "auth.ok", "data": {"expires_at": expires}})

    async def _error(self, code: str) -> None:
        await self._send({"type": "error", "data": {"code": code}})

    async def _send(self, message: dict) -> None:
        # orjson: a crowd's frames are encoded one per socket, several times faster than json.
        await self.send(text_data=orjson.dumps(message).decode())

    # Channel-layer handlers: ``{"type": "push.message", "message": {...}, "seq"?: n}``.
    async def push_message(self, event):
        """Forward a pushed ``{"type", "data"}`` message to the client, with its ``seq``."""
        frame = dict(event["message"])
        if "seq" in event:
            frame["seq"] = event["seq"]
        await self._send(frame)

    async def session_close(self, event):
        """Close this socket (the user logged out)."""
        await self.close(code=CLOSE_UNAUTHORIZED)


def _now() -> float:
    return datetime.now(UTC).timestamp()
