"""Graph stores: the derived projection of relationships (weights, suggestions).

``get_graph_store()`` returns the backend chosen by ``BELLAMY_GRAPH_URL`` (ORM by default).
"""

from bellamy.backends import get_backend


def get_graph_store():
    """The configured :class:`graph.stores.base.GraphStore` instance."""
    return get_backend("BELLAMY_GRAPH")
