"""The notification store contract.

The storage methods arrive with the notification-worker issue; this base holds what every
backend has from the start: reachability and closing.
"""

from abc import ABC, abstractmethod


class NotificationStore(ABC):
    """A backend of the notification store (ORM or MongoDB)."""

    @abstractmethod
    def ping(self) -> None:
        """Run a trivial command; raise if the store does not answer (``/readyz``)."""

    def close(self) -> None:
        """Release connections (called by the backend loader on settings change)."""
