"""What ``/metrics`` serves: the counted families (this process, or every process of the host)
plus the scrape-time collectors, in the Prometheus text format."""

from __future__ import annotations

from collections.abc import Iterable

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from bellamy import metrics
from bellamy.metrics import multiprocess
from bellamy.metrics.collectors import get_collectors


def counted_families() -> list[Metric]:
    """The counted families with their current values.

    With ``PROMETHEUS_MULTIPROC_DIR``: dead processes are swept first (:func:`multiprocess.sweep`),
    then every process's files and the archive are summed; families nobody has counted yet are
    listed without samples, so every family is always announced. Otherwise: this process's
    registry plus the library's process and garbage-collector collectors.
    """
    path = multiprocess.directory()
    if path is None:
        return [*metrics.REGISTRY.collect(), *prometheus_client.REGISTRY.collect()]
    multiprocess.sweep(path)
    found = list(multiprocess.ArchiveAwareCollector(path).collect())
    names = {family.name for family in found}
    for family in metrics.COUNTED_FAMILIES:
        found += [empty for empty in family.describe() if empty.name not in names]
    return found


class _Everything:
    """A collector yielding the counted families, then the scrape-time collectors' families."""

    def collect(self) -> Iterable[Metric]:
        yield from counted_families()
        yield from get_collectors().collect()


def render() -> bytes:
    """The whole exposition in the Prometheus text format (``prometheus_client.CONTENT_TYPE_LATEST``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Everything())
    return generate_latest(registry)


def counted_values(name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of one counted sample name (e.g. ``"bellamy_dead_letters_total"``) as
    ``{sorted label pairs: value}`` (the operations page's reading of the counters)."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in counted_families() for sample in family.samples if sample.name == name
    }
