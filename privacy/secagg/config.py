"""Round parameters both sides derive identically: participants, degree, threshold, encoding.

The neighbour graph itself exists only after the advertise stage (privacy/secagg/graph.py).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from privacy.secagg.encoding import FixedPoint
from privacy.secagg.recovery import recovery_failure_probability


# Default degrees are sized so that PLANNED_DROPOUT of the sites dropping after key sharing (in any
# pattern the graph does not know of, e.g. a whole region) fails unmasking with probability at most
# PLANNED_FAILURE (privacy/secagg/recovery.py).
PLANNED_DROPOUT = 0.2
PLANNED_FAILURE = 2.0 ** -20


def default_threshold(degree: int) -> int:
    """A strict majority of the k + 1 holders: honest holders reveal one secret each, so the server can
    never collect t shares of both a site's seed and its mask key."""
    return (degree + 1) // 2 + 1


@functools.lru_cache(maxsize=256)
def default_degree(n: int) -> int:
    """Neighbours per site: everyone for small rounds, O(log n) beyond (SecAgg+), and at least enough
    that PLANNED_DROPOUT dropouts fail unmasking with probability ≤ PLANNED_FAILURE."""
    k = min(n - 1, 2 * math.ceil(1.5 * math.log2(max(n, 2))))
    while k < n - 1 and recovery_failure_probability(n, k, default_threshold(k),
                                                     int(PLANNED_DROPOUT * n)) > PLANNED_FAILURE:
        k += 1
    return k


@dataclass(frozen=True)
class SecAggConfig:
    round_id: int
    participants: tuple[str, ...]
    degree: int = 0            # 0: default_degree(n)
    threshold: int = 0         # 0: default_threshold(degree)
    clip: float = 2.0 ** 24    # encoding range of each element of the weighted update vector
    bits: int = 48             # modulus 2^bits: 48 keeps uploads at 1.5× plain float32
    _index: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        parts = tuple(sorted(self.participants))
        if len(set(parts)) != len(parts) or len(parts) < 2:
            raise ValueError("secure aggregation needs at least two distinct participants")
        object.__setattr__(self, "participants", parts)
        k = self.degree or default_degree(len(parts))
        if not 1 <= k <= len(parts) - 1:
            raise ValueError(f"degree {k} must lie in 1..{len(parts) - 1}")
        object.__setattr__(self, "degree", k)
        t = self.threshold or default_threshold(k)
        if not 1 <= t <= k + 1:
            raise ValueError(f"threshold {t} must lie in 1..{k + 1}")
        object.__setattr__(self, "threshold", t)
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(parts)})

    @property
    def n(self) -> int:
        return len(self.participants)

    @property
    def encoding(self) -> FixedPoint:
        return FixedPoint(self.clip, self.n, self.bits)

    def recovery_failure_probability(self, dropped: int) -> float:
        """Upper bound on P(unmasking fails) when `dropped` of the n sites drop after key sharing."""
        return recovery_failure_probability(self.n, self.degree, self.threshold, dropped)

    def point(self, site: str) -> int:
        """The site's Shamir x-coordinate."""
        return self._index[site] + 1

    def index(self, site: str) -> int:
        return self._index[site]
