"""The site agent's protocol loop: enrol, hold the task stream, run tasks, upload, report."""
from __future__ import annotations

import logging
import threading
import time

import grpc
from prometheus_client import Counter, Gauge

from client_agent.config import SiteConfig
from client_agent.local_store import LocalStore
from client_agent.secure_upload import SecureAggregationSession
from client_agent.site_privacy import BudgetExhausted, SitePrivacy
from client_agent.catalogs import SiteCatalogs
from client_agent.data_check import check_site
from client_agent.site_trainer import SiteTrainer
from fedads.catalog.catalog import CatalogError
from fedads.eventlog.check import CheckReport
from fedads.runtime.site_auth import site_credentials
from fedads.runtime.chunks import iter_chunks
from fedads.runtime.hashing import sha256_hex
from fedads.runtime.pause_point import pause
from fedads.runtime.registry_service import download_catalog, download_model
from client_agent.enrolment import enroll
from fedads.runtime.server import channel
from fedads.runtime.tls import Transport
from fedads.v1 import aggregator_pb2 as apb
from fedads.v1 import aggregator_pb2_grpc, coordinator_pb2_grpc, registry_pb2_grpc
from fedads.v1 import coordinator_pb2 as cpb

log = logging.getLogger(__name__)

TASKS = Counter("fedads_site_tasks_total", "Tasks handled by this site", ["kind", "outcome"])
UPLOAD_BYTES = Counter("fedads_site_upload_bytes_total", "Bytes of updates uploaded (masked)")
EPSILON = Gauge("fedads_site_epsilon", "ε spent by this site so far")

