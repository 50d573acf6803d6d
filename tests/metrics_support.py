"""Read a ``/metrics`` exposition: the sum of the samples of one name whose labels match."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of the exposition ``text``: name, labels, value."""
    return [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 when there are none)."""
    return sum(
        value
        for found, have, value in samples(text)
        if found == name and all(have.get(k) == v for k, v in labels.items())
    )
