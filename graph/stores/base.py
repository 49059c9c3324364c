"""The graph store contract.

The relationship-weight and suggestion methods of the contract arrive with the graph-worker
issue; this base holds what every backend has from the start: reachability and closing.
"""

from abc import ABC, abstractmethod


class GraphStore(ABC):
    """A backend of the graph projection (ORM or Neo4j)."""

    @abstractmethod
    def ping(self) -> None:
        """Run a trivial query; raise if the store does not answer (``/readyz``)."""

    def close(self) -> None:
        """Release connections (called by the backend loader on settings change)."""
