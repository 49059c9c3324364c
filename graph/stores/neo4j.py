"""The production graph store: Neo4j through neomodel (parameterised Cypher only).

Model (ARCHITECTURE.md §5): ``(:User {user_id})-[:FRIEND]->(:User)`` stored once per pair in
the canonical direction low id → high id and matched undirected; and
``(:User)-[:INTERACTS {weight, updated_at}]->(:User)`` where ``updated_at`` is an integer of
microseconds since the Unix epoch (exact; the same clock as the ORM store). The neomodel
classes below declare the schema (``manage.py graph_install_schema`` installs the uniqueness
constraint on ``User.user_id``); reads and writes are ``db.cypher_query(query, params)`` with
every value passed as a parameter — no query text is ever built from values.

Writes are not part of the PostgreSQL transaction of an event task: after a crash between the
Neo4j write and the task's commit, a redelivered event is applied again (at-least-once for
this backend; edge writes are idempotent MERGEs, a weight may be strengthened twice).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from urllib.parse import urlsplit

from neomodel import (
    FloatProperty,
    IntegerProperty,
    Relationship,
    RelationshipTo,
    StructuredNode,
    StructuredRel,
    db,
)

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


class Interacts(StructuredRel):
    """``INTERACTS``: directed weight (>= 0) as of ``updated_at`` (epoch microseconds)."""

    weight = FloatProperty(default=0.0)
    updated_at = IntegerProperty(required=True)


class User(StructuredNode):
    """A user of the projection, identified by its PostgreSQL id (label ``User``)."""

    user_id = IntegerProperty(unique_index=True, required=True)
    friends = Relationship("User", "FRIEND")
    interacts = RelationshipTo("User", "INTERACTS", model=Interacts)


def _decay(rel: str) -> str:
    """Cypher of ``rel``'s decayed weight at ``$at`` (µs) with half-life ``$hl`` (s)."""
    return (
        f"{rel}.weight * 0.5 ^ (toFloat(CASE WHEN $at > {rel}.updated_at THEN $at - {rel}.updated_at "
        f"ELSE 0 END) / 1000000.0 / $hl)"
    )


ADD_FRIENDS = """
UNWIND $pairs AS p
MERGE (a:User {user_id: p[0]})
MERGE (b:User {user_id: p[1]})
MERGE (a)-[:FRIEND]->(b)
"""

REMOVE_FRIEND = """
MATCH (:User {user_id: $low})-[r:FRIEND]-(:User {user_id: $high}) DELETE r
"""

FRIEND_IDS = "MATCH (:User {user_id: $u})-[:FRIEND]-(f:User) RETURN f.user_id"

MUTUAL = """
MATCH (:User {user_id: $a})-[:FRIEND]-(m:User)-[:FRIEND]-(:User {user_id: $b})
RETURN count(DISTINCT m)
"""

SUGGESTIONS = f"""
MATCH (u:User {{user_id: $u}})-[:FRIEND]-(m:User)
OPTIONAL MATCH (u)-[i:INTERACTS]->(m)
WITH u, m, coalesce({_decay('i')}, 0.0) AS wm
MATCH (m)-[:FRIEND]-(c:User)
WHERE c <> u
WITH u, c, count(*) AS mutual, sum(wm) AS wsum
WHERE NOT c.user_id IN $exclude AND NOT (u)-[:FRIEND]-(c)
OPTIONAL MATCH (u)-[d1:INTERACTS]->(c)
OPTIONAL MATCH (c)-[d2:INTERACTS]->(u)
WITH c, mutual,
     round(mutual + $factor * (wsum + coalesce({_decay('d1')}, 0.0) + coalesce({_decay('d2')}, 0.0)),
           {WEIGHT_DECIMALS}) AS score
RETURN c.user_id, mutual, score
ORDER BY score DESC, mutual DESC, c.user_id ASC
LIMIT $limit
"""

