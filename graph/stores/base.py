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

**Batches, exactly once** (the graph worker, :mod:`graph.sync`). :meth:`GraphStore.set_friendships`
makes many edges present or absent in one write; :meth:`GraphStore.apply_interactions` applies
all the weight changes of a batch of events — in order, one :func:`fold_interactions` over the
pairs' stored values read under lock — with one bulk write, and records the id of every event
it applied together with the :class:`InteractionStep` list it produced, in the same transaction
as the weights. An event id it has recorded is never applied again: a redelivered batch changes
nothing and gets the recorded steps back (so the caller can still publish what the first attempt
could not). Neo4j writes are not part of the caller's PostgreSQL transaction, which is why the
record lives in the store itself; records older than :data:`APPLIED_RETENTION` are pruned
(:meth:`GraphStore.prune_applied`).

**Namespaces.** A store belongs to one deployment. The ORM store's tables live in the
deployment's own database; the Neo4j store labels every node with its namespace
(:mod:`graph.stores.neo4j`), so two deployments on one Neo4j server never see each other's data
and :meth:`GraphStore.clear` only ever clears its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings

#: Weights and scores are rounded to this many decimals by every backend.
WEIGHT_DECIMALS = 6
#: Multiplier of the weight sum in the suggestion score (see the module docstring).
WEIGHT_SCORE_FACTOR = 0.1
#: Default half-life of interaction weights, in days (``BELLAMY_WEIGHT_HALF_LIFE_DAYS``).
DEFAULT_HALF_LIFE_DAYS = 14.0
#: How long a store remembers the events it applied (:meth:`GraphStore.prune_applied`): as long
#: as the task idempotency records (``prune_outbox``'s processed retention), past which no
#: redelivery is expected.
APPLIED_RETENTION = timedelta(days=7)


class GraphStoreError(Exception):
    """A graph store refused an operation (e.g. ``clear()`` on a non-test store)."""


@dataclass(frozen=True)
class Suggestion:
    """A friend suggestion: ``user_id`` with ``mutual_friends`` (>= 1) and its ``score``."""

    user_id: int
    mutual_friends: int
    score: float


@dataclass(frozen=True)
class InteractionChange:
    """One weight change of a batch, from the event ``event_id``.

    Either ``amount`` (positive: strengthen, negative: weaken; floored at 0) added to the
    directed weight ``from_id → to_id`` at ``at``, or, with ``clear=True``, both weights
    ``from_id → to_id`` and ``to_id → from_id`` deleted (a block ends the relationship).

    Attributes:
        event_id: the envelope id (uuid string); one event may carry several changes.
        from_id, to_id: distinct user ids.
        amount: weight units (see :mod:`graph.weights`); ignored when ``clear``.
        at: the event's moment (aware; naive is taken as UTC).
        clear: delete the pair's weights instead of changing one.
    """

    event_id: str
    from_id: int
    to_id: int
    at: datetime
    amount: float = 0.0
    clear: bool = False


@dataclass(frozen=True)
class InteractionStep:
    """What one change did to one directed weight: ``before`` (the stored weight decayed to the
    change's moment, 0.0 when absent) and ``after``, both rounded to :data:`WEIGHT_DECIMALS`.
    A ``clear`` change gives two steps (both directions), each ending at 0.0."""

    event_id: str
    from_id: int
    to_id: int
    before: float
    after: float


#: A pair's stored state: ``(weight, updated_at in epoch microseconds)``, or ``None`` when absent.
PairState = tuple[float, int] | None


def decayed(weight: float, updated_us: int, at_us: int, half_life_s: float) -> float:
    """``weight`` stored at ``updated_us`` decayed to ``at_us`` (never "un-decays": a moment
    before ``updated_us`` counts as no time passed). Same arithmetic as the stores' queries."""
    elapsed = at_us - updated_us if at_us > updated_us else 0
    return weight * 0.5 ** (float(elapsed) / 1000000.0 / half_life_s)


