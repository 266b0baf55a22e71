"""The round state machine: select → TRAINING → AGGREGATING → EVALUATING → COMPLETED, or FAILED.

Every transition is written to SQL before the next step starts, so a restarted coordinator
finds each round either finished or visibly interrupted (and fails it), never half-published.
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time

from coordinator import metrics
from coordinator.noise_estimate import NoiseGuard
from coordinator.aggregator_client import AggregatorError
from coordinator.round_config import RoundSettings
from coordinator.site_hub import SiteHub
from coordinator.store import CoordinatorStore, StoreError
from fedads.runtime.errors import one_line
from fedads.runtime.hashing import new_secret, sha256_hex
from fedads.v1 import coordinator_pb2 as cpb

log = logging.getLogger(__name__)

TRAIN_OPEN = ("SELECTED",)


class RoundFailed(Exception):
    pass


class RoundManager:
    def __init__(self, store: CoordinatorStore, hub: SiteHub, aggregator, aggregator_address: str,
                 reconnect_grace_s: float = 5.0, poll_s: float = 0.1, audit=None, publisher=None):
        self.store = store
        self.hub = hub
        self.aggregator = aggregator
        self.aggregator_address = aggregator_address
        self.reconnect_grace_s = reconnect_grace_s
        self.poll_s = poll_s
        self._changed = threading.Condition()
        self._threads: dict[int, threading.Thread] = {}
        self.audit = audit
        self._stops: dict[int, str] = {}  # round id → why the operator stopped it (coordinator/round_stop.py)
        self.noise = NoiseGuard()
        self.publisher = publisher

    def audit_event(self, kind: str, round_id: int, **payload) -> None:
        if self.audit is not None:
            self.audit.append(kind, round_id, **payload)

    def notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # --- starting ---
    def start_round(self, settings: RoundSettings) -> int:
        enrolled = {s["site_id"] for s in self.store.sites() if not s["revoked"]}
        online = sorted(set(self.hub.online()) & enrolled)
        if settings.sites and settings.sites < settings.min_sites:
            raise StoreError("invalid", f"selecting {settings.sites} sites cannot meet min-sites {settings.min_sites}")
        count = max(settings.select_count(len(online)), settings.min_sites)
        if len(online) < count:
            raise StoreError("precondition",
                             f"{len(online)} sites online, the round needs {count}")
        if not settings.plain_aggregation and count < 2:
            raise StoreError("precondition", "secure aggregation needs at least 2 sites; select more, or pass "
                                             "--plain-aggregation for a single-site debug round")
        chosen = sorted(random.Random(settings.seed).sample(online, count))
        base_version = self.store.latest_model_version()
        if base_version == 0:
            raise StoreError("precondition", "no model is published yet; start the coordinator with --init-model")
        noise = self.noise.check(chosen, settings, self._shared_coordinates(base_version), self.store.sites(),
                                 self.audit_event)
        tokens = {site: new_secret() for site in chosen}
        round_id = self.store.create_round(settings.to_dict(), base_version,
                                           {s: sha256_hex(t.encode()) for s, t in tokens.items()})
        log.info("round started", extra={"round_id": round_id, "sites": chosen, "base_version": base_version})
        self.audit_event("round_started", round_id, sites=chosen, base_version=base_version, config=settings.to_dict())
        if noise is not None:
            self.audit_event("noise_estimate", round_id, **noise)
            if "warning" in noise:
                log.warning("round runs with noise that swamps the average", extra={"round_id": round_id,
                                                                                   "estimate": noise["warning"]})
        thread = threading.Thread(target=self._drive, args=(round_id, settings, tokens), daemon=True,
                                  name=f"round-{round_id}")
        self._threads[round_id] = thread
        thread.start()
        return round_id

    def wait(self, round_id: int, timeout: float | None = None) -> None:
        thread = self._threads.get(round_id)
        if thread:
            thread.join(timeout)

    # --- results from sites ---
    def on_result(self, site_id: str, result) -> None:
        rnd = self.store.round(result.round_id)
        if rnd is None:
            raise StoreError("not_found", f"round {result.round_id} does not exist")
        part = self.store.participant(result.round_id, site_id)
        if part is None:
            raise StoreError("permission", f"site {site_id} is not a participant of round {result.round_id}")
        if result.kind == cpb.TASK_KIND_TRAIN:
            self._on_train_result(rnd, part, site_id, result)
        elif result.kind == cpb.TASK_KIND_EVALUATE:
            self._on_eval_result(rnd, part, site_id, result)
        else:
            raise StoreError("invalid", "task result kind must be TRAIN or EVALUATE")
        self.notify()

    def _on_train_result(self, rnd, part, site_id, result) -> None:
        if part["state"] == "UPLOADED" and part["upload_sha256"] == result.upload_sha256:
            return  # a retried report of the same upload: idempotent
        if rnd["state"] != "TRAINING" or part["state"] not in TRAIN_OPEN:
            raise StoreError("precondition", f"round {rnd['round_id']} does not expect a training result from "
                                             f"{site_id} (round {rnd['state']}, site {part['state']})")
        privacy = dict(epsilon_spent=result.epsilon_spent, epsilon_budget=result.epsilon_budget,
                       noise_multiplier=result.noise_multiplier)
        if result.epsilon_budget:
            self.store.touch_site(site_id, epsilon=(result.epsilon_spent, result.epsilon_budget))
        if not result.ok:
            self.store.update_participant(rnd["round_id"], site_id, TRAIN_OPEN,
                                          state="REFUSED" if result.refused else "FAILED",
                                          error=result.error[:2000], **privacy)
            self.hub.clear(site_id, rnd["round_id"])
            self._tell_aggregator_dropped(rnd["round_id"], [site_id])
            metrics.DROPOUTS.labels("refused" if result.refused else "failed").inc()
            self.audit_event("site_refused" if result.refused else "site_failed", rnd["round_id"], site=site_id,
                      reason=result.error[:500], epsilon=result.epsilon_spent, budget=result.epsilon_budget)
            log.warning("site refused its task" if result.refused else "site failed its task", extra={"round_id": rnd["round_id"], "site": site_id,
                                                       "error": result.error})
            return
        if len(result.upload_sha256) != 64 or result.num_samples <= 0:
            raise StoreError("invalid", "a training result needs the upload's sha256 and a positive sample count")
        self.store.update_participant(rnd["round_id"], site_id, TRAIN_OPEN, state="UPLOADED",
                                      num_samples=result.num_samples, train_seconds=result.train_seconds,
                                      bytes_sent=result.bytes_sent, upload_sha256=result.upload_sha256, **privacy)
        if result.epsilon_budget:
            metrics.EPSILON.labels(site_id).set(result.epsilon_spent)
            self.audit_event("epsilon_spent", rnd["round_id"], site=site_id, epsilon=result.epsilon_spent,
                      budget=result.epsilon_budget, delta=result.dp_delta, noise_multiplier=result.noise_multiplier)
            log.info("privacy spent", extra={"round_id": rnd["round_id"], "site": site_id,
                                             "epsilon": result.epsilon_spent, "budget": result.epsilon_budget,
                                             "delta": result.dp_delta, "sigma": result.noise_multiplier})
        self.hub.clear(site_id, rnd["round_id"])

    def _on_eval_result(self, rnd, part, site_id, result) -> None:
        if part["state"] == "EVALUATED":
            return
        if rnd["state"] != "EVALUATING" or part["state"] != "UPLOADED":
            raise StoreError("precondition", f"round {rnd['round_id']} does not expect an evaluation from {site_id}")
        m = result.metrics
        metrics = {"num_users": m.num_users, "hr_at_10": m.hr_at_10, "ndcg_at_10": m.ndcg_at_10, "loss": m.loss}
        if m.personalised_num_users:
            metrics.update(personalised_num_users=m.personalised_num_users,
                           personalised_hr_at_10=m.personalised_hr_at_10,
                           personalised_ndcg_at_10=m.personalised_ndcg_at_10)
        self.store.update_participant(rnd["round_id"], site_id, ("UPLOADED",),
                                      state="EVALUATED" if result.ok else "EVAL_FAILED",
                                      metrics_json=metrics, error=result.error[:2000])
        self.hub.clear(site_id, rnd["round_id"])

    # --- driving a round ---
    def _drive(self, round_id: int, settings: RoundSettings, tokens: dict[str, str]) -> None:
        try:
            with metrics.STAGE_SECONDS.labels("train").time():
                self._train_stage(round_id, settings, tokens)
            self._raise_if_stopped(round_id)
            with metrics.STAGE_SECONDS.labels("aggregate").time():
                manifest = self._aggregate_stage(round_id, settings)
            with metrics.STAGE_SECONDS.labels("evaluate").time():
                self._eval_stage(round_id, settings, manifest)
            self.store.set_round_state(round_id, "COMPLETED")
            metrics.ROUNDS.labels("COMPLETED").inc()
            self.audit_event("round_completed", round_id, version=manifest["version"],
                      metrics=self.store.round(round_id)["metrics"])
            log.info("round completed", extra={"round_id": round_id, "version": manifest["version"]})
        except Exception as exc:  # noqa: BLE001 - any failure must end the round cleanly
            reason = str(exc).splitlines()[0] if isinstance(exc, (RoundFailed, AggregatorError)) else one_line(exc)
            if self._complete_committed(round_id, reason):
                return
            if self.publisher is not None:
                self.publisher.discard(round_id)
            if self.store.fail_round(round_id, reason):
                metrics.ROUNDS.labels("FAILED").inc()
                self.audit_event("round_failed", round_id, reason=reason)
                log.warning("round failed", extra={"round_id": round_id, "reason": reason})
            try:
                self.aggregator.abort_round(round_id, reason)
            except Exception as abort_exc:  # noqa: BLE001 - the aggregator may be the thing that died
                log.warning("could not abort round on the aggregator", extra={"round_id": round_id,
                                                                             "reason": one_line(abort_exc)})
        finally:
            for site in tokens:
                self.hub.clear(site, round_id)

    def _complete_committed(self, round_id: int, reason: str) -> bool:
        """A round whose model is committed is published: a later failure (evaluation) cannot unpublish it,
        so the round completes, with the failure noted, instead of failing beside a published version."""
        rnd = self.store.round(round_id)
        if rnd is None or not rnd["result_version"] or rnd["state"] != "EVALUATING":
            return False
        self.store.set_round_state(round_id, "COMPLETED", metrics_json=json.dumps(
            {**rnd["metrics"], "evaluation_error": reason[:500]}))
        metrics.ROUNDS.labels("COMPLETED").inc()
        self.audit_event("round_completed", round_id, version=rnd["result_version"], evaluation_error=reason[:500])
        log.warning("round completed without its evaluation", extra={"round_id": round_id, "reason": reason})
        return True

    def _participants(self, round_id: int) -> list[dict]:
        return self.store.round(round_id)["participants"]

    def _wait_stage(self, round_id: int, deadline: float, waiting_state: str, done_states: tuple[str, ...],
                    min_sites: int, stage: str) -> list[str]:
        """Wait until every live participant in waiting_state answered; drop the silent and the gone."""
        while True:
            parts = self._participants(round_id)
            done = [p["site_id"] for p in parts if p["state"] in done_states]
            waiting = [p["site_id"] for p in parts if p["state"] == waiting_state]
            if round_id in self._stops:
                if stage == "evaluate":  # the model is published: finish the round, skip the rest of evaluation
                    return done
                self._raise_if_stopped(round_id)
            for site in waiting:
                if self.hub.offline_for(site) > self.reconnect_grace_s:
                    if self.store.update_participant(round_id, site, (waiting_state,), state="DROPPED",
                                                     error=f"disconnected during {stage}"):
                        log.warning("site dropped", extra={"round_id": round_id, "site": site, "stage": stage})
                        self._tell_aggregator_dropped(round_id, [site])
                        metrics.DROPOUTS.labels("disconnected").inc()
                        self.notify()
            if not waiting:
                return done
            if len(done) + len(waiting) < min_sites:
                raise RoundFailed(f"quorum lost in {stage}: {len(done) + len(waiting)} sites left, "
                                  f"min-sites is {min_sites}")
            if time.time() > deadline:
                for site in waiting:
                    self.store.update_participant(round_id, site, (waiting_state,), state="DROPPED",
                                                  error=f"missed the {stage} deadline")
                return done
            with self._changed:
                self._changed.wait(self.poll_s)

    def revoke(self, site_id: str) -> None:
        """A revoked site leaves the running round before anything else of it is accepted: the aggregator is
        told first (and checks revocation itself from then on); if it cannot be told, the round fails. Once the
        round's model is committed (evaluating) the site stays in the published sum, as the log says."""
        rnd = self.store.active_round()
        summing = rnd is not None and rnd["state"] in ("TRAINING", "AGGREGATING")
        part = self.store.participant(rnd["round_id"], site_id) if summing else None
        try:
            self.aggregator.drop_participants(rnd["round_id"] if part else 0, [site_id], revoked=True)
        except Exception as exc:  # noqa: BLE001 - the sum may still hold it: the round must not publish
            if part and self.store.fail_round(rnd["round_id"], f"site {site_id} was revoked and the aggregator "
                                                               f"could not be told: {one_line(exc)}"):
                self.audit_event("round_failed", rnd["round_id"], reason=f"site {site_id} revoked; aggregator "
                                                                         "unreachable")
                self.notify()
            log.warning("could not tell the aggregator about a revocation", extra={"site": site_id})
        if part and part["state"] in ("SELECTED", "UPLOADED"):
            self.store.update_participant(rnd["round_id"], site_id, ("SELECTED", "UPLOADED"), state="DROPPED",
                                          error="revoked by the operator")
            metrics.DROPOUTS.labels("revoked").inc()
            self.notify()

    def _tell_aggregator_dropped(self, round_id: int, sites: list[str]) -> None:
        try:
            self.aggregator.drop_participants(round_id, sites)
        except Exception:  # noqa: BLE001 - the stage deadlines still bound the wait
            log.warning("could not tell the aggregator about dropped sites", extra={"round_id": round_id})

    def _train_stage(self, round_id: int, settings: RoundSettings, tokens: dict[str, str]) -> None:
        rnd = self.store.round(round_id)
        deadline = time.time() + settings.train_deadline_s
        stage_id = self.store.open_stage(round_id, "train", deadline)
        secure = not settings.plain_aggregation
        self.aggregator.open_round(round_id, rnd["base_version"], {s: sha256_hex(t.encode()) for s, t in tokens.items()},
                                   secure, settings.secagg_clip, settings.stage_deadline_s,
                                   settings.server_learning_rate, settings.server_momentum,
                                   revoked=[s["site_id"] for s in self.store.sites() if s["revoked"]])
        identities = self.store.identity_keys(list(tokens))
        peers = [cpb.PeerIdentity(site_id=s, identity_public_key=identities.get(s) or b"") for s in sorted(tokens)]
        train = cpb.TrainConfig(epochs=settings.epochs, learning_rate=settings.learning_rate,
                                batch_size=settings.batch_size, prox_mu=settings.prox_mu,
                                negatives=settings.negatives, seed=settings.seed, weighting=settings.weighting,
                                interest_beta=settings.interest_beta, personalise_epochs=settings.personalise_epochs,
                                private_lr_scale=settings.private_lr_scale, local_steps=settings.local_steps,
                                distill_weight=settings.distill_weight)
        for site, token in tokens.items():
            self.hub.assign(site, cpb.RoundTask(round_id=round_id, kind=cpb.TASK_KIND_TRAIN,
                                                model_version=rnd["base_version"],
                                                aggregator_address=self.aggregator_address, upload_token=token,
                                                train=train, deadline_unix=deadline, secure_aggregation=secure,
                                                peers=peers if secure else [], secagg_clip=settings.secagg_clip))
        done = self._wait_stage(round_id, deadline, "SELECTED", ("UPLOADED",), settings.min_sites, "train")
        outcome = "ok" if len(done) >= settings.min_sites else "quorum_lost"
        self.store.close_stage(stage_id, outcome, done)
        states = {p["site_id"]: p["state"] for p in self._participants(round_id)}
        self.audit_event("stage_closed", round_id, stage="train", outcome=outcome, uploaded=sorted(done),
                  dropped=sorted(s for s, st in states.items() if st == "DROPPED"),
                  refused=sorted(s for s, st in states.items() if st == "REFUSED"),
                  failed=sorted(s for s, st in states.items() if st == "FAILED"))
        if outcome != "ok":
            raise RoundFailed(f"quorum lost in train: only {len(done)} of {len(tokens)} sites uploaded; "
                              f"min-sites is {settings.min_sites}")

    def _aggregate_stage(self, round_id: int, settings: RoundSettings) -> dict:
        self.store.set_round_state(round_id, "AGGREGATING")
        uploaded = [p["site_id"] for p in self._participants(round_id) if p["state"] == "UPLOADED"]
        stage_id = self.store.open_stage(round_id, "aggregate", time.time() + settings.train_deadline_s)
        manifest = self.aggregator.finalize_round(round_id, uploaded, settings.min_sites, settings.stage_deadline_s)
        self.store.close_stage(stage_id, "ok", uploaded)
        # One durable step: model row, round state and `model_published` commit together, then the
        # staged version is renamed into the registry.
        manifest = self.publisher.commit(round_id, manifest)
        log.info("model published", extra={"round_id": round_id, "version": manifest["version"],
                                           "sha256": manifest["sha256"]})
        return manifest

    def _eval_stage(self, round_id: int, settings: RoundSettings, manifest: dict) -> None:
        tune = cpb.TrainConfig(epochs=settings.personalise_epochs, learning_rate=settings.learning_rate,
                               batch_size=settings.batch_size, negatives=settings.negatives, seed=settings.seed,
                               personalise_epochs=settings.personalise_epochs,
                               private_lr_scale=settings.private_lr_scale)
        deadline = time.time() + settings.eval_deadline_s
        stage_id = self.store.open_stage(round_id, "evaluate", deadline)
        sites = [p["site_id"] for p in self._participants(round_id) if p["state"] == "UPLOADED"]
        for site in sites:
            self.hub.assign(site, cpb.RoundTask(round_id=round_id, kind=cpb.TASK_KIND_EVALUATE,
                                                model_version=manifest["version"], deadline_unix=deadline,
                                                train=tune))
        # Evaluation is best effort: the model is already published, so no quorum applies.
        done = self._wait_stage(round_id, deadline, "UPLOADED", ("EVALUATED", "EVAL_FAILED"), 0, "evaluate")
        self.store.close_stage(stage_id, "ok", done)
        parts = [p for p in self._participants(round_id) if p["state"] == "EVALUATED"]
        metrics = weighted_metrics([p["metrics"] for p in parts])
        self.store.set_round_state(round_id, "EVALUATING", metrics_json=json.dumps(metrics))
        self.store.set_model_metrics(manifest["version"], metrics)

    # --- stopping a round and the noise estimate's inputs (see coordinator/round_stop.py) ---
    def _raise_if_stopped(self, round_id: int) -> None:
        if round_id in self._stops:
            raise RoundFailed(self._stops[round_id])

    def _shared_coordinates(self, version: int) -> int:
        from coordinator.noise_estimate import shared_coordinates

        registry = getattr(self.aggregator, "registry", None)
        return shared_coordinates(registry.manifest(version)) if registry is not None else 0

    def stop_round(self, round_id: int, reason: str, timeout_s: float = 60.0) -> dict:
        from coordinator.round_stop import stop_round

        return stop_round(self, round_id, reason, timeout_s)


def weighted_metrics(per_site: list[dict]) -> dict:
    """Combine per-site evaluation metrics, weighting each site by its number of evaluated users."""
    users = sum(m.get("num_users", 0) for m in per_site)
    if users == 0:
        return {"num_users": 0, "sites": len(per_site)}
    out = {"num_users": users, "sites": len(per_site)}
    for key in ("hr_at_10", "ndcg_at_10", "loss"):
        out[key] = sum(m[key] * m["num_users"] for m in per_site) / users
    for key in ("full_hr_at_10", "full_ndcg_at_10"):
        if all(key in m for m in per_site):
            out[key] = sum(m[key] * m["num_users"] for m in per_site) / users
    tuned = [m for m in per_site if m.get("personalised_num_users")]
    if tuned:
        n = sum(m["personalised_num_users"] for m in tuned)
        for key in ("hr_at_10", "ndcg_at_10"):
            out[f"personalised_{key}"] = sum(m[f"personalised_{key}"] * m["personalised_num_users"] for m in tuned) / n
    return out
