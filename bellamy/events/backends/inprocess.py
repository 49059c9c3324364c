"""The embedded-default bus: the relay calls :func:`dispatch` directly, in this process."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bellamy.events.backends.base import EventBus
from bellamy.events.dispatch import dispatch
from bellamy.events.envelope import Envelope

logger = logging.getLogger(__name__)


class InProcessBus(EventBus):
    """Dispatches each envelope after a JSON round trip, so tasks receive exactly what they
    would receive from Kafka (no model instances, no Python-only types)."""

    def send_many(self, envelopes: Sequence[Envelope]) -> list[BaseException | None]:
        results: list[BaseException | None] = []
        failed_keys: set[str] = set()
        for envelope in envelopes:
            if envelope.key in failed_keys:
                results.append(RuntimeError(f"an earlier event of key {envelope.key} failed"))
                continue
            try:
                dispatch(Envelope.decode(envelope.encode()))
            except Exception as exc:  # reported per event; the sweep retries it
                logger.exception("in-process dispatch of %s %s failed", envelope.type, envelope.id)
                failed_keys.add(envelope.key)
                results.append(exc)
            else:
                results.append(None)
        return results

    def ping(self) -> None:
        """Always reachable: it is this process."""
