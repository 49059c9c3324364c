"""The event-bus contract the outbox relay sends through."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from bellamy.events.envelope import Envelope


class EventBus(ABC):
    """Where relayed outbox events go.

    Implementations must be safe to call from several threads of one process and must keep
    the order of envelopes that share a ``key`` within one ``send_many`` call.
    """

    @abstractmethod
    def send_many(self, envelopes: Sequence[Envelope]) -> list[BaseException | None]:
        """Deliver ``envelopes`` in order.

        Returns:
            One entry per envelope: ``None`` when it was delivered (Kafka acknowledged it, or
            the in-process dispatch finished), else the exception that stopped it.
        """

    @abstractmethod
    def ping(self) -> None:
        """Raise if the bus cannot be reached (used by ``/readyz``)."""

    def close(self) -> None:
        """Release connections; the loader calls it when settings change."""
