"""A site's SecAgg+ session over gRPC: key stages before training, masked upload, unmasking after."""
from __future__ import annotations

import time

import numpy as np

from fedads.v1 import aggregator_pb2 as apb
from privacy.secagg.client import Advert, EncryptedShare, SecAggClient
from privacy.secagg.config import SecAggConfig
from privacy.secagg.shamir import share_to_bytes


class SecureAggregationSession:
    def __init__(self, stub, task, site_id: str, identity_key):
        kwargs = {"clip": task.secagg_clip} if task.secagg_clip else {}
        self.config = SecAggConfig(task.round_id, tuple(p.site_id for p in task.peers), **kwargs)
        self.client = SecAggClient(self.config, site_id, identity_key,
                                   {p.site_id: p.identity_public_key for p in task.peers})
        self.stub = stub
        self.deadline = task.deadline_unix or time.time() + 600
        self.auth = apb.SiteAuth(round_id=task.round_id, site_id=site_id, upload_token=task.upload_token)

    def _timeout(self) -> float:
        return max(5.0, self.deadline - time.time())

    def setup(self) -> None:
        """Advertise signed keys, then share secrets with neighbours; both calls wait for the others."""
        a = self.client.advertise()
        resp = self.stub.AdvertiseKeys(apb.AdvertiseKeysRequest(auth=self.auth, advert=apb.KeyAdvertisement(
            site_id=a.site, c_pk=a.c_pk, s_pk=a.s_pk, b_commitment=a.b_commitment, signature=a.signature)),
            timeout=self._timeout())
        shares = self.client.share_keys([Advert(x.site_id, x.c_pk, x.s_pk, x.b_commitment, x.signature)
                                         for x in resp.adverts])
        resp = self.stub.ShareKeys(apb.ShareKeysRequest(auth=self.auth, shares=[
            apb.EncryptedShare(sender=s.sender, receiver=s.receiver, ciphertext=s.ciphertext) for s in shares]),
            timeout=self._timeout())
        self.client.receive_shares([EncryptedShare(x.sender, x.receiver, x.ciphertext) for x in resp.shares])

    def mask(self, vector: np.ndarray) -> np.ndarray:
        peak = float(np.max(np.abs(vector))) if len(vector) else 0.0
        if peak > self.config.clip:
            # Clipping here would silently bias the aggregate; fail the site's task instead.
            raise ValueError(f"update value {peak:.3g} exceeds the secure-aggregation range ±{self.config.clip:.3g}; "
                             f"raise --secagg-clip")
        return self.client.mask(vector, np.random.default_rng())

    def unmask(self) -> list[str]:
        survivors = list(self.stub.Unmask(apb.UnmaskRequest(auth=self.auth), timeout=self._timeout()).survivors)
        revealed = self.client.reveal(survivors)
        self.stub.RevealShares(apb.RevealSharesRequest(auth=self.auth, shares=[
            apb.RevealedShare(owner=r.owner, kind=r.kind, share=share_to_bytes(r.share)) for r in revealed]),
            timeout=self._timeout())
        return survivors
