"""The production graph store: Neo4j (Community: one database per server), parameterised Cypher only.

Model (ARCHITECTURE.md §5), per deployment **namespace** ``ns``:

* ``(:Member {ns, user_id})`` — a user of the projection; unique per ``(ns, user_id)``;
* ``(:Member)-[:FRIEND]->(:Member)`` — stored once per pair in the canonical direction
  low id → high id, matched undirected;
* ``(:Member)-[:INTERACTS {weight, updated_at}]->(:Member)`` — ``updated_at`` is an integer of
  microseconds since the Unix epoch (exact; the same clock as the ORM store);
* ``(:AppliedEvent {ns, event_id, steps, applied_at})`` — an event whose weight changes were
  applied, with the steps they produced (JSON text), unique per ``(ns, event_id)``.

Every query matches nodes by ``ns`` (relationships are reached only through them), so two
deployments sharing a server — a stack, the demo, test runs — never read or write each other's
data, and :meth:`Neo4jGraphStore.clear` deletes one namespace only. The namespace comes from
settings (``BELLAMY_NAMESPACE``, the name every other per-deployment name derives from) unless
given. The label is
``Member``, not the ``User`` of releases before namespaces: their single-property uniqueness
constraint on ``User.user_id`` may still exist on a shared server and would forbid one user id in
two namespaces. ``manage.py graph_install_schema`` installs the composite uniqueness constraints
(Neo4j 5 Community supports them) and the index the pruning uses; then ``manage.py
graph_backfill`` fills the namespace from PostgreSQL.

Values are always passed as parameters — no query text is ever built from values.

**Exactly once.** Writes are not part of the PostgreSQL transaction of an event task, so
:meth:`Neo4jGraphStore.apply_interactions` records the applied event ids in Neo4j, in the same
Neo4j transaction as the weights (one read of the records, one locking read of the pairs, one
write ``UNWIND``). After a crash between the Neo4j commit and the task's commit, the redelivered
batch finds its events recorded, changes nothing and gets the recorded steps back, so the task
still publishes what the first attempt rolled back. Friend edges are converged to PostgreSQL's
state (:meth:`Neo4jGraphStore.set_friendships`), which is idempotent by itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings
from neomodel import db

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


def _decay(rel: str) -> str:
    """Cypher of ``rel``'s decayed weight at ``$at`` (µs) with half-life ``$hl`` (s)."""
    return (
        f"{rel}.weight * 0.5 ^ (toFloat(CASE WHEN $at > {rel}.updated_at THEN $at - {rel}.updated_at "
        f"ELSE 0 END) / 1000000.0 / $hl)"
    )


#: The schema: one statement each, idempotent (``IF NOT EXISTS``).
SCHEMA = (
    "CREATE CONSTRAINT bellamy_member_ns_user IF NOT EXISTS "
    "FOR (n:Member) REQUIRE (n.ns, n.user_id) IS UNIQUE",
    "CREATE CONSTRAINT bellamy_applied_event_ns_id IF NOT EXISTS "
    "FOR (e:AppliedEvent) REQUIRE (e.ns, e.event_id) IS UNIQUE",
    "CREATE INDEX bellamy_applied_event_ns_at IF NOT EXISTS FOR (e:AppliedEvent) ON (e.ns, e.applied_at)",
)

ADD_FRIENDS = """
UNWIND $pairs AS p
MERGE (a:Member {ns: $ns, user_id: p[0]})
MERGE (b:Member {ns: $ns, user_id: p[1]})
MERGE (a)-[:FRIEND]->(b)
"""

SET_FRIENDS = """
CALL () {
  UNWIND $add AS p
  MERGE (a:Member {ns: $ns, user_id: p[0]})
  MERGE (b:Member {ns: $ns, user_id: p[1]})
  MERGE (a)-[:FRIEND]->(b)
}
CALL () {
  UNWIND $remove AS p
  MATCH (:Member {ns: $ns, user_id: p[0]})-[r:FRIEND]-(:Member {ns: $ns, user_id: p[1]})
  DELETE r
}
"""