AGENT_VERSION = "0.1.0"
FATAL = (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


class AgentStopped(Exception):
    pass


def upload_stream(round_id: int, site_id: str, token: str, data: bytes, dtype: str = "float32"):
    itemsize = 4 if dtype == "float32" else int(dtype[4:]) // 8  # "uint48" → 6 bytes
    yield apb.UpdateChunk(header=apb.UpdateHeader(round_id=round_id, site_id=site_id, upload_token=token,
                                                  num_elements=len(data) // itemsize, dtype=dtype,
                                                  sha256=sha256_hex(data)))
    for _, piece in iter_chunks(data):
        yield apb.UpdateChunk(data=piece)


class SiteAgent:
    def __init__(self, config: SiteConfig):
        self.config = config
        self.store = LocalStore(config.state_dir)
        privacy = SitePrivacy(config.state_dir, config.dp_clip_norm, config.dp_epsilon_budget, config.dp_delta,
                              config.dp_noise_multiplier, config.dp_planned_rounds, config.dp_unit)
        self.catalogs = SiteCatalogs(config.state_dir / "catalogs", self._fetch_catalog)
        self.trainer = SiteTrainer(config.site_id, config.site_data(), self.store, config.device, config.threads,
                                   config.max_targets_per_user, config.eval_negatives, config.eval_seed, privacy,
                                   config.embedding_noise, config.keep_optimizer_state, catalogs=self.catalogs,
                                   negatives_from=config.negatives_from)
        self.transport: Transport | None = None  # known once enrolled (mTLS needs the issued certificate)
        self.coordinator = self.registry = None
        self._aggregators: dict[str, aggregator_pb2_grpc.AggregatorServiceStub] = {}
        self._model_cache: tuple[dict, bytes] | None = None
        self.stop_event = threading.Event()
        self.metadata: list[tuple[str, str]] = []
        self._stream = None

    # --- enrolment ---
    def _enrolled(self) -> dict | None:
        creds = self.store.credentials()
        if creds is None or creds["site_id"] != self.config.site_id:
            return None
        if not self.config.insecure and self.store.tls_identity() is None:
            return None
        return creds

    def _enroll(self) -> dict:
        token = self.config.token()
        if not token:
            raise AgentStopped(f"site {self.config.site_id} is not enrolled and no enrollment token is configured")
        ca_pem = None if self.config.insecure else self.config.ca_file.read_bytes()
        try:
            secret, _ = enroll(self.store, self.config.site_id, token, self.config.coordinator, ca_pem,
                               self.config.enroll_address)
        except grpc.RpcError as exc:
            raise AgentStopped(f"enrolment refused: {exc.details()}") from exc
        log.info("enrolled", extra={"site": self.config.site_id, "tls": not self.config.insecure})
        return {"site_id": self.config.site_id, "secret": secret}

    def ensure_enrolled(self) -> None:
        creds = self._enrolled() or self._enroll()
        self.metadata = site_credentials(creds["site_id"], creds["secret"])
        self.transport = Transport.insecure() if self.config.insecure else Transport(self.store.tls_identity())
        ch = channel(self.config.coordinator, self.transport)
        self.coordinator = coordinator_pb2_grpc.CoordinatorServiceStub(ch)
        self.registry = registry_pb2_grpc.ModelRegistryServiceStub(ch)

    def _fetch_catalog(self, version: int, dest):
        return download_catalog(self.registry, version, dest, metadata=self.metadata)

    def check_data(self) -> CheckReport:
        """The site's event log against the federation's newest catalogue; refuses to go online when invalid."""
        try:
            catalog = self.catalogs.get(0)
        except grpc.RpcError as exc:
            raise AgentStopped(f"could not fetch the federation's catalogue: {exc.code().name}: {exc.details()}") \
                from exc
        except CatalogError as exc:
            raise AgentStopped(f"the federation's catalogue is unusable: {exc}") from exc
        report = check_site(self.config, catalog, self.trainer.events)
        log.info("data checked", extra=report.counts())
        if not report.ok:
            raise AgentStopped(f"site data refused, not going online: {report.errors[0]}"
                               + (f" (and {len(report.errors) - 1} more; run client-agent check)"
                                  if len(report.errors) > 1 else ""))
        return report

    # --- main loop ---
    def run(self, max_tasks: int | None = None) -> None:
        self.ensure_enrolled()
        self.check_data()
        done, backoff = 0, 0.5
        while not self.stop_event.is_set():
            try:
                stream = self.coordinator.Connect(
                    cpb.ConnectRequest(agent_version=AGENT_VERSION, num_samples=self.trainer.num_interactions,
                                       device=str(self.trainer.device), privacy=self._privacy_settings()),
                    metadata=self.metadata, wait_for_ready=True)
                self._stream = stream
                log.info("connected to coordinator", extra={"address": self.config.coordinator})
                for task in stream:
                    backoff = 0.5
                    self.handle(task)
                    done += 1
                    if max_tasks is not None and done >= max_tasks:
                        stream.cancel()
                        return
                    if self.stop_event.is_set():
                        stream.cancel()
                        return
            except grpc.RpcError as exc:
                if exc.code() in FATAL:
                    raise AgentStopped(f"coordinator refused this site: {exc.details()}") from exc
                if exc.code() == grpc.StatusCode.CANCELLED and self.stop_event.is_set():
                    return
                log.warning("task stream lost; reconnecting", extra={"code": exc.code().name, "retry_s": backoff})
            self.stop_event.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def _privacy_settings(self) -> cpb.SitePrivacySettings:
        """The DP settings the coordinator's pre-round noise estimate needs (no data, no ledger)."""
        c = self.config
        if c.dp_clip_norm <= 0:
            return cpb.SitePrivacySettings()
        return cpb.SitePrivacySettings(unit=c.dp_unit, clip_norm=c.dp_clip_norm, epsilon_budget=c.dp_epsilon_budget,
                                       delta=c.dp_delta, noise_multiplier=c.dp_noise_multiplier,
                                       planned_rounds=c.dp_planned_rounds,
                                       num_records=self.trainer.num_training_records)

    def stop(self) -> None:
        self.stop_event.set()
        if self._stream is not None:
            self._stream.cancel()

    # --- tasks ---
    def model(self, version: int) -> tuple[dict, bytes]:
        if self._model_cache is None or self._model_cache[0]["version"] != version:
            manifest, data = download_model(self.registry, version, metadata=self.metadata)
            trust = self.store.model_trust()
            if trust is not None:  # refuse a version the coordinator did not sign, or an older log's
                trust.accept(manifest)
            self._model_cache = manifest, data
        return self._model_cache

    def handle(self, task) -> None:
        if task.deadline_unix and time.time() > task.deadline_unix:
            log.warning("skipping expired task", extra={"round_id": task.round_id})
            return
        followup = None
        try:
            if task.kind == cpb.TASK_KIND_TRAIN:
                result, followup = self._train(task)
            elif task.kind == cpb.TASK_KIND_EVALUATE:
                result = self._evaluate(task)
            elif task.kind == cpb.TASK_KIND_ABORT:
                log.warning("round stopped by the coordinator", extra={"round_id": task.round_id})
                return
            else:
                log.warning("ignoring task of unknown kind", extra={"kind": task.kind})
                return
        except BudgetExhausted as exc:
            log.warning("refusing round", extra={"round_id": task.round_id, "reason": str(exc)})
            p = self.trainer.privacy
            result = cpb.TaskResult(round_id=task.round_id, kind=task.kind, model_version=task.model_version,
                                    ok=False, refused=True, error=str(exc), epsilon_spent=p.budget.spent(),
                                    epsilon_budget=p.budget.epsilon_budget, noise_multiplier=p.noise_multiplier,
                                    dp_delta=p.delta)
        except grpc.RpcError as exc:
            if exc.code() in FATAL:
                raise
            result = cpb.TaskResult(round_id=task.round_id, kind=task.kind, model_version=task.model_version,
                                    ok=False, error=f"{exc.code().name}: {exc.details()}")
        except Exception as exc:  # noqa: BLE001 - report any local failure instead of dying silently
            log.exception("task failed", extra={"round_id": task.round_id})
            result = cpb.TaskResult(round_id=task.round_id, kind=task.kind, model_version=task.model_version,
                                    ok=False, error=f"{type(exc).__name__}: {exc}")
        TASKS.labels(cpb.TaskKind.Name(task.kind), "refused" if result.refused else "ok" if result.ok else "failed").inc()
        if result.epsilon_budget:
            EPSILON.set(result.epsilon_spent)
        self._report(result)
        if followup is not None:
            try:
                followup()
            except grpc.RpcError as exc:
                log.warning("unmasking failed", extra={"round_id": task.round_id, "code": exc.code().name,
                                                       "details": exc.details()})

    def _aggregator(self, address: str) -> aggregator_pb2_grpc.AggregatorServiceStub:
        if address not in self._aggregators:
            self._aggregators[address] = aggregator_pb2_grpc.AggregatorServiceStub(channel(address, self.transport))
        return self._aggregators[address]

    def _train(self, task):
        """Train and upload; returns the result and, under secure aggregation, the unmasking step."""
        if self.trainer.privacy.enabled:
            self.trainer.privacy.check()  # refuse before joining the secure-aggregation stages
        aggregator = self._aggregator(task.aggregator_address)
        session = None
        if task.secure_aggregation:
            # Keys are agreed before training so that every site's stages line up.
            session = SecureAggregationSession(aggregator, task, self.config.site_id, self.store.identity_key())
            session.setup()
        manifest, weights = self.model(task.model_version)
        outcome = self.trainer.train(manifest, weights, task.train, progress=f"round {task.round_id}")
        if session is not None:
            encoding = session.config.encoding
            data, dtype = encoding.pack(session.mask(outcome.vector)), f"uint{encoding.bits}"
        else:
            data, dtype = outcome.vector.astype("<f4").tobytes(), "float32"
        pause("FEDADS_PAUSE_BEFORE_UPLOAD", self.config.site_id)  # tests only: hold a trained site here
        receipt = aggregator.UploadUpdate(upload_stream(task.round_id, self.config.site_id, task.upload_token, data,
                                                        dtype), timeout=600)
        digest = sha256_hex(data)
        UPLOAD_BYTES.inc(len(data))
        if receipt.sha256 != digest:
            raise RuntimeError("aggregator receipt does not match the uploaded bytes")
        self.store.record_sent(task.round_id, outcome.vector, {
            "round_id": task.round_id, "model_version": task.model_version, "sha256": digest, "dtype": dtype,
            "num_samples": outcome.num_samples, "weights": outcome.weights, "bytes": len(data),
            "privacy": outcome.privacy,
            "secure_aggregation": session is not None}, masked=data if session is not None else None)
        log.info("update uploaded", extra={"round_id": task.round_id, "bytes": len(data), "dtype": dtype,
                                           "embedding_cosine": outcome.privacy.get("embedding_cosine"),
                                           "train_s": round(outcome.seconds, 2), "loss": round(outcome.loss, 4)})
        result = cpb.TaskResult(round_id=task.round_id, kind=task.kind, model_version=task.model_version, ok=True,
                                num_samples=outcome.num_samples, train_seconds=outcome.seconds,
                                bytes_sent=len(data), upload_sha256=digest, train_loss=outcome.loss,
                                interest_score=outcome.interest_score,
                                **{k: v for k, v in outcome.privacy.items() if k != "embedding_cosine"})
        return result, (session.unmask if session is not None else None)

    def _evaluate(self, task):
        manifest, weights = self.model(task.model_version)
        m = self.trainer.evaluate(manifest, weights, task.train if task.HasField("train") else None)
        log.info("evaluated", extra={"round_id": task.round_id, "version": task.model_version, **m})
        return cpb.TaskResult(round_id=task.round_id, kind=task.kind, model_version=task.model_version, ok=True,
                              metrics=cpb.EvalMetrics(
                                  num_users=m["num_users"], hr_at_10=m["hr_at_10"], ndcg_at_10=m["ndcg_at_10"],
                                  loss=m["loss"], personalised_num_users=m.get("personalised_num_users", 0),
                                  personalised_hr_at_10=m.get("personalised_hr_at_10", 0.0),
                                  personalised_ndcg_at_10=m.get("personalised_ndcg_at_10", 0.0)))

    def _report(self, result) -> None:
        for attempt in range(5):
            try:
                self.coordinator.ReportResult(result, metadata=self.metadata, timeout=30, wait_for_ready=True)
                return
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    log.warning("result refused", extra={"round_id": result.round_id, "code": exc.code().name,
                                                         "details": exc.details()})
                    return
                time.sleep(0.5 * (attempt + 1))
        log.error("gave up reporting a result: the coordinator stayed unreachable", extra={
            "round_id": result.round_id, "kind": cpb.TaskKind.Name(result.kind), "attempts": 5, "ok": result.ok})
