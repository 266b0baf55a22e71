"""SecAgg+ neighbour graph: relabelled per round from all signed keys, and the odds it fails to unmask."""
from __future__ import annotations

import hashlib
import itertools
import random
from fractions import Fraction

import numpy as np
import pytest

from privacy.secagg.client import Advert, SecAggClient
from privacy.secagg.config import PLANNED_DROPOUT, PLANNED_FAILURE, SecAggConfig
from privacy.secagg.graph import NeighbourGraph, graph_seed
from privacy.secagg.keys import SecAggError, new_identity_key, public_bytes
from privacy.secagg.recovery import expected_unrecoverable, recovery_failure_probability, unrecoverable
from privacy.secagg.server import SecAggServer
from privacy.secagg.simulation import run_round


def _parties(n, **kwargs):
    config = SecAggConfig(3, tuple(f"site-{i:03d}" for i in range(n)), **kwargs)
    ids = {s: new_identity_key() for s in config.participants}
    pks = {s: public_bytes(k) for s, k in ids.items()}
    return config, ids, pks, {s: SecAggClient(config, s, ids[s], pks) for s in config.participants}


@pytest.mark.parametrize("stage", ["masked_input", "unmask"])
def test_a_contiguous_fifth_of_100_sites_dropping_still_unmasks(stage):
    rng = np.random.default_rng(5)
    vectors = {f"site-{i:03d}": rng.normal(size=64) * 10 for i in range(100)}
    dropped = sorted(vectors)[:20]  # adjacent ids: one region going offline together
    config = SecAggConfig(1, tuple(vectors))
    assert config.degree + 1 - config.threshold < 20  # more than any graph survives deterministically
    result = run_round(vectors, {stage: dropped}, seed=2)
    included = sorted(set(vectors) - set(dropped)) if stage == "masked_input" else sorted(vectors)
    assert result.survivors == included
    expected = sum(vectors[s] for s in included)
    assert np.max(np.abs(result.total - expected)) <= config.encoding.error_bound(len(included))


def test_every_site_and_the_server_derive_the_same_graph_in_any_advert_order():
    config, _, _, clients = _parties(14, degree=4)
    server = SecAggServer(config, 8)
    for c in clients.values():
        server.receive_advert(c.advertise())
    for i, (s, c) in enumerate(clients.items()):
        adverts = server.adverts_for(s)
        random.Random(i).shuffle(adverts)
        c.share_keys(adverts)
    assert {c.graph.seed for c in clients.values()} == {server.graph.seed}
    assert {c.graph.edges() for c in clients.values()} == {server.graph.edges()}
    assert all(len(server.graph.neighbours(s)) == 4 for s in config.participants)
    # Symmetric: pairwise masks need both ends to count each other as neighbours.
    assert all(s in server.graph.neighbours(p) for s in config.participants for p in server.graph.neighbours(s))


def test_the_graph_changes_whenever_any_one_site_changes_its_keys():
    config, ids, pks, clients = _parties(14, degree=4)
    adverts = {s: c.advertise() for s, c in clients.items()}
    base = NeighbourGraph.from_adverts(config.round_id, adverts.values(), config.degree)
    for s in config.participants:
        fresh = SecAggClient(config, s, ids[s], pks).advertise()
        graph = NeighbourGraph.from_adverts(config.round_id, (adverts | {s: fresh}).values(), config.degree)
        assert graph.seed != base.seed and graph.order != base.order and graph.edges() != base.edges()
    # A new round with the very same keys relabels too.
    assert NeighbourGraph.from_adverts(4, adverts.values(), config.degree).order != base.order


def test_the_aggregator_cannot_forge_adverts_to_steer_the_graph():
    config, _, _, clients = _parties(6, degree=3)
    server = SecAggServer(config, 8)
    for c in clients.values():
        server.receive_advert(c.advertise())
    real = server.adverts_for("site-000")
    # Re-keying another site to grind the seed: its signature no longer matches.
    forged = [Advert(a.site, a.c_pk, hashlib.sha256(a.s_pk).digest(), a.b_commitment, a.signature)
              if a.site == "site-004" else a for a in real]
    with pytest.raises(SecAggError) as err:
        clients["site-000"].share_keys(forged)
    assert err.value.offender == "site-004"
    # An advert for a site outside the round, or one advert twice, is refused as the server's doing.
    outsider = SecAggClient(SecAggConfig(3, ("site-000", "zz-intruder")), "zz-intruder", new_identity_key(),
                            {}).advertise()
    for bad in (real + [outsider], real + real[-1:]):
        with pytest.raises(SecAggError) as err:
            clients["site-001"].share_keys(bad)
        assert err.value.offender == "server"
    # Showing a site a different subset of genuine adverts gives it another graph, and its shares then
    # fail to open at every site that saw the real one: equivocation aborts, it does not pick neighbours.
    victim = clients["site-002"]
    victim_shares = victim.share_keys([a for a in real if a.site != "site-005"])
    assert victim.graph.seed != server.graph.seed
    receiver = next(x for x in victim_shares if x.receiver in server.graph.neighbours("site-002"))
    honest = clients[receiver.receiver]
    honest.share_keys(real)
    with pytest.raises(SecAggError) as err:
        honest.receive_shares([receiver])
    assert err.value.offender == "site-002"
    # The server's own graph is the same function of the adverts, with nothing of its own in it.
    assert server.graph.seed == graph_seed(config.round_id, server.adverts.values())


def test_expected_unrecoverable_sites_is_exact_over_all_relabellings():
    n, k, t, m = 8, 2, 2, 2
    sites = [f"s{i}" for i in range(n)]
    dropped = set(sites[:m])
    counts = [len(unrecoverable(NeighbourGraph.from_order(list(p), k), t, dropped))
              for p in itertools.permutations(sites)]
    assert Fraction(sum(counts), len(counts)) == expected_unrecoverable(n, k, t, m)
    p_fail = Fraction(sum(1 for c in counts if c), len(counts))
    assert 0 < p_fail <= recovery_failure_probability(n, k, t, m) < 1


def test_failure_probability_matches_a_monte_carlo_over_seeded_graphs():
    n, k, t, m, trials = 60, 8, 5, 15, 600
    sites = [f"site-{i:03d}" for i in range(n)]
    dropped = set(sites[:m])  # contiguous in id order
    counts = [len(unrecoverable(NeighbourGraph(hashlib.sha256(b"%d" % i).digest(), sites, k), t, dropped))
              for i in range(trials)]
    mean, expected = np.mean(counts), float(expected_unrecoverable(n, k, t, m))
    assert abs(mean - expected) <= 4 * np.std(counts) / np.sqrt(trials) + 1e-9
    failed = np.mean([c > 0 for c in counts])
    assert failed <= recovery_failure_probability(n, k, t, m) + 4 * np.sqrt(failed * (1 - failed) / trials)
    assert 0.05 < failed < 0.95  # a regime where the estimate says something


@pytest.mark.parametrize("n", [100, 1000])
def test_default_degree_keeps_the_planned_dropout_below_the_planned_failure(n):
    config = SecAggConfig(1, tuple(f"s{i}" for i in range(n)))
    assert config.recovery_failure_probability(int(PLANNED_DROPOUT * n)) <= PLANNED_FAILURE
    assert config.recovery_failure_probability(config.degree + 1 - config.threshold) == 0.0
    assert config.recovery_failure_probability(n - config.threshold + 1) == 1.0
    assert config.degree < n - 1  # still SecAgg+, not everyone with everyone
