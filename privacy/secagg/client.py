"""A site's side of SecAgg+: advertise signed keys, share secrets, mask the input, reveal shares once."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

from privacy.secagg import shamir
from privacy.secagg.config import SecAggConfig
from privacy.secagg.graph import NeighbourGraph
from privacy.secagg.keys import (SecAggError, X25519PrivateKey, advert_message, agree, decrypt, encrypt,
                                 public_bytes, verify_signature)
from privacy.secagg.prg import expand_mask

B_KIND, SK_KIND = "b", "sk"


@dataclass(frozen=True)
class Advert:
    site: str
    c_pk: bytes
    s_pk: bytes
    b_commitment: bytes  # sha256 of the self-mask seed, so a reconstructed seed can be checked
    signature: bytes


@dataclass(frozen=True)
class EncryptedShare:
    sender: str
    receiver: str
    ciphertext: bytes


@dataclass(frozen=True)
class RevealedShare:
    owner: str
    kind: str  # "b" (owner survived) or "sk" (owner dropped after sharing)
    share: int


def pair_seed_info(round_id: int, a: str, b: str) -> bytes:
    lo, hi = sorted((a, b))
    return f"fedads-secagg-mask-v1|{round_id}|{lo}|{hi}".encode()


def share_aad(round_id: int, sender: str, receiver: str, graph_seed: bytes) -> bytes:
    # Bound to the graph: a server that shows two sites different advert sets makes their shares fail to open.
    return f"fedads-secagg-share-v2|{round_id}|{sender}|{receiver}|{graph_seed.hex()}".encode()


def pairwise_sign(me: str, other: str, config: SecAggConfig) -> int:
    """+1 if `me` adds the pair's mask, −1 if it subtracts it; the two ends always disagree."""
    return 1 if config.index(me) < config.index(other) else -1


class SecAggClient:
    def __init__(self, config: SecAggConfig, site: str, identity_key, identity_pks: dict[str, bytes]):
        if site not in config.participants:
            raise ValueError(f"{site} is not a participant of round {config.round_id}")
        self.config, self.site = config, site
        self.identity_key, self.identity_pks = identity_key, identity_pks
        self.c_sk, self.s_sk = X25519PrivateKey.generate(), X25519PrivateKey.generate()
        self.b_seed = os.urandom(32)
        self.adverts: dict[str, Advert] = {}
        self.received: dict[str, tuple[int, int]] = {}  # owner → (b share, sk share) held by this site
        self.revealed: dict[str, str] = {}  # owner → kind already revealed (never both)
        self.graph: NeighbourGraph | None = None

    def advertise(self) -> Advert:
        c_pk, s_pk = public_bytes(self.c_sk), public_bytes(self.s_sk)
        commitment = hashlib.sha256(self.b_seed).digest()
        sig = self.identity_key.sign(advert_message(self.config.round_id, self.site, c_pk, s_pk, commitment))
        return Advert(self.site, c_pk, s_pk, commitment, sig)

    def share_keys(self, adverts: list[Advert]) -> list[EncryptedShare]:
        """Verify every advertised key, derive the round's graph from them, then send each holder its
        shares of b and s_sk, encrypted."""
        self.adverts = self._verified(adverts)
        self.graph = NeighbourGraph.from_adverts(self.config.round_id, self.adverts.values(), self.config.degree)
        holders = self.graph.holders(self.site)
        if len(holders) < self.config.threshold:
            raise SecAggError(f"only {len(holders)} share holders advertised keys; threshold is "
                              f"{self.config.threshold}")
        points = [self.config.point(h) for h in holders]
        b_shares = shamir.split(self.b_seed, self.config.threshold, points)
        sk_bytes = self.s_sk.private_bytes_raw()
        sk_shares = shamir.split(sk_bytes, self.config.threshold, points)
        out = []
        for h, x in zip(holders, points):
            plaintext = shamir.share_to_bytes(b_shares[x]) + shamir.share_to_bytes(sk_shares[x])
            if h == self.site:
                self.received[h] = (b_shares[x], sk_shares[x])
                continue
            key = agree(self.c_sk, self.adverts[h].c_pk, b"fedads-secagg-share-key-v1")
            out.append(EncryptedShare(self.site, h, encrypt(key, plaintext, self._aad(self.site, h))))
        return out

    def _verified(self, adverts: list[Advert]) -> dict[str, Advert]:
        """All of U1, each signature checked: the graph is a function of these, so none may be forged."""
        out: dict[str, Advert] = {}
        for adv in adverts:
            if adv.site not in self.config.participants or adv.site in out:
                raise SecAggError(f"the server returned an advertisement for {adv.site!r}, which is not a "
                                  f"participant of round {self.config.round_id} or appears twice", offender="server")
            if adv.site not in self.identity_pks:
                raise SecAggError(f"no identity key is known for {adv.site}", offender=adv.site)
            verify_signature(self.identity_pks[adv.site], adv.signature, advert_message(
                self.config.round_id, adv.site, adv.c_pk, adv.s_pk, adv.b_commitment), adv.site)
            out[adv.site] = adv
        if self.site not in out or out[self.site].c_pk != public_bytes(self.c_sk) \
                or out[self.site].s_pk != public_bytes(self.s_sk):
            raise SecAggError("the server did not return this site's own advertisement unchanged", offender="server")
        return out

    def _aad(self, sender: str, receiver: str) -> bytes:
        return share_aad(self.config.round_id, sender, receiver, self.graph.seed)

    def receive_shares(self, shares: list[EncryptedShare]) -> None:
        neighbours = set(self.graph.neighbours(self.site))
        for s in shares:
            if s.receiver != self.site or s.sender not in neighbours:
                raise SecAggError(f"unexpected share from {s.sender} to {s.receiver}", offender=s.sender)
            key = agree(self.c_sk, self.adverts[s.sender].c_pk, b"fedads-secagg-share-key-v1")
            plain = decrypt(key, s.ciphertext, self._aad(s.sender, self.site), s.sender)
            self.received[s.sender] = (shamir.share_from_bytes(plain[:66]), shamir.share_from_bytes(plain[66:]))

    def sharing_peers(self) -> list[str]:
        """Neighbours that completed key sharing with this site (U2 ∩ N(site))."""
        return sorted(p for p in self.received if p != self.site)

    def mask(self, vector: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """y = encode(x) + PRG(b) + Σ ±PRG(s_ij) over sharing neighbours, in Z_2^k."""
        enc = self.config.encoding.encode(vector, rng)
        y = enc + expand_mask(self.b_seed, len(enc))
        for peer in self.sharing_peers():
            seed = agree(self.s_sk, self.adverts[peer].s_pk, pair_seed_info(self.config.round_id, self.site, peer))
            m = expand_mask(seed, len(enc))
            y = y + m if pairwise_sign(self.site, peer, self.config) > 0 else y - m
        return self.config.encoding.reduce(y)

    def reveal(self, survivors: list[str]) -> list[RevealedShare]:
        survivors = set(survivors)
        if len(survivors) < self.config.threshold:
            raise SecAggError(f"refusing to unmask: {len(survivors)} survivors is below the threshold "
                              f"{self.config.threshold}")
        out = []
        for owner, (b_share, sk_share) in self.received.items():
            kind = B_KIND if owner in survivors else SK_KIND
            if self.revealed.get(owner, kind) != kind:
                raise SecAggError(f"the server asked for both secrets of {owner}; refusing", offender="server")
            self.revealed[owner] = kind
            out.append(RevealedShare(owner, kind, b_share if kind == B_KIND else sk_share))
        return out
