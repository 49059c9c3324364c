"""The event envelope and its JSON encoding (ARCHITECTURE.md §4).

``{"id": uuid4, "type", "version": 1, "occurred_at": RFC 3339 UTC, "actor_id", "key", "data"}``
encoded as compact UTF-8 JSON (orjson). ``data`` holds ids and small facts, never model
instances, so every consumer can decode it without importing the producer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from bellamy.events.errors import EnvelopeDecodeError, EventPayloadError
from bellamy.events.registry import EVENT_TYPES

ENVELOPE_VERSION = 1


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Envelope:
    """One event.

    Attributes:
        id: unique event id (uuid4 string); tasks record it to run once.
        type: a registered type such as ``"post.created"``.
        version: schema version of ``data`` (1).
        occurred_at: RFC 3339 UTC string of when the change was made.
        actor_id: the user who acted, or ``None`` for system events.
        key: the partition key as a string (author id for post events): one key, one order.
        data: JSON-compatible dict of ids and small facts.
    """

    type: str
    key: str
    data: dict[str, Any]
    actor_id: int | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version: int = ENVELOPE_VERSION
    occurred_at: str = field(default_factory=lambda: _rfc3339(datetime.now(UTC)))

    def to_dict(self) -> dict[str, Any]:
        """The envelope as a plain dict (field order as in ARCHITECTURE.md)."""
        return {
            "id": self.id,
            "type": self.type,
            "version": self.version,
            "occurred_at": self.occurred_at,
            "actor_id": self.actor_id,
            "key": self.key,
            "data": self.data,
        }

    def encode(self) -> bytes:
        """UTF-8 JSON bytes of :meth:`to_dict`.

        Raises:
            EventPayloadError: ``data`` holds something JSON cannot represent.
        """
        try:
            return orjson.dumps(self.to_dict())
        except TypeError as exc:
            raise EventPayloadError(f"{self.type}: data is not JSON-serialisable: {exc}") from exc

    @classmethod
    def from_dict(cls, raw: Any) -> Envelope:
        """Validate and build an envelope from a decoded dict.

        Raises:
            EnvelopeDecodeError: not a dict, a field missing or of the wrong type, or an
                unregistered type.
        """
        if not isinstance(raw, dict):
            raise EnvelopeDecodeError(f"envelope must be a JSON object, got {type(raw).__name__}")
        expected = {"id": str, "type": str, "version": int, "occurred_at": str, "key": str, "data": dict}
        for name, kind in expected.items():
            if not isinstance(raw.get(name), kind):
                raise EnvelopeDecodeError(f"envelope field {name!r} missing or not {kind.__name__}")
        actor_id = raw.get("actor_id")
        if actor_id is not None and not isinstance(actor_id, int):
            raise EnvelopeDecodeError("envelope field 'actor_id' must be an integer or null")
        if raw["type"] not in EVENT_TYPES:
            raise EnvelopeDecodeError(f"unknown event type {raw['type']!r}")
        try:
            uuid.UUID(raw["id"])
        except ValueError:
            raise EnvelopeDecodeError(f"envelope id {raw['id']!r} is not a UUID") from None
        return cls(
            id=raw["id"],
            type=raw["type"],
            version=raw["version"],
            occurred_at=raw["occurred_at"],
            actor_id=actor_id,
            key=raw["key"],
            data=raw["data"],
        )

    @classmethod
    def decode(cls, payload: bytes | str) -> Envelope:
        """Parse UTF-8 JSON ``payload`` into an envelope.

        Raises:
            EnvelopeDecodeError: invalid JSON or an invalid envelope.
        """
        try:
            raw = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeDecodeError(f"not JSON: {exc}") from exc
        return cls.from_dict(raw)
