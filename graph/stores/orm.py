"""The embedded-default graph store: Django ORM tables in the relational database.

Tables: :class:`graph.projection.FriendEdge` (undirected, ``low < high``),
:class:`graph.projection.Interaction` (directed weights) and :class:`graph.projection.AppliedEvent`
(the events :meth:`OrmGraphStore.apply_interactions` applied). Decay and scores are computed in SQL
with the rules of :mod:`graph.stores.base`; the SQL is portable (PostgreSQL and SQLite: ``CASE``
instead of ``GREATEST``, Django's registered ``POWER`` on SQLite) and always parameterised.
Friends-of-friends with their mutual counts, weights, exclusions, ranking and limit is one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import reduce
from operator import or_

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from graph.projection import AppliedEvent, FriendEdge, Interaction
from graph.stores.base import (
    WEIGHT_DECIMALS,
    WEIGHT_SCORE_FACTOR,
    GraphStore,
    GraphStoreError,
    InteractionChange,
    InteractionStep,
    PairState,
    Suggestion,
    as_moment,
    canonical_pair,
    fold_interactions,
    half_life_seconds,
    steps_from_json,
    steps_to_json,
    to_micros,
)

EDGES = FriendEdge._meta.db_table
#: A bulk load of at least this many edges refreshes the planner statistics (PostgreSQL).
ANALYZE_AFTER = 10000
WEIGHTS = Interaction._meta.db_table
#: Most pairs per locking statement of :meth:`OrmGraphStore.apply_interactions` (a batch of the
#: forwarder stays below it; it keeps any batch under SQLite's bind-parameter limit).
LOCK_CHUNK = 2000
#: ``updated_at`` of a placeholder row: weight 0 at the epoch folds exactly like an absent pair.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _pairs_q(pairs: Iterable[tuple[int, int]], first: str, second: str) -> Q:
    """``Q`` matching any of ``pairs`` on the fields ``first`` / ``second``."""
    return reduce(or_, (Q(**{first: a, second: b}) for a, b in pairs))


def _decayed(alias: str) -> str:
    """SQL of ``alias``'s decayed weight; takes two params: ``at_us``, ``at_us``, ``half_life_s``.

    ``weight * 0.5 ^ (max(0, at_us - updated_us) / 1e6 / half_life_s)``.
    """
    return (
        f"{alias}.weight * POWER(CAST(0.5 AS DOUBLE PRECISION), "
        f"CAST(CASE WHEN %s > {alias}.updated_us THEN %s - {alias}.updated_us ELSE 0 END "
        f"AS DOUBLE PRECISION) / 1000000.0 / %s)"
    )


def _rounded(sql: str) -> str:
    return f"ROUND(CAST({sql} AS NUMERIC), {WEIGHT_DECIMALS})"


class OrmGraphStore(GraphStore):
    """Graph projection kept in the relational database (the embedded default).

    Writes join the caller's transaction, so an event task's effects and its idempotency
    record commit together (exactly-once for this backend).

    Args:
        batch_size: rows per ``bulk_create`` batch.
    """

    def __init__(self, *, batch_size: int = 5000):
        self.batch_size = batch_size

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _clock(at: datetime | None) -> tuple[datetime, int, float]:
        moment = as_moment(at)
        return moment, to_micros(moment), half_life_seconds()

    @staticmethod
    def _fetch(sql: str, params: list) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    # --- friendships --------------------------------------------------------------------------

    def add_friendship(self, a: int, b: int) -> None:
        low, high = canonical_pair(a, b)
        FriendEdge.objects.bulk_create(
            [FriendEdge(user_low_id=low, user_high_id=high)], ignore_conflicts=True
        )

    def remove_friendship(self, a: int, b: int) -> None:
        if a == b:
            return
        low, high = canonical_pair(a, b)
        FriendEdge.objects.filter(user_low_id=low, user_high_id=high).delete()

    def bulk_add_friendships(self, pairs: Iterable[tuple[int, int]]) -> int:
        unique = sorted({canonical_pair(int(a), int(b)) for a, b in pairs if a != b})
        if connection.vendor == "postgresql":
            # One ``INSERT … SELECT unnest(arrays)`` per batch: no model instances, 5× faster.
            with connection.cursor() as cursor:
                for start in range(0, len(unique), self.batch_size):
                    batch = unique[start:start + self.batch_size]
                    cursor.execute(
                        f"INSERT INTO {EDGES} (user_low_id, user_high_id) "
                        f"SELECT * FROM unnest(%s::bigint[], %s::bigint[]) ON CONFLICT DO NOTHING",
                        [[low for low, _ in batch], [high for _, high in batch]],
                    )
                if len(unique) >= ANALYZE_AFTER:
                    cursor.execute(f"ANALYZE {EDGES}")  # fresh statistics, or the planner guesses
        else:
            FriendEdge.objects.bulk_create(
                [FriendEdge(user_low_id=low, user_high_id=high) for low, high in unique],
                ignore_conflicts=True,
                batch_size=self.batch_size,
            )
        return len(unique)

    def set_friendships(self, edges: Mapping[tuple[int, int], bool]) -> int:
        wanted: dict[tuple[int, int], bool] = {}
        for (a, b), present in edges.items():
            if a != b:
                wanted[canonical_pair(int(a), int(b))] = bool(present)
        add = sorted(pair for pair, present in wanted.items() if present)
        remove = sorted(pair for pair, present in wanted.items() if not present)
        with transaction.atomic():
            if add:
                FriendEdge.objects.bulk_create(
                    [FriendEdge(user_low_id=low, user_high_id=high) for low, high in add],
                    ignore_conflicts=True, batch_size=self.batch_size,
                )
            if remove:
                FriendEdge.objects.filter(_pairs_q(remove, "user_low_id", "user_high_id")).delete()
        return len(wanted)

    def friend_ids(self, user_id: int) -> set[int]:
        rows = self._fetch(
            f"SELECT user_high_id FROM {EDGES} WHERE user_low_id = %s "
            f"UNION ALL SELECT user_low_id FROM {EDGES} WHERE user_high_id = %s",
            [user_id, user_id],
        )
        return {row[0] for row in rows}

    def mutual_friend_count(self, a: int, b: int) -> int:
        if a == b:
            return 0
        sql = (
            f"WITH fa AS (SELECT user_high_id AS id FROM {EDGES} WHERE user_low_id = %s "
            f"UNION ALL SELECT user_low_id FROM {EDGES} WHERE user_high_id = %s), "
            f"fb AS (SELECT user_high_id AS id FROM {EDGES} WHERE user_low_id = %s "
            f"UNION ALL SELECT user_low_id FROM {EDGES} WHERE user_high_id = %s) "
            f"SELECT COUNT(*) FROM fa JOIN fb ON fa.id = fb.id"
        )
        return self._fetch(sql, [a, a, b, b])[0][0]

    def suggestions(self, user_id, limit, exclude=frozenset(), at=None) -> list[Suggestion]:
        if limit < 1:
            return []
        _moment, at_us, half_life = self._clock(at)
        decay = [at_us, at_us, half_life]
        excluded = sorted({int(x) for x in exclude})
        exclude_sql = ""
        if excluded:
            exclude_sql = f" AND fof.c NOT IN ({', '.join(['%s'] * len(excluded))})"
        score = (
            f"cand.mutual + %s * (cand.wsum + COALESCE({_decayed('d1')}, 0) "
            f"+ COALESCE({_decayed('d2')}, 0))"
        )
        sql = (
            f"WITH f AS (SELECT user_high_id AS id FROM {EDGES} WHERE user_low_id = %s "
            f"  UNION ALL SELECT user_low_id FROM {EDGES} WHERE user_high_id = %s), "
            f"fw AS (SELECT f.id AS id, COALESCE({_decayed('i')}, 0) AS w FROM f "
            f"  LEFT JOIN {WEIGHTS} i ON i.from_user_id = %s AND i.to_user_id = f.id), "
            f"fof AS (SELECT e.user_high_id AS c, fw.w AS w FROM fw JOIN {EDGES} e ON e.user_low_id = fw.id "
            f"  UNION ALL SELECT e.user_low_id, fw.w FROM fw JOIN {EDGES} e ON e.user_high_id = fw.id), "
            f"cand AS (SELECT fof.c AS c, COUNT(*) AS mutual, SUM(fof.w) AS wsum FROM fof "
            f"  WHERE fof.c <> %s AND fof.c NOT IN (SELECT id FROM f){exclude_sql} GROUP BY fof.c) "
            f"SELECT cand.c, cand.mutual, {_rounded(score)} AS score FROM cand "
            f"LEFT JOIN {WEIGHTS} d1 ON d1.from_user_id = %s AND d1.to_user_id = cand.c "
            f"LEFT JOIN {WEIGHTS} d2 ON d2.from_user_id = cand.c AND d2.to_user_id = %s "
            f"ORDER BY score DESC, cand.mutual DESC, cand.c ASC LIMIT %s"
        )
        params = [user_id, user_id, *decay, user_id, user_id, *excluded,
                  WEIGHT_SCORE_FACTOR, *decay, *decay, user_id, user_id, limit]
        return [Suggestion(int(c), int(m), float(s)) for c, m, s in self._fetch(sql, params)]

    # --- weights ------------------------------------------------------------------------------

    def strengthen(self, from_id, to_id, amount, at=None) -> float:
        if from_id == to_id:
            raise ValueError(f"self-interaction of user {from_id} is not recorded")
        moment, at_us, half_life = self._clock(at)
        amount = float(amount)
        old = WEIGHTS
        new_weight = f"{_decayed(old)} + %s"
        sql = (
            f"INSERT INTO {WEIGHTS} (from_user_id, to_user_id, weight, updated_at, updated_us) "
            f"VALUES (%s, %s, %s, %s, %s) "
            f"ON CONFLICT (from_user_id, to_user_id) DO UPDATE SET "
            f"weight = CASE WHEN {new_weight} > 0 THEN {new_weight} ELSE 0 END, "
            f"updated_at = CASE WHEN excluded.updated_us > {old}.updated_us "
            f"  THEN excluded.updated_at ELSE {old}.updated_at END, "
            f"updated_us = CASE WHEN excluded.updated_us > {old}.updated_us "
            f"  THEN excluded.updated_us ELSE {old}.updated_us END "
            f"RETURNING weight"
        )
        decay = [at_us, at_us, half_life]
        params = [from_id, to_id, max(0.0, amount), moment, at_us,
                  *decay, amount, *decay, amount]
        with transaction.atomic():
            (weight,) = self._fetch(sql, params)[0]
        return round(float(weight), WEIGHT_DECIMALS)

    def _lock_pairs(self, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], PairState]:
        """Lock the weight rows of ``pairs`` (sorted) and return their stored state.

        One ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` per :data:`LOCK_CHUNK` pairs: a missing
        row is created as a placeholder (weight 0 at the epoch, which folds exactly like an
        absent pair), an existing one is locked by a no-op update. Either way the row stays
        locked until the transaction ends, and a concurrent writer of the same pair waits, then
        reads what this one committed.
        """
        updated_at = Interaction._meta.get_field("updated_at").get_db_prep_value(_EPOCH, connection)
        states: dict[tuple[int, int], PairState] = {}
        for start in range(0, len(pairs), LOCK_CHUNK):
            chunk = pairs[start:start + LOCK_CHUNK]
            values = ", ".join(["(%s, %s, 0.0, %s, 0)"] * len(chunk))
            params = [value for from_id, to_id in chunk for value in (from_id, to_id, updated_at)]
            rows = self._fetch(
                f"INSERT INTO {WEIGHTS} (from_user_id, to_user_id, weight, updated_at, updated_us) "
                f"VALUES {values} ON CONFLICT (from_user_id, to_user_id) DO UPDATE SET weight = {WEIGHTS}.weight "
                f"RETURNING from_user_id, to_user_id, weight, updated_us",
                params,
            )
            states.update({(int(f), int(t)): (float(w), int(u)) for f, t, w, u in rows})
        return states

    def apply_interactions(self, changes: Sequence[InteractionChange]) -> list[InteractionStep]:
        changes = list(changes)
        for change in changes:
            if change.from_id == change.to_id:
                raise ValueError(f"self-interaction of user {change.from_id} is not recorded")
        if not changes:
            return []
        order = list(dict.fromkeys(change.event_id for change in changes))
        with transaction.atomic():
            recorded = {
                event_id: steps_from_json(event_id, rows)
                for event_id, rows in AppliedEvent.objects.filter(event_id__in=order).values_list("event_id", "steps")
            }
            new = [change for change in changes if change.event_id not in recorded]
            if new:
                pairs = sorted({(c.from_id, c.to_id) for c in new} | {(c.to_id, c.from_id) for c in new if c.clear})
                final, steps = fold_interactions(self._lock_pairs(pairs), new, half_life_seconds())
                kept = []
                for (from_id, to_id), state in sorted(final.items()):
                    if state is not None:
                        moment = _EPOCH + timedelta(microseconds=state[1])
                        kept.append(Interaction(from_user_id=from_id, to_user_id=to_id, weight=state[0],
                                                updated_at=moment, updated_us=state[1]))
                gone = sorted(pair for pair, state in final.items() if state is None)
                if kept:
                    Interaction.objects.bulk_create(
                        kept, update_conflicts=True, unique_fields=["from_user_id", "to_user_id"],
                        update_fields=["weight", "updated_at", "updated_us"], batch_size=self.batch_size,
                    )
                if gone:
                    Interaction.objects.filter(_pairs_q(gone, "from_user_id", "to_user_id")).delete()
                by_event: dict[str, list[InteractionStep]] = {event_id: [] for event_id in order}
                for step in steps:
                    by_event[step.event_id].append(step)
                now = timezone.now()
                AppliedEvent.objects.bulk_create(
                    [AppliedEvent(event_id=event_id, steps=steps_to_json(by_event[event_id]), applied_at=now)
                     for event_id in order if event_id not in recorded],
                    batch_size=self.batch_size,
                )
                recorded.update({event_id: by_event[event_id] for event_id in order if event_id not in recorded})
        return [step for event_id in order for step in recorded[event_id]]

    def prune_applied(self, before: datetime) -> int:
        deleted, _ = AppliedEvent.objects.filter(applied_at__lt=before).delete()
        return deleted

    def weight(self, from_id, to_id, at=None) -> float:
        _moment, at_us, half_life = self._clock(at)
        rows = self._fetch(
            f"SELECT {_rounded(_decayed('i'))} FROM {WEIGHTS} i "
            f"WHERE i.from_user_id = %s AND i.to_user_id = %s",
            [at_us, at_us, half_life, from_id, to_id],
        )
        return float(rows[0][0]) if rows else 0.0

    def top_relations(self, user_id, limit, at=None) -> list[tuple[int, float]]:
        if limit < 1:
            return []
        _moment, at_us, half_life = self._clock(at)
        rows = self._fetch(
            f"SELECT t.to_user_id, t.w FROM (SELECT i.to_user_id AS to_user_id, "
            f"{_rounded(_decayed('i'))} AS w FROM {WEIGHTS} i WHERE i.from_user_id = %s) t "
            f"WHERE t.w > 0 ORDER BY t.w DESC, t.to_user_id ASC LIMIT %s",
            [at_us, at_us, half_life, user_id, limit],
        )
        return [(int(uid), float(w)) for uid, w in rows]

    def clear_interactions(self, a: int, b: int) -> None:
        Interaction.objects.filter(
            Q(from_user_id=a, to_user_id=b) | Q(from_user_id=b, to_user_id=a)
        ).delete()

    def bulk_set_weights(self, rows) -> int:
        objects = []
        for from_id, to_id, weight, updated_at in rows:
            if from_id == to_id:
                continue
            moment = as_moment(updated_at)
            objects.append(Interaction(from_user_id=from_id, to_user_id=to_id, weight=max(0.0, float(weight)),
                                       updated_at=moment, updated_us=to_micros(moment)))
        Interaction.objects.bulk_create(
            objects,
            update_conflicts=True,
            unique_fields=["from_user_id", "to_user_id"],
            update_fields=["weight", "updated_at", "updated_us"],
            batch_size=self.batch_size,
        )
        return len(objects)

    # --- users and maintenance ----------------------------------------------------------------

    def delete_user(self, user_id: int) -> None:
        with transaction.atomic():
            FriendEdge.objects.filter(Q(user_low_id=user_id) | Q(user_high_id=user_id)).delete()
            Interaction.objects.filter(Q(from_user_id=user_id) | Q(to_user_id=user_id)).delete()

    def stats(self) -> dict[str, int]:
        users = self._fetch(
            f"SELECT COUNT(*) FROM (SELECT user_low_id FROM {EDGES} UNION SELECT user_high_id FROM {EDGES}) u",
            [],
        )[0][0]
        return {"users": users, "friendships": FriendEdge.objects.count(),
                "interactions": Interaction.objects.count()}

    def is_test_store(self) -> bool:
        """True when the database is a test database (``test_*`` name or in-memory SQLite)."""
        name = str(connection.settings_dict.get("NAME") or "")
        return name.startswith("test_") or name in (":memory:", "") or "mode=memory" in name

    def clear(self, *, force: bool = False) -> None:
        if not force and not self.is_test_store():
            raise GraphStoreError(
                f"refusing to clear the graph projection in database {connection.settings_dict.get('NAME')!r}"
                " (not a test database); pass force=True"
            )
        with transaction.atomic():
            FriendEdge.objects.all().delete()
            Interaction.objects.all().delete()
            AppliedEvent.objects.all().delete()

    def ping(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