STRENGTHEN = f"""
MERGE (a:User {{user_id: $from}})
MERGE (b:User {{user_id: $to}})
MERGE (a)-[r:INTERACTS]->(b)
  ON CREATE SET r.weight = 0.0, r.updated_at = $at
WITH r, {_decay('r')} + $amount AS w
SET r.weight = CASE WHEN w > 0 THEN w ELSE 0.0 END,
    r.updated_at = CASE WHEN $at > r.updated_at THEN $at ELSE r.updated_at END
RETURN r.weight
"""

WEIGHT = f"""
MATCH (:User {{user_id: $from}})-[r:INTERACTS]->(:User {{user_id: $to}})
RETURN round({_decay('r')}, {WEIGHT_DECIMALS})
"""

TOP_RELATIONS = f"""
MATCH (:User {{user_id: $u}})-[r:INTERACTS]->(t:User)
WITH t, round({_decay('r')}, {WEIGHT_DECIMALS}) AS w
WHERE w > 0
RETURN t.user_id, w ORDER BY w DESC, t.user_id ASC LIMIT $limit
"""

CLEAR_INTERACTIONS = """
MATCH (:User {user_id: $a})-[r:INTERACTS]-(:User {user_id: $b}) DELETE r
"""

SET_WEIGHTS = """
UNWIND $rows AS row
MERGE (a:User {user_id: row[0]})
MERGE (b:User {user_id: row[1]})
MERGE (a)-[r:INTERACTS]->(b)
SET r.weight = row[2], r.updated_at = row[3]
"""

DELETE_USER = "MATCH (n:User {user_id: $u}) DETACH DELETE n"

CLEAR_BATCH = "MATCH (n:User) WITH n LIMIT $batch DETACH DELETE n RETURN count(*)"

STATS = """
CALL () { MATCH (n:User) WHERE (n)-[:FRIEND]-() RETURN count(n) AS users }
CALL () { MATCH ()-[f:FRIEND]->() RETURN count(f) AS friendships }
CALL () { MATCH ()-[i:INTERACTS]->() RETURN count(i) AS interactions }
RETURN users, friendships, interactions
"""


#: The URL neomodel's global ``db`` was last connected to by a store.
_connected_url: str | None = None


