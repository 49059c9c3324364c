"""The production graph store: Neo4j through neomodel (parameterised Cypher only)."""

from neomodel import db

from graph.stores.base import GraphStore


class Neo4jGraphStore(GraphStore):
    """Graph projection kept in Neo4j.

    Args:
        url: ``bolt://user:password@host:7687`` (neomodel wants credentials even with auth off).
    """

    def __init__(self, *, url: str):
        self.url = url
        db.set_connection(url=url)

    def ping(self) -> None:
        rows, _ = db.cypher_query("RETURN 1")
        if rows != [[1]]:
            raise RuntimeError(f"RETURN 1 answered {rows!r}")

    def close(self) -> None:
        db.close_connection()