REMOVE_FRIEND = """
MATCH (:Member {ns: $ns, user_id: $low})-[r:FRIEND]-(:Member {ns: $ns, user_id: $high}) DELETE r
"""

FRIEND_IDS = "MATCH (:Member {ns: $ns, user_id: $u})-[:FRIEND]-(f:Member) RETURN f.user_id"

MUTUAL = """
MATCH (:Member {ns: $ns, user_id: $a})-[:FRIEND]-(m:Member)-[:FRIEND]-(:Member {ns: $ns, user_id: $b})
RETURN count(DISTINCT m)
"""

SUGGESTIONS = f"""
MATCH (u:Member {{ns: $ns, user_id: $u}})-[:FRIEND]-(m:Member)
OPTIONAL MATCH (u)-[i:INTERACTS]->(m)
WITH u, m, coalesce({_decay('i')}, 0.0) AS wm
MATCH (m)-[:FRIEND]-(c:Member)
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
MERGE (a:Member {{ns: $ns, user_id: $from}})
MERGE (b:Member {{ns: $ns, user_id: $to}})
MERGE (a)-[r:INTERACTS]->(b)
  ON CREATE SET r.weight = 0.0, r.updated_at = $at
WITH r, {_decay('r')} + $amount AS w
SET r.weight = CASE WHEN w > 0 THEN w ELSE 0.0 END,
    r.updated_at = CASE WHEN $at > r.updated_at THEN $at ELSE r.updated_at END
RETURN r.weight
"""

APPLIED = """
MATCH (e:AppliedEvent) WHERE e.ns = $ns AND e.event_id IN $ids
RETURN e.event_id, e.steps
"""

#: Lock and read the pairs of a batch: a missing relationship is created as a placeholder
#: (weight 0 at the epoch folds exactly like an absent pair); ``SET r.locked = true`` takes the
#: relationship's write lock for the rest of the transaction (removed again by APPLY_WEIGHTS).
LOCK_PAIRS = """
UNWIND $pairs AS p
MERGE (a:Member {ns: $ns, user_id: p[0]})
MERGE (b:Member {ns: $ns, user_id: p[1]})
MERGE (a)-[r:INTERACTS]->(b)
  ON CREATE SET r.weight = 0.0, r.updated_at = 0
SET r.locked = true
RETURN p[0], p[1], r.weight, r.updated_at
"""

#: One write for a whole batch: final weights, cleared pairs, applied-event records.
APPLY_WEIGHTS = """
CALL () {
  UNWIND $set AS row
  MATCH (:Member {ns: $ns, user_id: row[0]})-[r:INTERACTS]->(:Member {ns: $ns, user_id: row[1]})
  SET r.weight = row[2], r.updated_at = row[3]
  REMOVE r.locked
}
CALL () {
  UNWIND $delete AS row
  MATCH (:Member {ns: $ns, user_id: row[0]})-[r:INTERACTS]->(:Member {ns: $ns, user_id: row[1]})
  DELETE r
}
CALL () {
  UNWIND $applied AS e
  CREATE (:AppliedEvent {ns: $ns, event_id: e[0], steps: e[1], applied_at: $now})
}
"""

PRUNE_APPLIED = """
MATCH (e:AppliedEvent) WHERE e.ns = $ns AND e.applied_at < $before
WITH e LIMIT $batch DELETE e RETURN count(*)
"""

WEIGHT = f"""
MATCH (:Member {{ns: $ns, user_id: $from}})-[r:INTERACTS]->(:Member {{ns: $ns, user_id: $to}})
RETURN round({_decay('r')}, {WEIGHT_DECIMALS})
"""

TOP_RELATIONS = f"""
MATCH (:Member {{ns: $ns, user_id: $u}})-[r:INTERACTS]->(t:Member)
WITH t, round({_decay('r')}, {WEIGHT_DECIMALS}) AS w
WHERE w > 0
RETURN t.user_id, w ORDER BY w DESC, t.user_id ASC LIMIT $limit
"""

