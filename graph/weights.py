"""How much each interaction weighs in the graph projection, and where PostgreSQL keeps them.

One definition shared by the graph worker (:mod:`graph.tasks`, live events), the projection
rebuild (``manage.py graph_backfill``) and the real-data importers (:mod:`demo.importers`),
so the three always agree on what a like, a comment or a mention is worth. Weights are
directed ``from → to`` and decay with the store's half-life (:mod:`graph.stores.base`).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.apps import apps

#: Weight added by a like (and removed by an unlike).
LIKE_WEIGHT = 1.0
#: Weight added by a comment on someone's post.
COMMENT_WEIGHT = 2.0
#: Weight added by mentioning someone in a post or comment.
MENTION_WEIGHT = 0.5
#: Crossing this weight (either way) publishes ``relationship_weight.updated``.
WEIGHT_THRESHOLD = 5.0


def _model(label: str, name: str):
    try:
        return apps.get_model(label, name)
    except LookupError:
        return None


def interaction_sources() -> Iterator[tuple[str, object, tuple[str, str, str], float]]:
    """Yield ``(name, queryset, (from field, to field, time field), amount)`` per installed source.

    The sources are the ``posts`` app's rows, read through ``apps.get_model`` so that ``graph``
    never imports ``posts`` (ARCHITECTURE.md §10): ``Like`` (liker → author, at the like's
    time, :data:`LIKE_WEIGHT`), ``Comment`` (commenter → post author, :data:`COMMENT_WEIGHT`)
    and ``PostMention`` (author → mentioned, at the post's time, :data:`MENTION_WEIGHT`).
    Nothing is yielded for a model that is not installed.
    """
    like = _model("posts", "Like")
    if like is not None:
        yield "likes", like.objects.all(), ("user_id", "post__author_id", "created_at"), LIKE_WEIGHT
    comment = _model("posts", "Comment")
    if comment is not None:
        yield "comments", comment.objects.all(), ("author_id", "post__author_id", "created_at"), COMMENT_WEIGHT
    mention = _model("posts", "PostMention")
    if mention is not None:
        yield "mentions", mention.objects.all(), ("post__author_id", "user_id", "post__created_at"), MENTION_WEIGHT
