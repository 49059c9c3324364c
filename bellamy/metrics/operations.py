"""The admin operations page (``/admin/operations/``, active staff only): the live figures an
operator checks first — consumer lag, queue depths, dead letters, sockets, the outbox —
read from the same collectors and counters as ``/metrics`` (so the page and the scrape agree)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone

from bellamy.metrics import exposition
from bellamy.metrics.collectors import KafkaLagCollector, get_collectors


@dataclass
class Source:
    """Freshness of one collector's figures: ``up``, ``age`` seconds, last ``error``."""

    name: str
    up: bool
    age: float | None
    error: str


@dataclass
class Figures:
    """Everything the page shows (``None`` = not applicable to this deployment, or not read yet).

    Fields:
        lag_partitions: ``[(topic, partition, end, committed or None, lag)]``, largest lag first.
        lag_total: summed lag.
        queues: ``{queue: waiting tasks}``; ``unacked``: delivered, not yet acknowledged.
        dead_letters: ``{source: count}`` since the processes' counters began.
        dead_letter_topic: messages kept in the dead-letter topic.
        sockets: WebSockets open on live processes; ``online_users`` from presence.
        outbox_unsent / outbox_oldest_age: the relay's backlog and its oldest row's age (s).
    """

    group: str | None = None
    lag_partitions: list[tuple[str, int, int, int | None, int]] | None = None
    lag_total: int | None = None
    queues: dict[str, int] | None = None
    unacked: int | None = None
    dead_letters: dict[str, float] = field(default_factory=dict)
    dead_letter_topic: int | None = None
    sockets: float = 0.0
    online_users: int | None = None
    outbox_unsent: int | None = None
    outbox_oldest_age: float | None = None
    sources: list[Source] = field(default_factory=list)


def operations_figures() -> Figures:
    """Read the figures now (each collector bounded by its timeout; see :mod:`collectors`)."""
    figures = Figures()
    collectors = get_collectors()
    applicable = [c for c in collectors.all() if c.applies()]
    deadlines = [c.start() for c in applicable]  # read in parallel
    for collector, deadline in zip(applicable, deadlines, strict=True):
        snapshot = collector.snapshot(wait_until=deadline)
        figures.sources.append(Source(collector.name, snapshot.up, snapshot.age, snapshot.error))
        data = snapshot.data
        if data is None:
            continue
        if collector is collectors.kafka:
            rows = [(topic, partition, end, committed, KafkaLagCollector.lag(end, committed, beginning))
                    for topic, partition, end, committed, beginning in data["partitions"]]
            figures.group = data["group"]
            figures.lag_partitions = sorted(rows, key=lambda r: (-r[4], r[0], r[1]))
            figures.lag_total = sum(r[4] for r in rows)
            figures.dead_letter_topic = sum(data["dead_letters"].values())
        elif collector is collectors.celery:
            figures.queues, figures.unacked = data["queues"], data["unacked"]
        elif collector is collectors.presence:
            figures.online_users = data["online_users"]
        elif collector is collectors.outbox:
            figures.outbox_unsent, figures.outbox_oldest_age = data["unsent"], data["oldest_age"]
    figures.dead_letters = {dict(labels)["source"]: value
                            for labels, value in exposition.counted_values("bellamy_dead_letters_total").items()}
    figures.sockets = sum(exposition.counted_values("bellamy_websocket_connections").values())
    return figures


#: Bounds of ``?refresh=`` (seconds): often enough to watch a backlog drain, never a reload loop
#: that would itself load the services.
REFRESH_MIN, REFRESH_MAX = 5, 300


def operations_view(request):
    """Render the figures (wrapped in ``admin.site.admin_view``: active staff only, others are
    sent to the admin login).

    Query: ``refresh`` — reload the page every that many seconds (whole seconds,
    ``REFRESH_MIN``–``REFRESH_MAX``); anything else is answered 400 with the reason and no
    figures.
    """
    context = {**admin.site.each_context(request), "title": "Operations", "refresh_choices": (10, 30, 60)}
    raw = request.GET.get("refresh")
    refresh = None
    if raw is not None:
        refresh = int(raw) if raw.isdigit() else None
        if refresh is None or not REFRESH_MIN <= refresh <= REFRESH_MAX:
            context["error"] = (f"refresh must be a whole number of seconds from {REFRESH_MIN} to {REFRESH_MAX} "
                                f"(got {raw[:20]!r}).")
            return TemplateResponse(request, "admin/operations.html", context, status=400)
    context.update(figures=operations_figures(), read_at=timezone.now(), refresh=refresh)
    return TemplateResponse(request, "admin/operations.html", context)
