"""The graph store contract: the derived, rebuildable projection of relationships.

PostgreSQL (:mod:`graph.models`) is the source of truth for friendships, requests and blocks;
a graph store keeps a *projection* of it that relationship weights and friend suggestions are
computed from. Two backends implement this contract identically (one contract test suite runs
against both): :class:`graph.stores.orm.OrmGraphStore` (Django tables, the embedded default) and
:class:`graph.stores.neo4j.Neo4jGraphStore` (Neo4j through neomodel).

Ids are user ids (ints). The store does not check that a user exists in PostgreSQL: it creates
a node / row for any id it is given.

**Weights and decay.** An *interaction weight* is directed (``from → to``: the viewer who liked
or commented → the author). Each pair stores ``(weight, updated_at)``; decay is applied **on
read** with an exponential half-life ``H`` (``settings.BELLAMY_WEIGHT_HALF_LIFE_DAYS``, default
14 days)::

    effective(at) = weight * 0.5 ** (max(0, at - updated_at) / H)

``strengthen(amount, at)`` stores ``max(0, effective(at) + amount)`` with
``updated_at = max(updated_at, at)`` (an event older than the stored time is added undecayed,
never "un-decays" the pair). There is no periodic decay task: nothing to run, nothing to miss.
Weights are returned rounded to :data:`WEIGHT_DECIMALS` decimals, so both backends answer with
identical floats.

**Suggestion score.** For user ``u`` and a friend-of-friend candidate ``c`` with mutual friends
``M`` (friends of both)::

    score = |M| + WEIGHT_SCORE_FACTOR * (sum over m in M of w(u → m)  +  w(u → c)  +  w(c → u))

rounded to :data:`WEIGHT_DECIMALS` decimals (``w`` = effective weight now). Mutual friends
dominate; interacting a lot with a friend lifts that friend's friends; interacting with the
candidate directly (a liked public post) lifts the candidate. Order: score desc, mutual friends
desc, user id asc (deterministic).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

#: Weights and scores are rounded to this many decimals by every backend.
WEIGHT_DECIMALS = 6
#: Multiplier of the weight sum in the suggestion score (see the module docstring).
WEIGHT_SCORE_FACTOR = 0.1
#: Default half-life of interaction weights, in days (``BELLAMY_WEIGHT_HALF_LIFE_DAYS``).
DEFAULT_HALF_LIFE_DAYS = 14.0


class GraphStoreError(Exception):
    """A graph store refused an operation (e.g. ``clear()`` on a non-test store)."""


@dataclass(frozen=True)
class Suggestion:
    """A friend suggestion: ``user_id`` with ``mutual_friends`` (>= 1) and its ``score``."""

    user_id: int
    mutual_friends: int
    score: float


def half_life_seconds() -> float:
    """The weight half-life in seconds (``settings.BELLAMY_WEIGHT_HALF_LIFE_DAYS``, default 14)."""
    days = float(getattr(settings, "BELLAMY_WEIGHT_HALF_LIFE_DAYS", DEFAULT_HALF_LIFE_DAYS))
    if days <= 0:
        raise GraphStoreError(f"BELLAMY_WEIGHT_HALF_LIFE_DAYS must be > 0, not {days}")
    return days * 86400.0


def as_moment(at: datetime | None) -> datetime:
    """Return ``at`` as an aware UTC datetime (now when ``None``; naive values are taken as UTC)."""
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def to_micros(at: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact integer arithmetic)."""
    delta = at - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def canonical_pair(a: int, b: int) -> tuple[int, int]:
    """``(low, high)`` of two distinct user ids.

    Raises:
        ValueError: ``a == b`` (nobody is their own friend).
    """
    if a == b:
        raise ValueError(f"a user cannot be paired with themself ({a})")
    return (a, b) if a < b else (b, a)


