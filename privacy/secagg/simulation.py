"""All parties of one SecAgg+ round in one process, with dropouts injected per stage.

Used by tests and bench/secagg; the services run the same client and server classes over gRPC.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from privacy.secagg.client import SecAggClient
from privacy.secagg.config import SecAggConfig
from privacy.secagg.keys import new_identity_key, public_bytes
from privacy.secagg.server import SecAggServer

STAGES = ("advertise", "share", "masked_input", "unmask")


@dataclass
class RoundResult:
    total: np.ndarray | None       # decoded sum of the survivors' inputs (float64)
    survivors: list[str]
    transcript: list[bytes] = field(default_factory=list)  # every payload the server received


def run_round(vectors: dict[str, np.ndarray], drops: dict[str, list[str]] | None = None, seed: int = 0,
              **config_kwargs) -> RoundResult:
    drops = drops or {}
    config = SecAggConfig(1, tuple(vectors), **config_kwargs)
    identities = {s: new_identity_key() for s in config.participants}
    pks = {s: public_bytes(k) for s, k in identities.items()}
    clients = {s: SecAggClient(config, s, identities[s], pks) for s in config.participants}
    length = len(next(iter(vectors.values())))
    server = SecAggServer(config, length)
    transcript: list[bytes] = []
    alive = set(config.participants)

    def drop(stage):
        alive.difference_update(drops.get(stage, []))

    drop("advertise")
    for s in sorted(alive):
        adv = clients[s].advertise()
        transcript.append(adv.c_pk + adv.s_pk + adv.b_commitment + adv.signature)
        server.receive_advert(adv)
    drop("share")
    for s in sorted(alive):
        shares = clients[s].share_keys(server.adverts_for(s))
        transcript.extend(x.ciphertext for x in shares)
        server.receive_shares(s, shares)
    for s in sorted(alive):
        clients[s].receive_shares(server.shares_for(s))
    drop("masked_input")
    rng = np.random.default_rng(seed)
    for s in sorted(alive):
        y = clients[s].mask(vectors[s], rng)
        wire = config.encoding.pack(y)  # what crosses the network
        transcript.append(wire)
        server.receive_masked(s, config.encoding.unpack(wire))
    for s in drops.get("withdraw", []):  # dropped after uploading: its input leaves the sum again
        server.withdraw(s)
        alive.discard(s)
    survivors = server.survivors()
    drop("unmask")
    for s in sorted(alive):
        revealed = clients[s].reveal(survivors)
        server.receive_reveal(s, revealed)
    total, survivors = server.finish()
    return RoundResult(config.encoding.decode_sum(total, len(survivors)), survivors, transcript)
