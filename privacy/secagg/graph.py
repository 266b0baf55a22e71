"""The round's neighbour graph: a k-regular Harary graph under a per-round random relabelling.

The relabelling comes from a SHA-256 over every signed key advertisement of the round (U1), so it
exists only once all keys are committed, every site recomputes it from the adverts it verified, and
no single party sets it: the aggregator cannot forge another site's advert (signatures), and any
change to any site's keys changes the whole permutation. Dropouts that are contiguous in site-id
order (one region, one cluster) therefore land on random positions of the graph, where they cost
each neighbourhood what random dropouts would (see privacy/secagg/recovery.py for the odds).

Residual freedom, stated in docs/secagg_graph.md: a colluding aggregator can still choose which
received adverts to keep in U1 (grinding over subsets), and a site advertising last can try fresh
keys; both only re-draw a uniform permutation, they cannot set one, and the first needs dropping
real sites, which the round records.
"""
from __future__ import annotations

import hashlib
from typing import Iterable

GRAPH_DOMAIN = b"fedads-secagg-graph-v1"


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def graph_seed(round_id: int, adverts: Iterable) -> bytes:
    """SHA-256 over the round id and every advertised (site, c_pk, s_pk, b_commitment), in site order."""
    h = hashlib.sha256(GRAPH_DOMAIN + _field(str(round_id).encode()))
    for a in sorted(adverts, key=lambda a: a.site):
        h.update(_field(a.site.encode()) + _field(a.c_pk) + _field(a.s_pk) + _field(a.b_commitment))
    return h.digest()


def regular_degree(degree: int, n: int) -> int:
    """The degree actually used with n sites: at most n − 1, and even when n is odd (no odd-regular graph)."""
    k = min(degree, n - 1)
    if k % 2 and n % 2:
        k += 1  # k < n − 1 here, so one more neighbour still fits
    return k


class NeighbourGraph:
    """Who shares secrets and pairwise masks with whom, for one round."""

    def __init__(self, seed: bytes, sites: Iterable[str], degree: int):
        # Sorting by a keyed hash of the id is a uniform random permutation under the seed.
        order = sorted(set(sites), key=lambda s: hashlib.sha256(seed + s.encode()).digest())
        self._build(seed, order, degree)

    @classmethod
    def from_order(cls, order: list[str], degree: int, seed: bytes = b"") -> "NeighbourGraph":
        """The Harary graph over an explicit labelling (for analysis; rounds use the seeded one)."""
        graph = cls.__new__(cls)
        graph._build(seed, list(order), degree)
        return graph

    def _build(self, seed: bytes, order: list[str], degree: int) -> None:
        if len(set(order)) != len(order) or len(order) < 2:
            raise ValueError("a neighbour graph needs at least two distinct sites")
        self.seed, self.order = seed, order
        self.degree = regular_degree(degree, len(order))
        self._position = {s: i for i, s in enumerate(self.order)}
        n, k = len(self.order), self.degree
        offsets = list(range(1, k // 2 + 1)) + [-d for d in range(1, k // 2 + 1)]
        if k % 2:
            offsets.append(n // 2)  # n is even here: the diametric partner, so the graph stays symmetric
        self._offsets = offsets
        self._neighbours: dict[str, list[str]] = {}

    @classmethod
    def from_adverts(cls, round_id: int, adverts: Iterable, degree: int) -> "NeighbourGraph":
        adverts = list(adverts)
        return cls(graph_seed(round_id, adverts), [a.site for a in adverts], degree)

    @property
    def sites(self) -> list[str]:
        return sorted(self._position)

    def __contains__(self, site: str) -> bool:
        return site in self._position

    def neighbours(self, site: str) -> list[str]:
        if site not in self._neighbours:
            i, n = self._position[site], len(self.order)
            self._neighbours[site] = sorted({self.order[(i + o) % n] for o in self._offsets} - {site})
        return list(self._neighbours[site])

    def holders(self, site: str) -> list[str]:
        """Who holds shares of the site's secrets: its neighbours and itself."""
        return sorted(set(self.neighbours(site)) | {site})

    def edges(self) -> frozenset[tuple[str, str]]:
        return frozenset((a, b) for a in self.order for b in self.neighbours(a) if a < b)
