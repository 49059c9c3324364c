"""Reading expositions in the metrics tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bellamy import metrics


def parse(text: str) -> dict[str, dict[frozenset, float]]:
    """An exposition as ``{sample name: {frozenset(label pairs): value}}``; every announced family
    also appears under its family name (with no samples when none was counted)."""
    result: dict[str, dict[frozenset, float]] = {}
    for family in text_string_to_metric_families(text):
        result.setdefault(family.name, {})
        for sample in family.samples:
            result.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return result


def value(name: str, **labels: str) -> float:
    """This process's current value of one sample (0 when it does not exist yet)."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0