class Neo4jGraphStore(GraphStore):
    """Graph projection kept in Neo4j.

    Args:
        url: ``bolt://user:password@host:7687`` (neomodel wants credentials even with auth off).
        batch_size: rows per ``UNWIND`` batch of the bulk methods.
        allow_clear: this is a disposable (test) database: ``clear()`` without ``force``.
    """

    def __init__(self, *, url: str, batch_size: int = 10000, allow_clear: bool = False):
        self.url = url
        self.batch_size = batch_size
        self.allow_clear = allow_clear
        self._connect()

    def _connect(self) -> None:
        """Point neomodel's process-wide ``db`` at ``self.url`` unless it already is (stores
        share one driver; another store's ``close()`` may have closed it)."""
        global _connected_url
        if db.driver is None or _connected_url != self.url:
            db.set_connection(url=self.url)
            _connected_url = self.url

    def _query(self, query: str, params: dict | None = None) -> list[list]:
        self._connect()
        rows, _meta = db.cypher_query(query, params or {})
        return rows

    @staticmethod
    def _clock(at) -> dict:
        return {"at": to_micros(as_moment(at)), "hl": half_life_seconds()}

    def _batches(self, items: list) -> Iterable[list]:
        for start in range(0, len(items), self.batch_size):
            yield items[start:start + self.batch_size]

    # --- friendships --------------------------------------------------------------------------

    def add_friendship(self, a: int, b: int) -> None:
        self._query(ADD_FRIENDS, {"pairs": [list(canonical_pair(a, b))]})

    def remove_friendship(self, a: int, b: int) -> None:
        if a == b:
            return
        low, high = canonical_pair(a, b)
        self._query(REMOVE_FRIEND, {"low": low, "high": high})

    def bulk_add_friendships(self, pairs: Iterable[tuple[int, int]]) -> int:
        unique = sorted({canonical_pair(int(a), int(b)) for a, b in pairs if a != b})
        # Nodes first (one MERGE per distinct id), then edges between existing nodes.
        ids = sorted({uid for pair in unique for uid in pair})
        for batch in self._batches(ids):
            self._query("UNWIND $ids AS id MERGE (:User {user_id: id})", {"ids": batch})
        # ``WHERE NOT … CREATE`` rather than ``MERGE``: three times faster on ego-Facebook, and
        # as idempotent across calls (pairs are distinct within a call). Bulk loads are not
        # meant to race with a concurrent writer of the same pair.
        for batch in self._batches(unique):
            self._query(
                "UNWIND $pairs AS p MATCH (a:User {user_id: p[0]}) MATCH (b:User {user_id: p[1]}) "
                "WHERE NOT (a)-[:FRIEND]-(b) CREATE (a)-[:FRIEND]->(b)",
                {"pairs": [list(p) for p in batch]},
            )
        return len(unique)

    def friend_ids(self, user_id: int) -> set[int]:
        return {row[0] for row in self._query(FRIEND_IDS, {"u": user_id})}

    def mutual_friend_count(self, a: int, b: int) -> int:
        if a == b:
            return 0
        return self._query(MUTUAL, {"a": a, "b": b})[0][0]

    def suggestions(self, user_id, limit, exclude=frozenset(), at=None) -> list[Suggestion]:
        if limit < 1:
            return []
        params = {"u": user_id, "exclude": sorted({int(x) for x in exclude}), "limit": limit,
                  "factor": WEIGHT_SCORE_FACTOR, **self._clock(at)}
        return [Suggestion(int(c), int(m), float(s)) for c, m, s in self._query(SUGGESTIONS, params)]

    # --- weights ------------------------------------------------------------------------------

    def strengthen(self, from_id, to_id, amount, at=None) -> float:
        if from_id == to_id:
            raise ValueError(f"self-interaction of user {from_id} is not recorded")
        rows = self._query(STRENGTHEN, {"from": from_id, "to": to_id, "amount": float(amount), **self._clock(at)})
        return round(float(rows[0][0]), WEIGHT_DECIMALS)

    def weight(self, from_id, to_id, at=None) -> float:
        rows = self._query(WEIGHT, {"from": from_id, "to": to_id, **self._clock(at)})
        return float(rows[0][0]) if rows else 0.0

    def top_relations(self, user_id, limit, at=None) -> list[tuple[int, float]]:
        if limit < 1:
            return []
        rows = self._query(TOP_RELATIONS, {"u": user_id, "limit": limit, **self._clock(at)})
        return [(int(uid), float(w)) for uid, w in rows]

    def clear_interactions(self, a: int, b: int) -> None:
        self._query(CLEAR_INTERACTIONS, {"a": a, "b": b})

    def bulk_set_weights(self, rows) -> int:
        data = [[int(f), int(t), max(0.0, float(w)), to_micros(as_moment(at))]
                for f, t, w, at in rows if f != t]
        for batch in self._batches(data):
            self._query(SET_WEIGHTS, {"rows": batch})
        return len(data)

    # --- users and maintenance ----------------------------------------------------------------

    def delete_user(self, user_id: int) -> None:
        self._query(DELETE_USER, {"u": user_id})

    def stats(self) -> dict[str, int]:
        users, friendships, interactions = self._query(STATS)[0]
        return {"users": users, "friendships": friendships, "interactions": interactions}

    def clear(self, *, force: bool = False) -> None:
        if not force and not self.allow_clear:
            host = urlsplit(self.url).hostname
            raise GraphStoreError(
                f"refusing to clear the Neo4j graph at {host!r}: not a test store"
                " (allow_clear=False); pass force=True"
            )
        while self._query(CLEAR_BATCH, {"batch": 1000})[0][0]:
            pass

    def install_schema(self) -> str:
        """Create the uniqueness constraint on ``User.user_id`` (idempotent).

        Returns:
            neomodel's report (mentions an already existing constraint on a second run).
        """
        self._connect()
        report = io.StringIO()
        db.install_labels(User, quiet=False, stdout=report)
        return report.getvalue()

    def ping(self) -> None:
        rows = self._query("RETURN 1")
        if rows != [[1]]:
            raise RuntimeError(f"RETURN 1 answered {rows!r}")

    def close(self) -> None:
        db.close_connection()