def fold_interactions(
    states: Mapping[tuple[int, int], PairState], changes: Sequence[InteractionChange], half_life_s: float
) -> tuple[dict[tuple[int, int], PairState], list[InteractionStep]]:
    """Apply ``changes`` in order to the pairs' ``states`` (pure; both stores use it).

    A change of ``amount`` at ``t`` on a pair ``(w, u)`` stores ``max(0, decayed(w, u, t) +
    amount)`` at ``max(u, t)``; on an absent pair, ``max(0, amount)`` at ``t``. A ``clear``
    makes both directions absent. Applying the changes one call at a time or all in one call
    gives the same states and steps.

    Args:
        states: the current state of every directed pair the changes touch (absent: ``None``
            or missing).
        changes: in delivery order; no self pairs.
        half_life_s: the weight half-life in seconds.
    Returns:
        ``(final states of the touched pairs, steps in change order)``.
    Raises:
        ValueError: a change with ``from_id == to_id``.
    """
    final: dict[tuple[int, int], PairState] = dict(states)
    steps: list[InteractionStep] = []
    for change in changes:
        if change.from_id == change.to_id:
            raise ValueError(f"self-interaction of user {change.from_id} is not recorded")
        at_us = to_micros(as_moment(change.at))
        directions = [(change.from_id, change.to_id)]
        if change.clear:
            directions.append((change.to_id, change.from_id))
        for pair in directions:
            state = final.get(pair)
            before = decayed(state[0], state[1], at_us, half_life_s) if state else 0.0
            if change.clear:
                final[pair], after = None, 0.0
            else:
                after = before + float(change.amount)
                after = after if after > 0 else 0.0
                final[pair] = (after, max(state[1], at_us) if state else at_us)
            steps.append(InteractionStep(change.event_id, pair[0], pair[1],
                                         round(before, WEIGHT_DECIMALS), round(after, WEIGHT_DECIMALS)))
    return final, steps


def steps_to_json(steps: Sequence[InteractionStep]) -> list[list]:
    """The steps of one event as JSON-ready ``[[from, to, before, after], ...]`` (the record an
    applied event keeps)."""
    return [[s.from_id, s.to_id, s.before, s.after] for s in steps]


def steps_from_json(event_id: str, rows: Iterable[Sequence]) -> list[InteractionStep]:
    """Inverse of :func:`steps_to_json` for the event ``event_id``."""
    return [InteractionStep(event_id, int(f), int(t), float(b), float(a)) for f, t, b, a in rows]


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
    def set_friendships(self, edges: Mapping[tuple[int, int], bool]) -> int:
        """Make each pair's friend edge present (``True``) or absent (``False``), in one write
        (idempotent; creates missing users). The graph worker passes the state PostgreSQL has,
        so the projection converges whatever order the events arrived in.

        Args:
            edges: ``{(a, b): present}``; pairs in any order, self pairs skipped.
        Returns:
            The number of distinct valid pairs given.
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
    def apply_interactions(self, changes: Sequence[InteractionChange]) -> list[InteractionStep]:
        """Apply a batch's weight changes, exactly once per event id (module docstring).

        Reads the touched pairs under lock, folds the changes of the events not applied before
        (:func:`fold_interactions`), writes the final weights in one bulk statement and records
        each applied event id with its steps — all in one transaction of the store.

        Args:
            changes: in delivery order; the changes of one event are consecutive or not, as
                given. Self pairs are refused.
        Returns:
            The steps, event by event in the order of each event's first change and, within an
            event, in change order: computed now for new events, the recorded ones for events
            applied by an earlier call.
        Raises:
            ValueError: a self pair (nothing is written).
        """

    @abstractmethod
    def prune_applied(self, before: datetime) -> int:
        """Forget the applied-event records made before ``before``. Returns how many."""

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
        """Sizes of this deployment's projection: ``{"users", "friendships", "interactions"}``
        (users: those with at least one friend edge)."""

    @abstractmethod
    def clear(self, *, force: bool = False) -> None:
        """Delete this deployment's whole projection and applied-event records (tests, full
        backfill); another namespace's data on the same server is never touched.

        Raises:
            GraphStoreError: the store is not a test store and ``force`` is False.
        """

    @abstractmethod
    def ping(self) -> None:
        """Run a trivial query; raise if the store does not answer (``/readyz``)."""

    def close(self) -> None:
        """Release connections (called by the backend loader on settings change)."""
