"""The aggregator's side of SecAgg+: relay keys and shares, sum masked inputs, remove the masks.

It only ever holds public keys, ciphertexts, masked vectors, and the secrets that unmasking
reveals (self-mask seeds of survivors, mask keys of sites that dropped after sharing); an
individual input is never reconstructable from those.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from privacy.secagg import shamir
from privacy.secagg.client import B_KIND, SK_KIND, Advert, EncryptedShare, RevealedShare, pair_seed_info, pairwise_sign
from privacy.secagg.config import SecAggConfig
from privacy.secagg.keys import SecAggError, agree, public_bytes, x25519_private
from privacy.secagg.prg import expand_mask


@dataclass
class SecAggServer:
    config: SecAggConfig
    length: int
    adverts: dict[str, Advert] = field(default_factory=dict)
    shares: dict[str, list[EncryptedShare]] = field(default_factory=dict)  # by receiver
    sharers: set[str] = field(default_factory=set)
    masked: dict[str, np.ndarray] = field(default_factory=dict)
    revealed: dict[str, list[RevealedShare]] = field(default_factory=dict)

    # stage 1
    def receive_advert(self, adv: Advert) -> None:
        self._member(adv.site)
        if adv.site in self.adverts:
            raise SecAggError(f"{adv.site} already advertised keys", offender=adv.site)
        self.adverts[adv.site] = adv

    def adverts_for(self, site: str) -> list[Advert]:
        wanted = set(self.config.neighbours(site)) | {site}
        return [a for s, a in sorted(self.adverts.items()) if s in wanted]

    # stage 2
    def receive_shares(self, site: str, shares: list[EncryptedShare]) -> None:
        self._member(site)
        if site not in self.adverts:
            raise SecAggError(f"{site} shares keys without having advertised any", offender=site)
        if site in self.sharers:
            raise SecAggError(f"{site} already shared its keys", offender=site)
        allowed = set(self.config.neighbours(site)) & set(self.adverts)
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
        self.masked[site] = y

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
        self.revealed[site] = list(shares)

    def finish(self) -> tuple[np.ndarray, list[str]]:
        """Σ encoded inputs of the survivors (uint64), after removing every mask."""
        survivors = self.survivors()
        if len(survivors) < self.config.threshold:
            raise SecAggError(f"only {len(survivors)} masked inputs; threshold is {self.config.threshold}")
        total = np.zeros(self.length, dtype=np.uint64)
        for y in self.masked.values():
            total += y
        dropped = sorted(self.sharers - set(survivors))
        for owner in survivors:
            seed = self._reconstruct(owner, B_KIND)
            total -= expand_mask(seed, self.length)
        for owner in dropped:
            sk = x25519_private(self._reconstruct(owner, SK_KIND))
            for peer in self.config.neighbours(owner):
                # Only survivors that received the dropped site's shares masked with it.
                if peer in survivors and any(s.sender == owner for s in self.shares.get(peer, [])):
                    seed = agree(sk, self.adverts[peer].s_pk, pair_seed_info(self.config.round_id, owner, peer))
                    m = expand_mask(seed, self.length)
                    total = total - m if pairwise_sign(peer, owner, self.config) > 0 else total + m
        return self.config.encoding.reduce(total), survivors

    def _reconstruct(self, owner: str, kind: str) -> bytes:
        points = {}
        for holder, shares in self.revealed.items():
            for s in shares:
                if s.owner == owner and s.kind == kind:
                    points[self.config.point(holder)] = (holder, s.share)
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