CLEAR_INTERACTIONS = """
MATCH (:Member {ns: $ns, user_id: $a})-[r:INTERACTS]-(:Member {ns: $ns, user_id: $b}) DELETE r
"""

SET_WEIGHTS = """
UNWIND $rows AS row
MERGE (a:Member {ns: $ns, user_id: row[0]})
MERGE (b:Member {ns: $ns, user_id: row[1]})
MERGE (a)-[r:INTERACTS]->(b)
SET r.weight = row[2], r.updated_at = row[3]
"""

DELETE_USER = "MATCH (n:Member {ns: $ns, user_id: $u}) DETACH DELETE n"

CLEAR_BATCH = "MATCH (n:Member {ns: $ns}) WITH n LIMIT $batch DETACH DELETE n RETURN count(*)"
CLEAR_APPLIED_BATCH = "MATCH (e:AppliedEvent {ns: $ns}) WITH e LIMIT $batch DELETE e RETURN count(*)"

STATS = """
CALL () { MATCH (n:Member {ns: $ns}) WHERE (n)-[:FRIEND]-() RETURN count(n) AS users }
CALL () { MATCH (:Member {ns: $ns})-[f:FRIEND]->() RETURN count(f) AS friendships }
CALL () { MATCH (:Member {ns: $ns})-[i:INTERACTS]->() RETURN count(i) AS interactions }
RETURN users, friendships, interactions
"""


#: The URL neomodel's global ``db`` was last connected to by a store.
_connected_url: str | None = None


def default_namespace() -> str:
    """The deployment's namespace: ``settings.BELLAMY_NAMESPACE`` (``bellamy`` when unset; the
    Redis key prefix, topic prefix, consumer group and MongoDB database derive from it too)."""
    return settings.BELLAMY_NAMESPACE


