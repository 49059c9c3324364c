"""The WebSocket contract in the OpenAPI schema (``GET /api/schema/``, ``/api/docs/``).

OpenAPI 3.0 has no WebSocket operations, so ``/ws/`` is documented where drf-spectacular lets
us put prose and shapes: :data:`WEBSOCKET_DESCRIPTION` is appended to the schema's
description (``SPECTACULAR_SETTINGS["DESCRIPTION"]``) and :data:`FRAME_SCHEMAS` are added as
components (``APPEND_COMPONENTS``), named ``Ws…``. No Django import here: the settings module
reads this one.
"""

from __future__ import annotations

WEBSOCKET_DESCRIPTION = """

## Real time: `GET /ws/` (WebSocket)

**Authentication.** The access token goes in `?token=<access>` or in the subprotocol pair
`bearer, <access>`. A missing, garbage, expired or inactive-user token: the socket is accepted
then closed with code **4401**.

**Origin.** A browser handshake whose `Origin` is not ours is refused with HTTP **403**. Ours:
any scheme and port on a host of `DJANGO_ALLOWED_HOSTS`, and the exact origins of
`DJANGO_CORS_ALLOWED_ORIGINS` and `DJANGO_CSRF_TRUSTED_ORIGINS`. Clients that send no `Origin`
(apps, servers) are not browsers and pass.

**Server frames** are JSON `{"type", "data"?, "seq"}` (component `WsServerFrame`):

| `type` | `data` | sent when |
|---|---|---|
| `notification.created` | a `Notification` | a notification is stored for you — including **a friend's new post**: exactly one `notification.created` (type `friend_posted`, or `mentioned` if the post mentions you) per post, to each online friend who can see it |
| `feed.updated` | — | your home feed changed for another reason (a post edited, deleted or moderated, a score change, a friendship accepted or removed, a block) |

*Change from API.md v1:* a friend's new post no longer sends the separate `post.created`
(`{post_id, author_id}`) and `feed.updated` frames: the `friend_posted` notification is that
signal (its `post_id` names the post). Feed caches are still invalidated, so the next
`GET /api/feed/` shows the post.

**`seq`.** Every pushed frame carries `seq`, the number of frames pushed to your user so far
(all your tabs see the same numbers). Within one socket, a `seq` that is not the previous one
plus 1 means frames were lost (a slow connection or an overloaded server: such losses are
counted and logged server-side). Replies to your own frames (`pong`, `auth.ok`, `error`) carry
no `seq`.

**Catching up** after a reconnect, or when `seq` skips: `GET /api/notifications/` (newest
first) and follow `next_cursor` until you reach a notification `id` you already have, then
`GET /api/notifications/unread-count`; if you show a feed, `GET /api/feed/` again. While the
socket was closed nothing was queued for you: catching up is always by REST.

**Client frames** (at most 4,096 bytes, else close **4413**): `{"type": "ping"}` →
`{"type": "pong"}`; `{"type": "auth", "data": {"token": "<new access token>"}}` →
`{"type": "auth.ok", "data": {"expires_at"}}` (same user; extends the socket); anything else
→ `{"type": "error", "data": {"code"}}` with `unknown_type`, `malformed` (not JSON, or nested
deeper than 16 levels) or `invalid_token`; the socket stays open.

**Lifetime.** An authenticated socket stays open, idle or not, until you close it, you log
out (4401), or its access token expires: then the server closes it with **4401**, reason
`token expired`, unless you renewed it with `auth` before. The server keeps your presence and
subscription alive by itself (every 30 s); the server sends no protocol-level pings and an
idle socket needs none. A client behind a proxy that closes silent connections, or that wants
to detect a dead connection, sends `ping` (e.g. every 30 s) and reconnects when no `pong`
comes within 10 s.
"""


def _frame(type_: str, data: dict | None, description: str, *, seq: bool) -> dict:
    properties: dict = {"type": {"type": "string", "enum": [type_]}}
    if data is not None:
        properties["data"] = data
    required = ["type"] + (["data"] if data is not None else [])
    if seq:
        properties["seq"] = {"type": "integer", "minimum": 1,
                             "description": "Frames pushed to this user so far; a skip means frames were lost."}
        required.append("seq")
    return {"type": "object", "description": description, "properties": properties, "required": required}


FRAME_SCHEMAS: dict[str, dict] = {
    "WsNotificationCreatedFrame": _frame(
        "notification.created", {"$ref": "#/components/schemas/Notification"},
        "A notification was stored for you (a friend's new post: type friend_posted or mentioned).", seq=True,
    ),
    "WsFeedUpdatedFrame": _frame("feed.updated", None, "Your home feed changed (not sent for a new post).", seq=True),
    "WsPongFrame": _frame("pong", None, "Reply to ping.", seq=False),
    "WsAuthOkFrame": _frame(
        "auth.ok", {"type": "object", "properties": {"expires_at": {"type": "string", "format": "date-time"}},
                    "required": ["expires_at"]},
        "Reply to auth: the socket now lives until this time.", seq=False,
    ),
    "WsErrorFrame": _frame(
        "error", {"type": "object", "properties": {"code": {"type": "string",
                                                            "enum": ["unknown_type", "malformed", "invalid_token"]}},
                  "required": ["code"]},
        "Reply to a frame the server cannot use; the socket stays open.", seq=False,
    ),
    "WsServerFrame": {
        "description": "Any frame the server sends on /ws/.",
        "oneOf": [{"$ref": f"#/components/schemas/{name}"} for name in
                  ("WsNotificationCreatedFrame", "WsFeedUpdatedFrame", "WsPongFrame", "WsAuthOkFrame", "WsErrorFrame")],
        "discriminator": {"propertyName": "type", "mapping": {
            type_: f"#/components/schemas/{name}" for type_, name in (
                ("notification.created", "WsNotificationCreatedFrame"), ("feed.updated", "WsFeedUpdatedFrame"),
                ("pong", "WsPongFrame"), ("auth.ok", "WsAuthOkFrame"), ("error", "WsErrorFrame"))
        }},
    },
    "WsClientFrame": {
        "description": "A frame the client may send on /ws/ (at most 4,096 bytes).",
        "oneOf": [
            _frame("ping", None, "Liveness check: answered by pong.", seq=False),
            _frame("auth", {"type": "object", "properties": {"token": {"type": "string"}}, "required": ["token"]},
                   "Renew the socket with a new access token of the same user.", seq=False),
        ],
    },
}
