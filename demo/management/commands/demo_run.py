"""``manage.py demo_run``: Bellamy Book end to end on the real datasets, then a report.

Stages (each timed; ``make demo`` runs this on the production stack, ``make demo EMBEDDED=1``
on the embedded default with ``--subset 2000``):

1. **ego-Facebook** → users ``fb<node>`` and friendships (``graph_import_edges``, reused).
2. **tweets, bulk** → posts, hashtags, likes (``demo.importers.import_tweets``, as
   ``posts_import_tweets``) for every selected row except the newest ``--live-posts``.
3. **backfills** of the derived data, because the bulk load published no events (replaying
   9k historic posts and 76k likes as events would flood notifications about 2021 and only
   recompute the same data one event at a time): ``feed_backfill_scores``; the trend hour
   buckets (``trends.services.trend_buckets_rebuild``; the trends themselves are ranked in
   stage 5, once the newest posts are in); the graph projection of this deployment (friend
   edges + like/comment/mention weights, in its own Neo4j namespace so a shared Neo4j keeps
   other deployments' graphs: ``importers.graph_projection_rebuild``);
   ``graph_import_interactions`` (CollegeMsg weights).
4. **live** — the newest ``--live-posts`` tweets (default 200) through ``posts.services``
   (``post_create`` + ``post_like`` per chosen friend), so their events flow outbox → bus →
   forwarder → Celery workers (scores, graph weights, notifications, trends, cache
   invalidation). On the production stack the command runs a forwarder and one Celery worker
   per queue under supervisord (``demo.pipeline.pipeline_stack``: ``deploy.stack.Stack``, the
   programs of ``bin/stack``, in the settings' namespace) and waits until the backlog is empty
   (outbox unsent 0, Kafka lag 0, Celery queues and workers idle, ``ProcessedEvent`` stable).
   Embedded: handled in-process.
5. **report** — GlobalTrends recomputed as of the newest imported post (summarised as the
   report shows them: trending means a score above 0), then counts per table/store, events
   processed, the top 10 trending hashtags per window,
   a sample user's feed/suggestions/unread notifications, and the time of each stage.
   ``analytics_recompute`` (when installed) runs before the report over the dataset's days
   and today. The report is printed and written to ``--report-dir`` (default ``.data/demo``)
   as ``report.txt`` and ``report.html`` — a self-contained page of SVG charts: hashtag
   activity with the detected surges, the ego-Facebook degree distribution, events and
   notifications per stage, stage timings (``demo.report_html``).

Idempotent: a second run creates no users, friendships, posts or likes and sends no events
(live rows already imported are skipped), and recomputes the derived data.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from demo import importers, pipeline, report, report_html
from deploy.stack import StackError
from trends import trending
from trends.services import global_trends_recompute, trend_buckets_rebuild


class Command(BaseCommand):
    help = "Import the three real datasets, run backfills and a live event phase, print a report."

    def add_arguments(self, parser):
        parser.add_argument("--subset", type=int, default=None, help="Only the first N tweet rows (default all 9,214).")
        parser.add_argument("--live-posts", type=int, default=200,
                            help="The newest N selected tweets go through the services and the event pipeline.")
        parser.add_argument("--edges", type=Path, default=None,
                            help=f"Edge list (default <datasets>/{importers.EDGES_FILE}).")
        parser.add_argument("--messages", type=int, default=None, help="Only the first N CollegeMsg messages.")
        parser.add_argument("--sample-user", default=None,
                            help="Username shown in the report (default: author of the most-liked live post).")
        parser.add_argument("--mode", default=None, help="Label of the run in the report.")
        parser.add_argument("--drain-timeout", type=float, default=900.0, help="Seconds to wait for the backlog.")
        parser.add_argument("--no-analytics", action="store_true", help="Skip analytics_recompute.")
        parser.add_argument("--no-progress", action="store_true", help="Hide progress bars.")
        parser.add_argument("--report-dir", type=Path, default=None,
                            help="Where report.txt and report.html are written (default .data/demo).")

    def _stage(self, name: str, func):
        before = report.flow_counts()
        started = time.perf_counter()
        summary = func() or ""
        seconds = time.perf_counter() - started
        self.stages.append((name, seconds, summary))
        self.flow.append((name, *(after - b for after, b in zip(report.flow_counts(), before, strict=True))))
        self.stdout.write(f"[{seconds:7.1f} s] {name}: {summary}")
        self.stdout.flush()

    def _call(self, *args, **kwargs) -> str:
        out = io.StringIO()
        call_command(*args, stdout=out, stderr=self.stderr._out if self.progress else io.StringIO(), **kwargs)
        return " | ".join(line for line in out.getvalue().splitlines() if line.strip())

    def handle(self, *args, subset, live_posts, edges, messages, sample_user, mode, drain_timeout, no_analytics,
               no_progress, report_dir, **options):
        if subset is not None and subset < 0 or live_posts < 0:
            raise CommandError("--subset and --live-posts must be >= 0")
        self.stages: list[tuple[str, float, str]] = []
        self.flow: list[tuple[str, int, int, int]] = []
        self.progress = not no_progress
        try:
            edges_path = edges or importers.dataset_path(importers.EDGES_FILE)
            rows = importers.read_tweets(importers.dataset_path(importers.TWEETS_FILE), limit=subset)
            message_rows = importers.read_messages(importers.dataset_path(importers.MESSAGES_FILE), limit=messages)
        except importers.DatasetError as exc:
            raise CommandError(str(exc)) from exc
        live_rows = rows[len(rows) - min(live_posts, len(rows)):] if live_posts else []
        bulk_rows = rows[:len(rows) - len(live_rows)]
        newest = max((row.created_at for row in rows), default=None)
        total_tweets = (len(importers.read_tweets(importers.dataset_path(importers.TWEETS_FILE)))
                        if subset is not None else len(rows))
        scope = (f"ego-Facebook {edges_path.name}; tweets: {len(rows):,} rows"
                 + (f" (SUBSET: the first {subset:,} of {total_tweets:,}, oldest first)"
                    if subset is not None else " (all)")
                 + f", of which the newest {len(live_rows)} live through the services; CollegeMsg: "
                 + f"{len(message_rows):,} messages" + (" (subset)" if messages is not None else " (all)"))
        self.stdout.write(f"demo_run: {scope}")

        def bar(total, unit):
            return tqdm(total=total, unit=unit, disable=not self.progress, file=self.stderr._out)

        self._stage("1 ego-Facebook users + friendships",
                    lambda: self._call("graph_import_edges", str(edges_path), verbosity=1 if self.progress else 0))

        def bulk():
            with bar(len(bulk_rows), "tweet") as progress:
                return importers.import_tweets(bulk_rows, on_batch=progress.update).summary()
        self._stage("2 tweets bulk load", self._guard(bulk))

        self._stage("3a backfill content scores",
                    lambda: self._call("feed_backfill_scores", no_progress=not self.progress))
        def trend_buckets():
            # Only the buckets: trends ranked now, as of the newest post, would read windows whose
            # posts (the live ones) are not imported yet; they are ranked in stage 5a.
            with bar(None, "link") as progress:
                rebuilt = trend_buckets_rebuild(on_progress=progress.update)
            return (f"{rebuilt.contributions} hashtag uses in {rebuilt.buckets} hour buckets "
                    f"({rebuilt.author_buckets} hashtag/hour/author rows); trends are ranked after the live posts (5a)")
        self._stage("3b backfill trend buckets", trend_buckets)

        def projection():
            result = importers.graph_projection_rebuild()
            return (f"{result['friendships']} friendships, {result['weights']} like/comment/mention weights "
                    f"for {result['users']} users")
        self._stage("3c backfill graph projection", projection)

        def interactions():
            with bar(None, "pair") as progress:
                return importers.import_interactions(message_rows, on_batch=progress.update).summary()
        self._stage("3d CollegeMsg interaction weights", self._guard(interactions))

        self._stage("4 live posts through the pipeline", lambda: self._live(live_rows, drain_timeout))

        if newest is not None:
            self._stage("5a trends as of newest post", lambda: trends_summary(newest))
        if not no_analytics and "analytics_recompute" in get_commands() and rows:
            # The dataset's days, then today (the users and live likes); the empty years between
            # would only add zero rows (analytics_recompute is idempotent per day).
            first, last = min(r.created_at for r in rows).date(), newest.date()
            self._stage("5b analytics (dataset days + today)", lambda: " | ".join([
                self._call("analytics_recompute", since=str(first), until=str(last), no_progress=not self.progress),
                self._call("analytics_recompute", since=str(timezone.now().date()), no_progress=True),
            ]))
        # Default sample user: the author of the most-liked live post (newest on ties), else of
        # the newest post — someone with friends, a feed and notifications.
        pool = live_rows or rows[-1:]
        chosen = max(enumerate(pool), key=lambda item: (item[1].favorites, item[0]), default=(0, None))[1]
        sample = sample_user or (chosen.username if chosen else None)
        result = report.collect(
            mode=mode or ("production stack" if pipeline.kafka_bus() else "embedded default"),
            scope=scope, trends_as_of=newest, sample_username=sample, stages=self.stages, flow=self.flow,
        )
        text = report.render(result)
        self.stdout.write(text)
        text_path, html_path = report_html.write_reports(
            result, text, report_dir or settings.BASE_DIR / ".data" / "demo")
        self.stdout.write(f"report written to {text_path} and {html_path}")

    def _guard(self, func):
        def run():
            try:
                return func()
            except importers.DatasetError as exc:
                raise CommandError(str(exc)) from exc
        return run

    def _live(self, rows, drain_timeout: float) -> str:
        run_dir = settings.BASE_DIR / ".data" / "logs" / f"demo-{settings.BELLAMY_NAMESPACE}"
        stack = pipeline.pipeline_stack(run_dir=run_dir)
        if stack is not None:
            self.stdout.write(f"starting {', '.join(p.name for p in stack.programs)} under supervisord "
                              f"(namespace {settings.BELLAMY_NAMESPACE!r}; logs in {run_dir})")
            try:
                stack.start(timeout=180)
            except StackError as exc:
                raise CommandError(f"the demo's pipeline programs did not start: {exc}") from exc
            first_pids = stack.pids()
        try:
            with tqdm(total=len(rows), unit="post", disable=not self.progress, file=self.stderr._out) as progress:
                result = importers.import_tweets_live(rows, on_row=progress.update)
            drained = pipeline.wait_until_drained(timeout=drain_timeout, stable_polls=1 if stack is None else 3,
                                                  interval=0.0 if stack is None else 1.0,
                                                  nodes=pipeline.worker_nodes(stack))
            restarted = pipeline.restarted_programs(stack, first_pids) if stack is not None else []
        finally:
            if stack is not None:
                stack.stop()
        if not drained.drained:
            raise CommandError(
                f"the event backlog did not drain in {drain_timeout:.0f} s: outbox unsent {drained.outbox_unsent}, "
                f"Kafka lag {drained.kafka_lag}, Celery backlog {drained.celery_backlog} "
                "(-1: not measured, a broker or worker did not answer)"
                + (f" (logs in {run_dir}/)" if stack is not None else "")
            )
        return (result.summary(live=True) + f"; backlog drained in {drained.seconds:.1f} s "
                f"({drained.polls} polls, {drained.relayed} relayed by the sweep"
                + (f"; restarted by supervisord: {', '.join(restarted)}" if restarted else "") + ")")


def trends_summary(as_of) -> str:
    """Recompute the GlobalTrends of every window as of ``as_of`` (stage 5a) and summarise them
    as the report does: a hashtag trends with a score above 0; one stored at score 0 (enough
    authors, but no more than on average in the previous periods) is counted apart."""
    parts = []
    for window in trending.WINDOWS:
        rows = global_trends_recompute(window=window, as_of=as_of)
        hot = [row for row in rows if row.score > 0]
        text = (f"{window} {len(hot)} trending (top: {', '.join('#' + row.hashtag.name for row in hot[:5])})"
                if hot else f"{window} nothing trending")
        if len(rows) > len(hot):
            text += f", {len(rows) - len(hot)} more at score 0"
        parts.append(text)
    return f"as of {as_of.isoformat()}: " + " | ".join(parts)
