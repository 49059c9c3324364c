"""The embedded-default graph store: Django ORM tables in the relational database.

Tables: :class:`graph.projection.FriendEdge` (undirected, ``low < high``) and
:class:`graph.projection.Interaction` (directed weights). Decay and scores are computed in SQL
with the rules of :mod:`graph.stores.base`; the SQL is portable (PostgreSQL and SQLite: ``CASE``
instead of ``GREATEST``, Django's registered ``POWER`` on SQLite) and always parameterised.
Friends-of-friends with their mutual counts, weights, exclusions, ranking and limit is one query.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q

from graph.projection import FriendEdge, Interaction
from graph.stores.base import (
    WEIGHT_DECIMALS,
    WEIGHT_SCORE_FACTOR,
    GraphStore,
    GraphStoreError,
    Suggestion,
    as_moment,
    canonical_pair,
    half_life_seconds,
    to_micros,
)

EDGES = FriendEdge._meta.db_table
#: A bulk load of at least this many edges refreshes the planner statistics (PostgreSQL).
ANALYZE_AFTER = 10000
WEIGHTS = Interaction._meta.db_table


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

    def ping(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
