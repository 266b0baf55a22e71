"""One round's aggregation: validated uploads in, one published model version out.

An upload is checked completely (site, token, length, dtype, digest, finite values) before it
touches the round, so a rejected upload leaves no trace.
"""
from __future__ import annotations

import threading

import numpy as np

from aggregator.secagg_stages import SecAggStages, StageClosed
from fedads.runtime.hashing import secret_matches, sha256_hex
from fedads.runtime.layout import UpdateLayout
from fedads.runtime.pause_point import pause
from fedads.runtime.registry import ModelRegistry
from privacy.secagg.config import SecAggConfig
from privacy.secagg.keys import SecAggError


class UploadRejected(Exception):
    """`kind` maps to a gRPC status: invalid, unauthenticated, permission, precondition, exists, not_found."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class AggregationRound:
    def __init__(self, round_id: int, base_version: int, participants: dict[str, str], registry: ModelRegistry,
                 secure: bool = False, clip: float = 0.0, stage_deadline_s: float = 120.0, server_lr: float = 1.0,
                 server_momentum: float = 0.0):
        self.round_id = round_id
        self.server_lr, self.server_momentum = server_lr, server_momentum
        self.participants = dict(participants)  # site → sha256 of its upload token
        self.registry = registry
        self.manifest, self.base = registry.load(base_version)
        self.layout = UpdateLayout.from_manifest(self.manifest)
        self.received: dict[str, np.ndarray] = {}
        self.digests: dict[str, str] = {}
        self.closed = False
        self.dropped: set[str] = set()
        self.lock = threading.Lock()
        self.stages: SecAggStages | None = None
        if secure:
            config = SecAggConfig(round_id, tuple(participants), **({"clip": clip} if clip else {}))
            self.stages = SecAggStages(config, self.layout.length, stage_deadline_s)
        if self.stages is not None:
            encoding = self.stages.config.encoding
            self.dtype, self.itemsize = f"uint{encoding.bits}", encoding.word_bytes
        else:
            self.dtype, self.itemsize = "float32", 4

    def authenticate(self, site_id: str, token: str) -> None:
        if site_id not in self.participants:
            raise UploadRejected("permission", f"site {site_id!r} is not a participant of round {self.round_id}")
        if site_id in self.dropped:
            raise UploadRejected("permission", f"site {site_id} was dropped from round {self.round_id}")
        if not secret_matches(token, self.participants[site_id]):
            raise UploadRejected("unauthenticated", f"upload token of site {site_id} does not match round {self.round_id}")

    def check_header(self, site_id: str, token: str, num_elements: int, dtype: str) -> None:
        self.authenticate(site_id, token)
        if self.closed:
            raise UploadRejected("precondition", f"round {self.round_id} no longer accepts uploads")
        if site_id in self.received:
            raise UploadRejected("exists", f"site {site_id} already uploaded its update for round {self.round_id}")
        if dtype != self.dtype:
            mode = "secure" if self.stages else "plain"
            raise UploadRejected("invalid", f"update dtype {dtype!r} does not fit this round's {mode} aggregation; "
                                            f"send {self.dtype}")
        if num_elements != self.layout.length:
            raise UploadRejected("invalid", f"update has {num_elements} elements; round {self.round_id} "
                                            f"expects {self.layout.length}")

    def accept(self, site_id: str, token: str, num_elements: int, dtype: str, sha256: str, data: bytes) -> str:
        self.check_header(site_id, token, num_elements, dtype)
        if len(data) != num_elements * self.itemsize:
            raise UploadRejected("invalid", f"update carries {len(data)} bytes; the header announced "
                                            f"{num_elements * self.itemsize}")
        digest = sha256_hex(data)
        if digest != sha256:
            raise UploadRejected("invalid", "update bytes do not match the sha256 in the header (corrupted upload)")
        if self.stages is not None:
            masked = self.stages.config.encoding.unpack(data)
            with self.lock:
                self.check_header(site_id, token, num_elements, dtype)
                try:
                    self.stages.masked_input(site_id, masked)
                except StageClosed as exc:
                    raise UploadRejected("precondition", str(exc)) from exc
                except SecAggError as exc:
                    raise UploadRejected("invalid", str(exc)) from exc
                self.received[site_id] = None  # the masked vector lives in the SecAgg server state
                self.digests[site_id] = digest
            return digest
        vector = np.frombuffer(data, dtype="<f4")
        if not np.isfinite(vector).all():
            raise UploadRejected("invalid", "update holds NaN or Inf values")
        weights = self.layout.weights_of(vector)
        if any(w < 0 for w in weights.values()):
            raise UploadRejected("invalid", "update has a negative aggregation weight")
        with self.lock:
            self.check_header(site_id, token, num_elements, dtype)  # again, under the lock: uploads race
            self.received[site_id] = vector
            self.digests[site_id] = digest
        return digest

    def drop(self, site_ids: list[str]) -> None:
        """From now on these sites are refused, and an update they already sent is not in the sum."""
        with self.lock:
            self.dropped.update(site_ids)
            for site in site_ids:
                if self.stages is None:
                    self.received.pop(site, None)
                    self.digests.pop(site, None)
            if self.stages is not None:
                self.stages.drop(list(site_ids))
                for site in site_ids:
                    self.received.pop(site, None)

    def finalize(self, site_ids: list[str], min_sites: int) -> dict:
        with self.lock:
            self.closed = True
            included = [s for s in site_ids if s in self.received and s not in self.dropped]
        if len(included) < max(min_sites, 1):
            raise UploadRejected("precondition", f"only {len(included)} of the {len(site_ids)} named sites have "
                                                 f"uploaded; min-sites is {min_sites}")
        if self.stages is not None:
            # Under SecAgg the sum can only be taken over every masked input received (the masks of
            # the others cancel only together), so the survivors, not site_ids, define who is included.
            try:
                total, included = self.stages.finalize()
            except (SecAggError, StageClosed) as exc:
                raise UploadRejected("precondition", f"secure aggregation failed: {exc}") from exc
            if len(included) < max(min_sites, 1):
                raise UploadRejected("precondition", f"only {len(included)} sites survived unmasking; "
                                                     f"min-sites is {min_sites}")
        else:
            total = np.zeros(self.layout.length, dtype=np.float64)
            for site in included:
                total += self.received[site]
        previous = self.registry.parent_tensors(self.manifest) if self.server_momentum else None
        tensors = self.layout.apply(self.base, total, self.server_lr, self.server_momentum, previous)
        # Staged, not published: the version becomes visible only when the coordinator commits the round.
        manifest = self.registry.publish_successor(
            self.manifest, tensors, round_id=self.round_id, staged=True,
            # The base's sha256 lets the coordinator refuse a round built on a base that is not the
            # version it published (a registry altered between rounds), before it signs the result.
            extras={"sites": included, "weights": self.layout.weights_of(total), "base_sha256": self.manifest["sha256"],
                    "secure_aggregation": self.stages is not None, "server_learning_rate": self.server_lr,
                    "server_momentum": self.server_momentum if previous is not None else 0.0})
        pause("FEDADS_PAUSE_AFTER_STAGING", str(manifest["version"]))
        return {"manifest": manifest, "included": included}
