"""bench/load's lightweight sites: the whole site protocol (enrolment, task stream, SecAgg+ stages, masked
upload, result reports) with a random update of the right shape in place of training.

All sites share one asyncio event loop on one thread. A thread per site spends its time in the GIL and in
gRPC's per-call polling instead: 1,000 such threads kept two cores at a load of 400, mostly in the kernel,
and the first round had not finished after 4 minutes. Each site keeps its own certificate, so its own two
connections (coordinator, aggregator), reused across rounds.
"""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import grpc
import numpy as np

from client_agent.agent import upload_stream
from client_agent.enrolment import enroll
from client_agent.local_store import LocalStore
from fedads.runtime.hashing import sha256_hex
from fedads.runtime.layout import UpdateLayout
from fedads.runtime.registry import manifest_from_proto
from fedads.runtime.server import CHANNEL_OPTIONS
from fedads.runtime.site_auth import site_credentials
from fedads.v1 import aggregator_pb2 as apb
from fedads.v1 import aggregator_pb2_grpc, coordinator_pb2_grpc, registry_pb2, registry_pb2_grpc
from fedads.v1 import coordinator_pb2 as cpb
from client_agent.secure_upload import SecureAggregationSession
from privacy.secagg.client import Advert, EncryptedShare
from privacy.secagg.shamir import share_to_bytes

NUM_SAMPLES = 100


class LightSite:
    """One site; enrolment is synchronous (before the loop starts), everything after it a coroutine."""

    def __init__(self, site_id: str, coordinator: str, token: str, state: Path, ca_pem: bytes = b"",
                 enroll_address: str = ""):
        self.site_id, self.store, self.coordinator_address = site_id, LocalStore(state), coordinator
        secret, self.transport = enroll(self.store, site_id, token, coordinator, ca_pem, enroll_address)
        self.md = site_credentials(site_id, secret)
        self.identity = self.store.identity_key()
        self.rng = np.random.default_rng(abs(hash(site_id)) % 2**32)
        self.channels: dict[str, grpc.aio.Channel] = {}
        self.layouts: dict[int, UpdateLayout] = {}
        self.errors: list[str] = []
        self.call = None

    def _channel(self, address: str) -> grpc.aio.Channel:
        # One connection per peer service for the site's lifetime (a channel per task would leave each
        # round's connection to the garbage collector).
        if address not in self.channels:
            self.channels[address] = self.transport.aio_channel(address, CHANNEL_OPTIONS)
        return self.channels[address]

    async def run(self) -> None:
        ch = self._channel(self.coordinator_address)
        self.coordinator = coordinator_pb2_grpc.CoordinatorServiceStub(ch)
        self.registry = registry_pb2_grpc.ModelRegistryServiceStub(ch)
        self.call = self.coordinator.Connect(cpb.ConnectRequest(num_samples=NUM_SAMPLES), metadata=self.md)
        try:
            async for task in self.call:
                try:
                    await self.handle(task)
                except grpc.aio.AioRpcError as exc:
                    self.errors.append(f"{exc.code().name}: {exc.details()}")
        except (grpc.aio.AioRpcError, asyncio.CancelledError):
            pass

    async def handle(self, task) -> None:
        if task.kind == cpb.TASK_KIND_EVALUATE:
            await self.coordinator.ReportResult(cpb.TaskResult(
                round_id=task.round_id, kind=task.kind, model_version=task.model_version, ok=True,
                metrics=cpb.EvalMetrics(num_users=1, hr_at_10=0.5, ndcg_at_10=0.3)), metadata=self.md, timeout=60)
            return
        agg = aggregator_pb2_grpc.AggregatorServiceStub(self._channel(task.aggregator_address))
        session = SecureAggregationSession(agg, task, self.site_id, self.identity)
        await self.setup(session)
        layout = await self.layout(task.model_version)
        deltas = {s.name: self.rng.normal(0, 1e-3, size=s.shape) for s in layout.slots}
        vector = layout.pack(deltas, {scope: float(NUM_SAMPLES) for scope in layout.scopes})
        data = session.config.encoding.pack(session.mask(vector))
        await agg.UploadUpdate(upload_stream(task.round_id, self.site_id, task.upload_token, data,
                                             f"uint{session.config.bits}"), timeout=120)
        await self.coordinator.ReportResult(cpb.TaskResult(
            round_id=task.round_id, kind=task.kind, model_version=task.model_version, ok=True,
            num_samples=NUM_SAMPLES, bytes_sent=len(data), upload_sha256=sha256_hex(data)), metadata=self.md,
            timeout=60)
        await self.unmask(session)

    async def layout(self, version: int) -> UpdateLayout:
        if version not in self.layouts:
            manifest = manifest_from_proto(await self.registry.GetManifest(
                registry_pb2.GetManifestRequest(version=version), timeout=60))
            self.layouts[version] = UpdateLayout.from_manifest(manifest)
        return self.layouts[version]

    # SecureAggregationSession's setup() and unmask(), awaited (its messages and client state as they are).
    @staticmethod
    async def setup(s: SecureAggregationSession) -> None:
        a = s.client.advertise()
        resp = await s.stub.AdvertiseKeys(apb.AdvertiseKeysRequest(auth=s.auth, advert=apb.KeyAdvertisement(
            site_id=a.site, c_pk=a.c_pk, s_pk=a.s_pk, b_commitment=a.b_commitment, signature=a.signature)),
            timeout=s._timeout())
        shares = s.client.share_keys([Advert(x.site_id, x.c_pk, x.s_pk, x.b_commitment, x.signature)
                                      for x in resp.adverts])
        resp = await s.stub.ShareKeys(apb.ShareKeysRequest(auth=s.auth, shares=[
            apb.EncryptedShare(sender=x.sender, receiver=x.receiver, ciphertext=x.ciphertext) for x in shares]),
            timeout=s._timeout())
        s.client.receive_shares([EncryptedShare(x.sender, x.receiver, x.ciphertext) for x in resp.shares])

    @staticmethod
    async def unmask(s: SecureAggregationSession) -> None:
        survivors = list((await s.stub.Unmask(apb.UnmaskRequest(auth=s.auth), timeout=s._timeout())).survivors)
        revealed = s.client.reveal(survivors)
        await s.stub.RevealShares(apb.RevealSharesRequest(auth=s.auth, shares=[
            apb.RevealedShare(owner=r.owner, kind=r.kind, share=share_to_bytes(r.share)) for r in revealed]),
            timeout=s._timeout())

    async def close(self) -> None:
        if self.call is not None:
            self.call.cancel()
        for ch in self.channels.values():
            await ch.close()


class SiteLoop:
    """An event loop on its own thread running every site until stop()."""

    def __init__(self, sites: list[LightSite]):
        self.sites = sites
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sites", daemon=True)
        self.tasks: list = []

    def start(self) -> None:
        self.thread.start()
        self.tasks = [asyncio.run_coroutine_threadsafe(s.run(), self.loop) for s in self.sites]

    def stop(self, timeout: float = 60.0) -> None:
        async def close_all():
            await asyncio.gather(*(s.close() for s in self.sites), return_exceptions=True)

        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(timeout)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout)