class Neo4jGraphStore(GraphStore):
    """Graph projection kept in Neo4j, in one namespace.

    Args:
        url: ``bolt://user:password@host:7687`` (neomodel wants credentials even with auth off).
        namespace: the deployment's namespace (default :func:`default_namespace`); every node
            this store writes carries it and every query is restricted to it.
        batch_size: rows per ``UNWIND`` batch of the bulk methods.
        allow_clear: this is a disposable (test) namespace: ``clear()`` without ``force``.
    Raises:
        GraphStoreError: an empty namespace.
    """

    def __init__(self, *, url: str, namespace: str | None = None, batch_size: int = 10000,
                 allow_clear: bool = False):
        self.url = url
        self.namespace = namespace if namespace is not None else default_namespace()
        if not isinstance(self.namespace, str) or not self.namespace:
            raise GraphStoreError("the Neo4j graph store needs a non-empty namespace")
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
        rows, _meta = db.cypher_query(query, {"ns": self.namespace, **(params or {})})
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

    def set_friendships(self, edges: Mapping[tuple[int, int], bool]) -> int:
        wanted: dict[tuple[int, int], bool] = {}
        for (a, b), present in edges.items():
            if a != b:
                wanted[canonical_pair(int(a), int(b))] = bool(present)
        add = sorted(list(pair) for pair, present in wanted.items() if present)
        remove = sorted(list(pair) for pair, present in wanted.items() if not present)
        if wanted:
            self._query(SET_FRIENDS, {"add": add, "remove": remove})
        return len(wanted)

    def bulk_add_friendships(self, pairs: Iterable[tuple[int, int]]) -> int:
        unique = sorted({canonical_pair(int(a), int(b)) for a, b in pairs if a != b})
        # Nodes first (one MERGE per distinct id), then edges between existing nodes.
        ids = sorted({uid for pair in unique for uid in pair})
        for batch in self._batches(ids):
            self._query("UNWIND $ids AS id MERGE (:Member {ns: $ns, user_id: id})", {"ids": batch})
        # ``WHERE NOT … CREATE`` rather than ``MERGE``: three times faster on ego-Facebook, and
        # as idempotent across calls (pairs are distinct within a call). Bulk loads are not
        # meant to race with a concurrent writer of the same pair.
        for batch in self._batches(unique):
            self._query(
                "UNWIND $pairs AS p MATCH (a:Member {ns: $ns, user_id: p[0]}) "
                "MATCH (b:Member {ns: $ns, user_id: p[1]}) "
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

    def apply_interactions(self, changes: Sequence[InteractionChange]) -> list[InteractionStep]:
        changes = list(changes)
        for change in changes:
            if change.from_id == change.to_id:
                raise ValueError(f"self-interaction of user {change.from_id} is not recorded")
        if not changes:
            return []
        order = list(dict.fromkeys(change.event_id for change in changes))
        self._connect()
        with db.transaction:
            recorded = {
                event_id: steps_from_json(event_id, json.loads(steps))
                for event_id, steps in self._query(APPLIED, {"ids": order})
            }
            new = [change for change in changes if change.event_id not in recorded]
            if new:
                pairs = sorted({(c.from_id, c.to_id) for c in new} | {(c.to_id, c.from_id) for c in new if c.clear})
                states: dict[tuple[int, int], PairState] = {
                    (int(f), int(t)): (float(w), int(u))
                    for f, t, w, u in self._query(LOCK_PAIRS, {"pairs": [list(p) for p in pairs]})
                }
                final, steps = fold_interactions(states, new, half_life_seconds())
                by_event: dict[str, list[InteractionStep]] = {event_id: [] for event_id in order}
                for step in steps:
                    by_event[step.event_id].append(step)
                fresh = [event_id for event_id in order if event_id not in recorded]
                self._query(APPLY_WEIGHTS, {
                    "set": [[f, t, state[0], state[1]] for (f, t), state in sorted(final.items()) if state],
                    "delete": [[f, t] for (f, t), state in sorted(final.items()) if state is None],
                    "applied": [[event_id, json.dumps(steps_to_json(by_event[event_id]))] for event_id in fresh],
                    "now": to_micros(as_moment(None)),
                })
                recorded.update({event_id: by_event[event_id] for event_id in fresh})
        return [step for event_id in order for step in recorded[event_id]]

    def prune_applied(self, before: datetime) -> int:
        deleted, limit = 0, 1000
        cutoff = to_micros(as_moment(before))
        while True:
            count = self._query(PRUNE_APPLIED, {"before": cutoff, "batch": limit})[0][0]
            deleted += count
            if count < limit:
                return deleted

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
        """Delete every node of this namespace (members with their relationships, applied-event
        records), 1,000 per statement; other namespaces on the server are untouched.

        Raises:
            GraphStoreError: not a test store (``allow_clear``) and ``force`` is False.
        """
        if not force and not self.allow_clear:
            host = urlsplit(self.url).hostname
            raise GraphStoreError(
                f"refusing to clear namespace {self.namespace!r} of the Neo4j graph at {host!r}: "
                "not a test store (allow_clear=False); pass force=True"
            )
        for query in (CLEAR_BATCH, CLEAR_APPLIED_BATCH):
            while self._query(query, {"batch": 1000})[0][0]:
                pass

    def install_schema(self) -> str:
        """Create the composite uniqueness constraints on ``(Member.ns, Member.user_id)`` and
        ``(AppliedEvent.ns, AppliedEvent.event_id)`` and the pruning index (idempotent; shared
        by every namespace of the server).

        Returns:
            One line per schema statement.
        """
        for statement in SCHEMA:
            self._query(statement)
        return "\n".join(SCHEMA)

    def ping(self) -> None:
        rows = self._query("RETURN 1")
        if rows != [[1]]:
            raise RuntimeError(f"RETURN 1 answered {rows!r}")

    def close(self) -> None:
        db.close_connection()
