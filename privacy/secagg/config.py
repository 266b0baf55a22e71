"""Round parameters both sides derive identically: participants, neighbour ring, threshold, encoding."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from privacy.secagg.encoding import FixedPoint


def default_degree(n: int) -> int:
    """Neighbours per site: everyone for small rounds, O(log n) beyond (SecAgg+)."""
    return min(n - 1, 2 * math.ceil(1.5 * math.log2(max(n, 2))))


@dataclass(frozen=True)
class SecAggConfig:
    round_id: int
    participants: tuple[str, ...]
    degree: int = 0            # 0: default_degree(n)
    threshold: int = 0         # 0: a strict majority of each share group (k + 1 holders)
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
        t = self.threshold or (k + 1) // 2 + 1
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

    def point(self, site: str) -> int:
        """The site's Shamir x-coordinate."""
        return self._index[site] + 1

    def index(self, site: str) -> int:
        return self._index[site]

    def neighbours(self, site: str) -> list[str]:
        """The k sites around `site` on the ring (k/2 each side; one more after when k is odd)."""
        i, n, k = self._index[site], self.n, self.degree
        offsets = [d for d in range(1, k // 2 + 1)] + [-d for d in range(1, k // 2 + 1)]
        if k % 2:
            offsets.append(k // 2 + 1)
        return sorted({self.participants[(i + o) % n] for o in offsets} - {site})

    def holders(self, site: str) -> list[str]:
        """Who holds shares of the site's secrets: its neighbours and itself."""
        return sorted(set(self.neighbours(site)) | {site})