class GraphStore(ABC):
    """A backend of the graph projection (ORM or Neo4j). See the module docstring for decay,
    score and ordering rules, which every backend follows exactly."""

    # --- friendships (undirected) -------------------------------------------------------------

    @abstractmethod
    def add_friendship(self, a: int, b: int) -> None:
        """Record that users ``a`` and ``b`` are friends (idempotent; creates missing users).

        Raises:
            ValueError: ``a == b``.
        """

    @abstractmethod
    def remove_friendship(self, a: int, b: int) -> None:
        """Forget the friendship of ``a`` and ``b`` (no-op when absent). Weights are kept."""

    @abstractmethod
    def bulk_add_friendships(self, pairs: Iterable[tuple[int, int]]) -> int:
        """Add many friendships in one round trip per backend batch (idempotent).

        Args:
            pairs: ``(a, b)`` user id pairs in any order; self pairs are skipped.
        Returns:
            The number of distinct valid pairs given (not only the new ones).
        """

    @abstractmethod
    def friend_ids(self, user_id: int) -> set[int]:
        """The ids of ``user_id``'s friends in the projection (empty for an unknown user)."""

    @abstractmethod
    def mutual_friend_count(self, a: int, b: int) -> int:
        """How many users are friends of both ``a`` and ``b`` (0 for unknown users)."""

    @abstractmethod
    def suggestions(self, user_id: int, limit: int, exclude: set[int] | frozenset[int] = frozenset(),
                    at: datetime | None = None) -> list[Suggestion]:
        """Friends-of-friends of ``user_id`` ranked by the score of the module docstring.

        Never returns ``user_id`` itself, a current friend, or an id in ``exclude`` (the caller
        passes pending requests either way and blocks either way, read from PostgreSQL).

        Args:
            limit: at most this many suggestions (>= 1).
            exclude: user ids to leave out.
            at: the moment weights are evaluated at (default now).
        Returns:
            ``[Suggestion(user_id, mutual_friends, score)]``, score desc, mutual desc, id asc.
        """

    # --- interaction weights (directed) -------------------------------------------------------

    @abstractmethod
    def strengthen(self, from_id: int, to_id: int, amount: float, at: datetime | None = None) -> float:
        """Add ``amount`` (may be negative: a weakening) to the decayed weight ``from → to``.

        Stores ``max(0, effective(at) + amount)`` at ``max(updated_at, at)``; atomic per pair.

        Returns:
            The new weight (rounded to :data:`WEIGHT_DECIMALS`).
        Raises:
            ValueError: ``from_id == to_id`` (self-interactions are not recorded).
        """

    @abstractmethod
    def weight(self, from_id: int, to_id: int, at: datetime | None = None) -> float:
        """The decayed weight ``from → to`` at ``at`` (default now); 0.0 when never recorded."""

    @abstractmethod
    def top_relations(self, user_id: int, limit: int, at: datetime | None = None) -> list[tuple[int, float]]:
        """The ``limit`` strongest outgoing weights of ``user_id`` at ``at``.

        Returns:
            ``[(to_user_id, weight)]`` with weight > 0, weight desc then user id asc.
        """

    @abstractmethod
    def clear_interactions(self, a: int, b: int) -> None:
        """Delete the weights ``a → b`` and ``b → a`` (a block ends the relationship)."""

    @abstractmethod
    def bulk_set_weights(self, rows: Iterable[tuple[int, int, float, datetime]]) -> int:
        """Overwrite many weights: ``(from_id, to_id, weight, updated_at)``; self rows skipped.

        Used by the backfill, which computes decayed sums itself. Returns the number written.
        """

    # --- users and maintenance ----------------------------------------------------------------

    @abstractmethod
    def delete_user(self, user_id: int) -> None:
        """Remove ``user_id`` with all its friendships and weights (both directions)."""

    @abstractmethod
    def stats(self) -> dict[str, int]:
        """Sizes of the whole projection: ``{"users", "friendships", "interactions"}``."""

    @abstractmethod
    def clear(self, *, force: bool = False) -> None:
        """Delete the whole projection (tests, full backfill).

        Raises:
            GraphStoreError: the store is not a test store and ``force`` is False.
        """

    @abstractmethod
    def ping(self) -> None:
        """Run a trivial query; raise if the store does not answer (``/readyz``)."""

    def close(self) -> None:
        """Release connections (called by the backend loader on settings change)."""
