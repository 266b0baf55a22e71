"""The odds that unmasking fails for a degree k, threshold t and a number of dropouts.

After key sharing, m of the graph's n sites drop before unmasking. Unmasking needs, for every
survivor, t revealed shares of its self-mask seed (itself and t − 1 surviving neighbours), and for
every dropped site, t revealed shares of its mask key (t surviving neighbours). Under the round's
uniform random relabelling (privacy/secagg/graph.py) a site's k neighbours are a uniform k-subset of
the other n − 1 sites whatever the dropout set was (random, or contiguous in site-id order), so the
number of dropped neighbours is hypergeometric. The expected number of sites left unrecoverable is
exact; by the union bound it also bounds the probability that the round fails.

An adversary who sees the graph and then drops a chosen site's neighbours is not this model: any
k + 1 − t dropouts are always survived, whichever they are, and that is all the graph guarantees
against a targeted drop.
"""
from __future__ import annotations

from fractions import Fraction
from math import comb

from privacy.secagg.graph import NeighbourGraph, regular_degree


def _tail(others: int, bad: int, k: int, more_than: int) -> Fraction:
    """P(more than `more_than` of a uniform k-subset of `others` sites fall among `bad` of them)."""
    total = comb(others, k)
    hits = sum(comb(bad, j) * comb(others - bad, k - j) for j in range(max(more_than + 1, 0), min(bad, k) + 1))
    return Fraction(hits, total)


def site_failure_probabilities(n: int, k: int, t: int, dropped: int) -> tuple[Fraction, Fraction]:
    """(P a given survivor's seed is unrecoverable, P a given dropped site's mask key is unrecoverable)."""
    if not 0 <= dropped <= n or not 1 <= k <= n - 1:
        raise ValueError(f"need 0 ≤ dropped ≤ n and 1 ≤ k ≤ n − 1 (n={n}, k={k}, dropped={dropped})")
    survivor = _tail(n - 1, dropped, k, k - (t - 1)) if dropped < n else Fraction(0)
    lost = _tail(n - 1, dropped - 1, k, k - t) if dropped > 0 else Fraction(0)
    return survivor, lost


def expected_unrecoverable(n: int, k: int, t: int, dropped: int) -> Fraction:
    """Expected number of sites whose secret cannot be rebuilt (exact, over the random relabelling)."""
    survivor, lost = site_failure_probabilities(n, k, t, dropped)
    return (n - dropped) * survivor + dropped * lost


def recovery_failure_probability(n: int, degree: int, t: int, dropped: int) -> float:
    """An upper bound on P(the round cannot be unmasked) for n sites of configured degree (union bound).

    Fewer than t survivors always fail; otherwise the bound is the expected number of unrecoverable sites.
    """
    if n - dropped < t:
        return 1.0
    k = regular_degree(degree, n)
    return float(min(Fraction(1), expected_unrecoverable(n, k, t, dropped)))


def unrecoverable(graph: NeighbourGraph, threshold: int, dropped: set[str]) -> list[str]:
    """The sites whose secret the survivors of `dropped` could not rebuild on this graph."""
    out = []
    for site in graph.sites:
        alive = sum(1 for h in graph.holders(site) if h not in dropped)
        if alive < threshold:
            out.append(site)
    return out
