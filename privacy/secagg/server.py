"""The aggregator's side of SecAgg+: relay keys and shares, sum masked inputs, remove the masks.

It only ever holds public keys, ciphertexts, masked vectors, and the secrets that unmasking
reveals (self-mask seeds of survivors, mask keys of sites that dropped after sharing); an
individual input is never reconstructable from those.
"""
from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from privacy.secagg import shamir
from privacy.secagg.client import B_KIND, SK_KIND, Advert, EncryptedShare, RevealedShare, pair_seed_info, pairwise_sign
from privacy.secagg.config import SecAggConfig
from privacy.secagg.graph import NeighbourGraph
from privacy.secagg.keys import SecAggError, agree, public_bytes, x25519_private
from privacy.secagg.prg import expand_mask


@dataclass
class SecAggServer:
    config: SecAggConfig
    length: int
    adverts: dict[str, Advert] = field(default_factory=dict)
    shares: dict[str, list[EncryptedShare]] = field(default_factory=dict)  # by receiver
    sharers: set[str] = field(default_factory=set)
    masked: dict[str, bytes] = field(default_factory=dict)  # site → sha256 of its masked input
    masked_sum: np.ndarray | None = None  # the running Σ y: memory stays O(d), not O(n·d)
    # Each masked input is also kept on disk until unmasking, so a site dropped after it uploaded can leave
    # the sum again (withdraw); memory stays O(d).
    _spill: tempfile.TemporaryDirectory | None = field(default=None, repr=False)
    revealed: dict[str, list[RevealedShare]] = field(default_factory=dict)
    graph: NeighbourGraph | None = None  # fixed when advertising closes
    _by_owner: dict[tuple[str, str], dict[int, tuple[str, int]]] = field(default_factory=dict)

    # stage 1
    def receive_advert(self, adv: Advert) -> None:
        self._member(adv.site)
        if self.graph is not None:
            raise SecAggError(f"{adv.site} advertised keys after advertising closed", offender=adv.site)
        if adv.site in self.adverts:
            raise SecAggError(f"{adv.site} already advertised keys", offender=adv.site)
        self.adverts[adv.site] = adv

    def close_advertising(self) -> NeighbourGraph:
        """Fix U1 and the graph every site will derive from it; later adverts are refused."""
        if self.graph is None:
            if len(self.adverts) < 2:
                raise SecAggError(f"only {len(self.adverts)} sites advertised keys; secure aggregation needs two")
            self.graph = NeighbourGraph.from_adverts(self.config.round_id, self.adverts.values(), self.config.degree)
        return self.graph

    def adverts_for(self, site: str) -> list[Advert]:
        """All of U1: each site checks every signature and recomputes the graph itself."""
        self.close_advertising()
        return [a for _, a in sorted(self.adverts.items())]

    # stage 2
    def receive_shares(self, site: str, shares: list[EncryptedShare]) -> None:
        self._member(site)
        if site not in self.adverts:
            raise SecAggError(f"{site} shares keys without having advertised any", offender=site)
        if site in self.sharers:
            raise SecAggError(f"{site} already shared its keys", offender=site)
        allowed = set(self.close_advertising().neighbours(site))
        for s in shares:
            if s.sender != site or s.receiver not in allowed:
                raise SecAggError(f"{site} sent a share addressed to {s.receiver}, not a neighbour", offender=site)
        for s in shares:
            self.shares.setdefault(s.receiver, []).append(s)
        self.sharers.add(site)

    def shares_for(self, site: str) -> list[EncryptedShare]:
        return [s for s in self.shares.get(site, []) if s.sender in self.sharers]

    # stage 3
    def receive_masked(self, site: str, y: np.ndarray) -> None:
        self._member(site)
        if site not in self.sharers:
            raise SecAggError(f"{site} sent a masked input without sharing its keys", offender=site)
        if site in self.masked:
            raise SecAggError(f"{site} already sent its masked input", offender=site)
        if y.dtype != np.uint64 or y.shape != (self.length,):
            raise SecAggError(f"masked input of {site} must be {self.length} uint64 values", offender=site)
        if self.config.bits < 64 and np.any(y > self.config.encoding.word_mask):
            raise SecAggError(f"masked input of {site} has words outside Z_2^{self.config.bits}", offender=site)
        if self.masked_sum is None:
            self.masked_sum = np.zeros(self.length, dtype=np.uint64)
            self._spill = tempfile.TemporaryDirectory(prefix="secagg-inputs-")
        self.masked_sum += y
        self.masked[site] = hashlib.sha256(y.tobytes()).digest()
        y.tofile(self._input_path(site))

    def _input_path(self, site: str) -> Path:
        return Path(self._spill.name) / hashlib.sha256(site.encode()).hexdigest()

    def withdraw(self, site: str) -> None:
        """Take a site's masked input out of the sum again (it was dropped before unmasking): it becomes a
        dropout like any other, its pairwise masks recovered from the survivors' shares of its mask key."""
        digest = self.masked.pop(site, None)
        if digest is None:
            return
        path = self._input_path(site)
        y = np.fromfile(path, dtype=np.uint64)
        if hashlib.sha256(y.tobytes()).digest() != digest:
            raise SecAggError(f"the stored masked input of {site} changed; refusing to unmask")
        self.masked_sum -= y
        path.unlink()

    # stage 4
    def survivors(self) -> list[str]:
        return sorted(self.masked)

    def receive_reveal(self, site: str, shares: list[RevealedShare]) -> None:
        self._member(site)
        if site not in self.masked:
            raise SecAggError(f"{site} reveals shares but sent no masked input", offender=site)
        survivors = set(self.masked)
        for s in shares:
            expected = B_KIND if s.owner in survivors else SK_KIND
            if s.kind != expected:
                raise SecAggError(f"{site} revealed a {s.kind} share of {s.owner}; expected {expected}", offender=site)
        point = self.config.point(site)
        for old in self.revealed.get(site, []):  # a repeated reveal replaces the earlier one
            self._by_owner[(old.owner, old.kind)].pop(point, None)
        self.revealed[site] = list(shares)
        for s in shares:
            self._by_owner.setdefault((s.owner, s.kind), {})[point] = (site, s.share)

    def finish(self) -> tuple[np.ndarray, list[str]]:
        """Σ encoded inputs of the survivors (uint64), after removing every mask."""
        survivors = self.survivors()
        if len(survivors) < self.config.threshold:
            raise SecAggError(f"only {len(survivors)} masked inputs; threshold is {self.config.threshold}")
        total = self.masked_sum.copy()
        dropped = sorted(self.sharers - set(survivors))
        for owner in survivors:
            seed = self._reconstruct(owner, B_KIND)
            total -= expand_mask(seed, self.length)
        for owner in dropped:
            sk = x25519_private(self._reconstruct(owner, SK_KIND))
            for peer in self.graph.neighbours(owner):
                # Only survivors that received the dropped site's shares masked with it.
                if peer in survivors and any(s.sender == owner for s in self.shares.get(peer, [])):
                    seed = agree(sk, self.adverts[peer].s_pk, pair_seed_info(self.config.round_id, owner, peer))
                    m = expand_mask(seed, self.length)
                    total = total - m if pairwise_sign(peer, owner, self.config) > 0 else total + m
        return self.config.encoding.reduce(total), survivors

    def _reconstruct(self, owner: str, kind: str) -> bytes:
        points = self._by_owner.get((owner, kind), {})
        t = self.config.threshold
        if len(points) < t:
            raise SecAggError(f"only {len(points)} shares of {owner}'s {kind} secret were revealed; "
                              f"threshold is {t}", offender=owner)
        shares = {x: y for x, (_, y) in points.items()}

        def valid(secret: bytes) -> bool:
            if kind == B_KIND:
                return hashlib.sha256(secret).digest() == self.adverts[owner].b_commitment
            return public_bytes(x25519_private(secret)) == self.adverts[owner].s_pk
        try:
            secret = shamir.combine(shares, t)
            if valid(secret):
                return secret
        except shamir.ReconstructionError:
            pass
        # A bad share: find the holder whose exclusion makes the secret check out.
        for x, (holder, _) in points.items():
            rest = {k: v for k, v in shares.items() if k != x}
            if len(rest) >= t:
                try:
                    if valid(shamir.combine(rest, t)):
                        raise SecAggError(f"{holder} revealed a tampered share of {owner}'s {kind} secret",
                                          offender=holder)
                except shamir.ReconstructionError:
                    continue
        raise SecAggError(f"the revealed shares of {owner}'s {kind} secret are inconsistent", offender=owner)

    def _member(self, site: str) -> None:
        if site not in self.config.participants:
            raise SecAggError(f"{site} is not a participant of round {self.config.round_id}", offender=site)
