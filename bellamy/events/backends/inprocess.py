"""The embedded-default bus: the relay calls :func:`dispatch_batch` directly, in this process."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bellamy import metrics
from bellamy.events.backends.base import EventBus
from bellamy.events.dispatch import dispatch, dispatch_batch
from bellamy.events.envelope import Envelope

logger = logging.getLogger(__name__)


class InProcessBus(EventBus):
    """Dispatches a relay pass's envelopes as one batch, after a JSON round trip, so tasks
    receive exactly what they would receive from Kafka through the forwarder (no model
    instances, no Python-only types) and run the same batch handlers.

    If the batch fails (with eager Celery a task's exception propagates), the envelopes are
    dispatched again one at a time so that one failing event holds back only its own key: the
    tasks skip what the batch already handled, a failing key stops at its first failure, and the
    relay keeps the failed rows unsent for the sweep.
    """

    def send_many(self, envelopes: Sequence[Envelope]) -> list[BaseException | None]:
        decoded = [Envelope.decode(envelope.encode()) for envelope in envelopes]
        try:
            dispatch_batch(decoded)
        except Exception as exc:
            if len(decoded) == 1:
                logger.exception("in-process dispatch of %s %s failed", decoded[0].type, decoded[0].id)
                return [exc]
            logger.warning("in-process dispatch of a batch of %d failed (%s); dispatching one by one",
                           len(decoded), exc)
        else:
            metrics.events_consumed(envelope.type for envelope in decoded)
            return [None] * len(decoded)
        results: list[BaseException | None] = []
        failed_keys: set[str] = set()
        for envelope in decoded:
            if envelope.key in failed_keys:
                results.append(RuntimeError(f"an earlier event of key {envelope.key} failed"))
                continue
            try:
                dispatch(envelope)
            except Exception as exc:  # reported per event; the sweep retries it
                logger.exception("in-process dispatch of %s %s failed", envelope.type, envelope.id)
                failed_keys.add(envelope.key)
                results.append(exc)
            else:
                results.append(None)
                metrics.event_consumed(envelope.type)
        return results

    def ping(self) -> None:
        """Always reachable: it is this process."""
