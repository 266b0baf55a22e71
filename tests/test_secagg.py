"""SecAgg+ in-process: exact sums under dropouts at every stage, nothing readable in the transcript."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from fedads.runtime.layout import UpdateLayout
from privacy.secagg import shamir
from privacy.secagg.client import EncryptedShare, RevealedShare, SecAggClient
from privacy.secagg.config import SecAggConfig
from privacy.secagg.keys import SecAggError, new_identity_key, public_bytes
from privacy.secagg.server import SecAggServer
from privacy.secagg.simulation import STAGES, run_round


def _vectors(n, d=2000, seed=0):
    rng = np.random.default_rng(seed)
    return {f"site-{i:02d}": rng.normal(size=d) * 50 for i in range(n)}


def _tolerated(n):
    c = SecAggConfig(1, tuple(f"s{i}" for i in range(n)))
    return c.degree + 1 - c.threshold


@pytest.mark.parametrize("n", [3, 10, 30])
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("how_many", ["none", "one", "max"])
def test_sum_equals_plain_sum_under_dropouts(n, stage, how_many):
    vectors = _vectors(n, seed=n)
    count = {"none": 0, "one": 1, "max": _tolerated(n)}[how_many]
    dropped = sorted(vectors)[:count]  # adjacent ids; any k + 1 − t dropouts are survived, whatever the graph
    result = run_round(vectors, {stage: dropped}, seed=1)
    included = sorted(set(vectors) - set(dropped)) if stage != "unmask" else sorted(vectors)
    assert result.survivors == included
    expected = sum(vectors[s] for s in included)
    bound = SecAggConfig(1, tuple(vectors)).encoding.error_bound(len(included))
    assert np.max(np.abs(result.total - expected)) <= bound


def test_more_dropouts_than_tolerated_fail_cleanly():
    vectors = _vectors(10)
    dropped = sorted(vectors)[:_tolerated(10) + 1]
    with pytest.raises(SecAggError, match="threshold"):
        run_round(vectors, {"masked_input": dropped})
    with pytest.raises(SecAggError, match="threshold"):
        run_round(vectors, {"unmask": dropped})


def test_transcript_holds_no_plaintext_and_masked_vectors_look_uniform():
    vectors = {s: v.astype(np.float32) for s, v in _vectors(5, d=20000).items()}
    result = run_round(vectors)
    wire = b"".join(result.transcript)
    for v in vectors.values():
        for start in range(0, len(v) - 8, 2500):
            assert v[start:start + 8].tobytes() not in wire
            assert v[start:start + 8].astype(np.float64).tobytes() not in wire
    encoding = SecAggConfig(1, tuple(vectors)).encoding
    masked = [encoding.unpack(p) for p in result.transcript if len(p) == encoding.word_bytes * 20000]
    assert len(masked) == 5
    for y in masked:
        assert int(y.max()) <= int(encoding.word_mask)
        top_bytes = (y >> np.uint64(encoding.bits - 8)).astype(np.int64)
        assert chisquare(np.bincount(top_bytes, minlength=256)).pvalue > 1e-4
        low_bytes = (y & np.uint64(0xFF)).astype(np.int64)
        assert chisquare(np.bincount(low_bytes, minlength=256)).pvalue > 1e-4


@pytest.mark.parametrize("bits", [32, 48, 64])
def test_modulus_sizes_pack_and_sum_exactly(bits):
    from privacy.secagg.encoding import FixedPoint

    fp = FixedPoint(4.0, 10, bits)
    rng = np.random.default_rng(bits)
    xs = [rng.uniform(-4, 4, size=1000) for _ in range(10)]
    words = [fp.encode(x, rng) for x in xs]
    assert all(np.array_equal(fp.unpack(fp.pack(w)), w) for w in words)
    assert len(fp.pack(words[0])) == 1000 * bits // 8
    total = fp.reduce(sum(words[1:], words[0].copy()))
    assert np.max(np.abs(fp.decode_sum(total, 10) - sum(xs))) <= fp.error_bound(10)
    with pytest.raises(ValueError, match="cannot hold"):
        FixedPoint(2.0 ** 30, 1000, 32)


def test_fewer_than_threshold_shares_reveal_nothing():
    secret = bytes(range(32))
    shares = shamir.split(secret, 4, [1, 2, 3, 4, 5, 6])
    with pytest.raises(shamir.ReconstructionError):
        shamir.combine({k: shares[k] for k in (1, 2, 3)}, 4)
    # Interpolating t−1 real shares with any guessed t-th share yields an unrelated value, not the secret.
    guesses = [shamir.combine({1: shares[1], 2: shares[2], 3: shares[3], 9: g}, 4, length=66)
               for g in (0, 12345, shamir.PRIME - 1)]
    assert all(secret not in g for g in guesses) and len(set(guesses)) == 3
    assert shamir.combine({k: shares[k] for k in (2, 4, 5, 6)}, 4) == secret


def _parties(n=4):
    config = SecAggConfig(7, tuple(f"site-{i}" for i in range(n)))
    ids = {s: new_identity_key() for s in config.participants}
    pks = {s: public_bytes(k) for s, k in ids.items()}
    return config, {s: SecAggClient(config, s, ids[s], pks) for s in config.participants}


def test_substituted_public_key_is_detected_and_named():
    config, clients = _parties()
    server = SecAggServer(config, 10)
    for c in clients.values():
        server.receive_advert(c.advertise())
    real = server.adverts["site-2"]
    attacker = SecAggClient(config, "site-2", new_identity_key(), {}).advertise()
    server.adverts["site-2"] = type(real)(real.site, attacker.c_pk, real.s_pk, real.b_commitment, real.signature)
    with pytest.raises(SecAggError) as err:
        clients["site-0"].share_keys(server.adverts_for("site-0"))
    assert err.value.offender == "site-2" and "signature" in str(err.value)


def test_tampered_shares_are_detected_and_named():
    config, clients = _parties()
    server = SecAggServer(config, 10)
    for c in clients.values():
        server.receive_advert(c.advertise())
    for s, c in clients.items():
        server.receive_shares(s, c.share_keys(server.adverts_for(s)))
    shares = server.shares_for("site-3")
    bad = shares[0]
    flipped = bytearray(bad.ciphertext)
    flipped[20] ^= 1
    with pytest.raises(SecAggError) as err:
        clients["site-3"].receive_shares([EncryptedShare(bad.sender, bad.receiver, bytes(flipped))] + shares[1:])
    assert err.value.offender == bad.sender
    # At unmasking, a holder that reveals a wrong share is named too.
    for s, c in clients.items():
        c.receive_shares(server.shares_for(s))
        server.receive_masked(s, c.mask(np.zeros(10), np.random.default_rng(0)))
    survivors = server.survivors()
    for s, c in clients.items():
        revealed = c.reveal(survivors)
        if s == "site-1":
            revealed = [RevealedShare(r.owner, r.kind, (r.share + 1) % shamir.PRIME) for r in revealed]
        server.receive_reveal(s, revealed)
    with pytest.raises(SecAggError) as err:
        server.finish()
    assert err.value.offender == "site-1"


def test_a_site_never_reveals_both_secrets_of_a_peer():
    config, clients = _parties(3)
    server = SecAggServer(config, 4)
    for c in clients.values():
        server.receive_advert(c.advertise())
    for s, c in clients.items():
        server.receive_shares(s, c.share_keys(server.adverts_for(s)))
    for s, c in clients.items():
        c.receive_shares(server.shares_for(s))
    c0 = clients["site-0"]
    c0.reveal(["site-0", "site-1", "site-2"])
    with pytest.raises(SecAggError, match="both secrets"):
        c0.reveal(["site-0", "site-1"])  # now claims site-2 dropped: its mask key must stay secret


def test_grouped_weighted_average_through_secagg_matches_direct_computation():
    specs = [("emb", (6, 4), "global"), ("ffn0", (5,), "group:0"), ("ffn1", (3,), "group:1")]
    layout = UpdateLayout(specs)
    rng = np.random.default_rng(3)
    base = {n: rng.normal(size=s) for n, s, _ in specs}
    sites, vectors = {}, {}
    for i in range(6):
        deltas = {n: rng.normal(size=s) for n, s, _ in specs}
        weights = {"global": float(rng.integers(100, 5000)), "group:0": float(rng.random() * 300),
                   "group:1": 0.0 if i % 2 else float(rng.random() * 50)}
        sites[f"s{i}"] = (deltas, weights)
        vectors[f"s{i}"] = layout.pack(deltas, weights).astype(np.float64)
    result = run_round(vectors, {"masked_input": ["s4"]})
    published = layout.apply(base, result.total)
    bound = SecAggConfig(1, tuple(vectors)).encoding.error_bound(5)
    for name, _, scope in specs:
        ws = [sites[s][1][scope] for s in result.survivors]
        direct = base[name] + sum(sites[s][1][scope] * sites[s][0][name] for s in result.survivors) / sum(ws)
        # float32 packing plus the quantisation bound relative to the scope's total weight
        np.testing.assert_allclose(published[name], direct, atol=1e-4 + bound / sum(ws))


def test_a_site_withdrawn_after_uploading_leaves_the_sum_and_its_masks_are_recovered():
    """A site dropped after its masked input arrived (revoked, or lost before unmasking) is a dropout like any
    other: the sum is exactly the others' and nothing of its input remains."""
    rng = np.random.default_rng(3)
    vectors = {f"s{i}": rng.normal(size=50).astype(np.float64) for i in range(6)}
    res = run_round(vectors, drops={"withdraw": ["s2"]}, seed=1)
    assert res.survivors == ["s0", "s1", "s3", "s4", "s5"]
    expected = sum(v for k, v in vectors.items() if k != "s2")
    np.testing.assert_allclose(res.total, expected, atol=1e-4)
