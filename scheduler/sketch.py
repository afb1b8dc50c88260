"""Percentiles that merge: exact over raw values, and a log-bucketed sketch for merged windows.

A minute's rollup knows every latency of that minute, so its percentiles are exact. An hour's or a
day's rollup is built from the minute rollups, which keep a sketch: counts in buckets whose bounds
grow by ``GAMMA``, so any quantile read from a merged sketch is within ``RELATIVE_ERROR`` of the
true one (the DDSketch idea). Both use the nearest-rank definition: the q-quantile of n values is
the ceil(q * n)-th smallest.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

GAMMA = 1.02
RELATIVE_ERROR = (GAMMA - 1) / (GAMMA + 1)  # about 1 %
_LOG_GAMMA = math.log(GAMMA)
# Values at or below this (ms) share the lowest bucket; nothing coachline measures is that fast.
_FLOOR = 0.001


def nearest_rank(sorted_values: list[float], q: float) -> float | None:
    """The q-quantile of already sorted values; None when there are none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


class Sketch:
    """Counts per logarithmic bucket; merging two sketches adds their counts."""

    __slots__ = ("counts",)

    def __init__(self, counts: Mapping[int, int] | None = None) -> None:
        self.counts: Counter[int] = Counter(counts or {})

    @staticmethod
    def bucket(value: float) -> int:
        return math.ceil(math.log(max(value, _FLOOR)) / _LOG_GAMMA)

    def add(self, value: float) -> None:
        self.counts[self.bucket(value)] += 1

    def extend(self, values: Iterable[float]) -> None:
        for value in values:
            self.add(value)

    def merge(self, other: Sketch) -> None:
        self.counts.update(other.counts)

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def quantile(self, q: float) -> float | None:
        """The nearest-rank q-quantile, within RELATIVE_ERROR; None when empty."""
        total = self.count
        if total == 0:
            return None
        rank = max(1, math.ceil(q * total))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                # The bucket holds (GAMMA^(i-1), GAMMA^i]; this point is within RELATIVE_ERROR of both.
                return 2 * GAMMA**index / (GAMMA + 1)
        raise AssertionError("unreachable: rank is at most the total")

    def to_json(self) -> dict[str, int]:
        return {str(index): n for index, n in sorted(self.counts.items()) if n}

    @classmethod
    def from_json(cls, data: Mapping[str, int] | None) -> Sketch:
        return cls({int(index): int(n) for index, n in (data or {}).items()})
