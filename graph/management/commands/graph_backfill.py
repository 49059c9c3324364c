"""``manage.py graph_backfill [--batch-size N] [--dry-run]``: rebuild the graph projection.

The projection is derived data: this command clears the configured graph store (forced) and
rebuilds it from PostgreSQL, in batches, with a progress bar. Clearing is scoped to this
deployment: the ORM store's tables live in its own database, and the Neo4j store deletes only
the nodes of its namespace (``BELLAMY_NAMESPACE``), so a demo, a
test run and a stack sharing one Neo4j server never wipe each other's graph:

* every :class:`graph.models.Friendship` → a friend edge;
* interaction weights from the ``posts`` app's rows when that app is installed (read through
  ``apps.get_model`` so ``graph`` never imports ``posts``; :mod:`graph.weights`): each ``Like`` adds
  ``LIKE_WEIGHT`` liker → author at the like's time, each ``Comment`` ``COMMENT_WEIGHT``
  commenter → post author, each ``PostMention`` ``MENTION_WEIGHT`` author → mentioned, at the
  post's time. Self-interactions are skipped. Because decay is exponential, the weight of a
  pair *now* is ``sum(amount * 0.5 ** ((now - t) / half_life))`` — the same value the live
  tasks reach by applying the events one by one (removed likes simply have no row; soft-deleted
  comments count, as the live path never subtracts them).

``--dry-run`` counts what would be written and changes nothing. Prints one summary line.
"""

from __future__ import annotations

import time
from collections import defaultdict

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from graph.models import Friendship
from graph.stores import get_graph_store
from graph.stores.base import half_life_seconds
from graph.weights import interaction_sources


class Command(BaseCommand):
    help = "Rebuild the graph projection (friend edges, interaction weights) from PostgreSQL."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--dry-run", action="store_true", help="count only; write nothing")

    def handle(self, *args, batch_size: int, dry_run: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be >= 1")
        started = time.perf_counter()
        progress = options["verbosity"] >= 1
        store = get_graph_store()
        now = timezone.now()
        half_life = half_life_seconds()
        if not dry_run:
            store.clear(force=True)

        friendships = Friendship.objects.order_by("id").values_list("user_low_id", "user_high_id")
        total = friendships.count()
        bar = tqdm(total=total, desc="friendships", unit="edge", disable=not progress, file=self.stderr._out)
        batch: list[tuple[int, int]] = []
        for pair in friendships.iterator(chunk_size=batch_size):
            batch.append(pair)
            if len(batch) >= batch_size:
                if not dry_run:
                    store.bulk_add_friendships(batch)
                bar.update(len(batch))
                batch = []
        if batch and not dry_run:
            store.bulk_add_friendships(batch)
        bar.update(len(batch))
        bar.close()

        weights: dict[tuple[int, int], float] = defaultdict(float)
        counts: dict[str, int] = {}
        for name, queryset, fields, amount in interaction_sources():
            rows = queryset.order_by().values_list(*fields)
            counts[name] = 0
            for from_id, to_id, at in tqdm(rows.iterator(chunk_size=batch_size), total=rows.count(),
                                           desc=name, unit="row", disable=not progress,
                                           file=self.stderr._out):
                counts[name] += 1
                if from_id == to_id:
                    continue
                age = max(0.0, (now - at).total_seconds())
                weights[(from_id, to_id)] += amount * 0.5 ** (age / half_life)

        rows = [(f, t, w, now) for (f, t), w in sorted(weights.items())]
        if not dry_run:
            for start in range(0, len(rows), batch_size):
                store.bulk_set_weights(rows[start:start + batch_size])

        sources = ", ".join(f"{n} {c}" for n, c in counts.items()) or "no posts app"
        self.stdout.write(
            f"{'dry run: would rebuild' if dry_run else 'rebuilt'} {type(store).__name__}: "
            f"{total} friendships, {len(rows)} weights ({sources}) in {time.perf_counter() - started:.1f} s"
        )
