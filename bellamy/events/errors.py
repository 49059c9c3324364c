"""Errors raised by the event backbone."""


class EventError(ValueError):
    """Base class: an event cannot be published as given. Raised in the caller's transaction."""


class UnknownEventType(EventError):
    """The event type is not in :data:`bellamy.events.registry.EVENT_TYPES`."""


class EventPayloadError(EventError):
    """The payload is not JSON-serialisable, or its encoding exceeds ``BELLAMY_EVENT_MAX_BYTES``."""


class EnvelopeDecodeError(ValueError):
    """A message is not a valid envelope (bad JSON, missing or mistyped fields, unknown type)."""
