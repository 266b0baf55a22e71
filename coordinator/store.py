"""Persistent coordinator state: sites, rounds, participants, stages and model versions."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from coordinator import migrate
from coordinator.schema import ModelVersion, Participant, Round, Site, Stage
from fedads.runtime.hashing import new_secret, secret_matches, sha256_hex

ACTIVE_ROUND_STATES = ("TRAINING", "AGGREGATING", "EVALUATING")
TERMINAL_ROUND_STATES = ("COMPLETED", "FAILED")


class StoreError(Exception):
    """A request the store refuses; `kind` maps to a gRPC status in the servicers."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def sqlite_url(path: str) -> str:
    return f"sqlite:///{path}"


class CoordinatorStore:
    def __init__(self, url: str):
        self.engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            @event.listens_for(self.engine, "connect")
            def _sqlite_pragmas(conn, _record):
                cur = conn.cursor()
                # WAL lets readers (status queries) run while a round writes; FULL sync keeps
                # committed rounds through a kill -9.
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")
                cur.execute("PRAGMA busy_timeout=10000")
                cur.close()
        migrate.upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            conn.execute(select(1))
        return True

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as s:
            yield s

    # --- sites ---
    def create_enrollment(self, site_id: str) -> str:
        if not site_id or len(site_id) > 128 or not all(c.isalnum() or c in "-_." for c in site_id):
            raise StoreError("invalid", f"site id {site_id!r} must be 1-128 letters, digits, '-', '_' or '.'")
        token = new_secret()
        with self.session() as s:
            site = s.get(Site, site_id)
            if site is None:
                site = Site(site_id=site_id, created_at=time.time())
                s.add(site)
            elif site.revoked:
                raise StoreError("precondition", f"site {site_id} is revoked; enrol it under a new id")
            site.enrollment_token_sha256 = sha256_hex(token.encode())
        return token

    def enroll(self, site_id: str, token: str, identity_public_key: bytes = b"",
               issue_certificate: Callable[[], str] | None = None) -> str:
        """Redeem a one-time token for a site secret. `issue_certificate` signs the site's certificate
        and returns its serial; it runs inside the transaction so a refused token issues nothing."""
        if len(identity_public_key) != 32:
            raise StoreError("invalid", "identity_public_key must be the site's raw 32-byte Ed25519 public key")
        with self.session() as s:
            site = s.get(Site, site_id)
            if site is None or not site.enrollment_token_sha256 or not secret_matches(token, site.enrollment_token_sha256):
                raise StoreError("unauthenticated", f"enrolment token for site {site_id!r} is invalid or already used")
            if site.revoked:
                raise StoreError("permission", f"site {site_id} is revoked")
            if issue_certificate is not None:
                site.cert_serial = issue_certificate()
            secret = new_secret()
            site.secret_sha256 = sha256_hex(secret.encode())
            site.enrollment_token_sha256 = None  # one-time
            site.enrolled_at = time.time()
            site.identity_public_key = identity_public_key
        return secret

    def check_certificate(self, site_id: str, serial: str) -> None:
        """A site certificate is good while its site is enrolled, not revoked, and it is the newest one issued."""
        with self.session() as s:
            site = s.get(Site, site_id)
            if site is None or not site.cert_serial:
                raise StoreError("unauthenticated", f"certificate names site {site_id!r}, which holds no certificate here")
            if site.revoked:
                raise StoreError("permission", f"site {site_id} is revoked; its certificate is no longer accepted")
            if site.cert_serial != serial:
                raise StoreError("unauthenticated", f"certificate {serial} of site {site_id} was superseded by a "
                                                    "newer enrolment; use the newest certificate")

    def authenticate(self, site_id: str, secret: str) -> None:
        with self.session() as s:
            site = s.get(Site, site_id)
            if site is None or not site.secret_sha256 or not secret_matches(secret, site.secret_sha256):
                raise StoreError("unauthenticated", f"unknown site {site_id!r} or wrong site secret")
            if site.revoked:
                raise StoreError("permission", f"site {site_id} is revoked")

    def identity_keys(self, site_ids: list[str]) -> dict[str, bytes]:
        with self.session() as s:
            return {x.site_id: x.identity_public_key for x in s.scalars(select(Site).where(Site.site_id.in_(site_ids)))}

    def touch_site(self, site_id: str, num_samples: int | None = None, epsilon: tuple[float, float] | None = None):
        with self.session() as s:
            site = s.get(Site, site_id)
            if site:
                site.last_seen = time.time()
                if num_samples is not None:
                    site.num_samples = num_samples
                if epsilon is not None:
                    site.epsilon_spent, site.epsilon_budget = epsilon

    def revoke(self, site_id: str) -> dict:
        with self.session() as s:
            site = s.get(Site, site_id)
            if site is None:
                raise StoreError("not_found", f"no site named {site_id!r}")
            site.revoked = True
            site.secret_sha256 = None
            site.enrollment_token_sha256 = None
            return self._site_dict(site)

    def sites(self) -> list[dict]:
        with self.session() as s:
            return [self._site_dict(x) for x in s.scalars(select(Site).order_by(Site.site_id))]

    @staticmethod
    def _site_dict(site: Site) -> dict:
        return {"site_id": site.site_id, "revoked": site.revoked, "enrolled_at": site.enrolled_at,
                "last_seen": site.last_seen, "num_samples": site.num_samples,
                "epsilon_spent": site.epsilon_spent or 0.0, "epsilon_budget": site.epsilon_budget or 0.0}

    # --- rounds ---
    def create_round(self, config: dict, base_version: int, participants: dict[str, str]) -> int:
        """Create a round in TRAINING with its participants ({site_id: upload token sha256}) in one transaction."""
        now = time.time()
        with self.session() as s:
            active = s.scalar(select(func.count()).select_from(Round).where(Round.state.in_(ACTIVE_ROUND_STATES)))
            if active:
                raise StoreError("precondition", "a round is already running; wait for it or check `coordinatorctl status`")
            rnd = Round(state="TRAINING", config_json=json.dumps(config), base_version=base_version,
                        created_at=now, metrics_json="{}", failure_reason="", result_version=0)
            s.add(rnd)
            s.flush()
            for site_id, token_sha in participants.items():
                s.add(Participant(round_id=rnd.round_id, site_id=site_id, state="SELECTED",
                                  upload_token_sha256=token_sha, updated_at=now))
            return rnd.round_id

    def set_round_state(self, round_id: int, state: str, **fields) -> None:
        with self.session() as s:
            rnd = s.get(Round, round_id)
            if rnd.state in TERMINAL_ROUND_STATES:
                raise StoreError("precondition", f"round {round_id} already ended as {rnd.state}")
            rnd.state = state
            for k, v in fields.items():
                setattr(rnd, k, v)
            if state in TERMINAL_ROUND_STATES:
                rnd.finished_at = time.time()

    def fail_round(self, round_id: int, reason: str) -> bool:
        try:
            self.set_round_state(round_id, "FAILED", failure_reason=reason)
            return True
        except StoreError:
            return False

    def round(self, round_id: int) -> dict | None:
        with self.session() as s:
            rnd = s.get(Round, round_id) if round_id else s.scalars(select(Round).order_by(Round.round_id.desc())).first()
            return self._round_dict(s, rnd) if rnd else None

    def rounds(self, limit: int = 50) -> list[dict]:
        with self.session() as s:
            q = select(Round).order_by(Round.round_id.desc()).limit(limit or 50)
            return [self._round_dict(s, r) for r in s.scalars(q)]

    def active_round(self) -> dict | None:
        with self.session() as s:
            rnd = s.scalars(select(Round).where(Round.state.in_(ACTIVE_ROUND_STATES))).first()
            return self._round_dict(s, rnd) if rnd else None

    def complete_published_rounds(self, note: str) -> list[int]:
        """On start-up: a round interrupted after its model was committed is published; it completes
        (its evaluation cut short) rather than failing beside a version the registry serves."""
        with self.session() as s:
            rounds = list(s.scalars(select(Round).where(Round.state == "EVALUATING", Round.result_version > 0)))
            for rnd in rounds:
                rnd.state, rnd.finished_at = "COMPLETED", time.time()
                rnd.metrics_json = json.dumps({**json.loads(rnd.metrics_json or "{}"), "evaluation_error": note})
            return [r.round_id for r in rounds]

    def fail_interrupted_rounds(self, reason: str) -> list[int]:
        """On start-up: rounds left mid-flight by a previous process are failed, never half-finished."""
        with self.session() as s:
            ids = list(s.scalars(select(Round.round_id).where(Round.state.in_(ACTIVE_ROUND_STATES))))
        for rid in ids:
            self.fail_round(rid, reason)
        return ids

    def _round_dict(self, s: Session, rnd: Round) -> dict:
        parts = s.scalars(select(Participant).where(Participant.round_id == rnd.round_id)
                          .order_by(Participant.site_id))
        end = rnd.finished_at or time.time()
        return {
            "round_id": rnd.round_id, "state": rnd.state, "config": json.loads(rnd.config_json),
            "base_version": rnd.base_version, "result_version": rnd.result_version,
            "failure_reason": rnd.failure_reason, "created_at": rnd.created_at, "finished_at": rnd.finished_at,
            "wall_seconds": end - rnd.created_at, "metrics": json.loads(rnd.metrics_json or "{}"),
            "participants": [self._participant_dict(p) for p in parts],
        }

    @staticmethod
    def _participant_dict(p: Participant) -> dict:
        return {"site_id": p.site_id, "state": p.state, "num_samples": p.num_samples,
                "train_seconds": p.train_seconds, "bytes_sent": p.bytes_sent, "upload_sha256": p.upload_sha256,
                "error": p.error, "metrics": json.loads(p.metrics_json or "{}"),
                "upload_token_sha256": p.upload_token_sha256, "epsilon_spent": p.epsilon_spent or 0.0,
                "epsilon_budget": p.epsilon_budget or 0.0, "noise_multiplier": p.noise_multiplier or 0.0}

    # --- participants ---
    def participant(self, round_id: int, site_id: str) -> dict | None:
        with self.session() as s:
            p = s.get(Participant, (round_id, site_id))
            return self._participant_dict(p) if p else None

    def update_participant(self, round_id: int, site_id: str, expect_states: tuple[str, ...] | None = None,
                           **fields) -> bool:
        """Update one participant; with expect_states, only if it is in one of them (compare-and-set)."""
        with self.session() as s:
            p = s.get(Participant, (round_id, site_id))
            if p is None or (expect_states is not None and p.state not in expect_states):
                return False
            for k, v in fields.items():
                setattr(p, k, json.dumps(v) if k == "metrics_json" and not isinstance(v, str) else v)
            p.updated_at = time.time()
            return True

    # --- stages ---
    def open_stage(self, round_id: int, name: str, deadline: float) -> int:
        with self.session() as s:
            st = Stage(round_id=round_id, name=name, started_at=time.time(), deadline=deadline)
            s.add(st)
            s.flush()
            return st.id

    def close_stage(self, stage_id: int, outcome: str, answered: list[str]) -> None:
        with self.session() as s:
            st = s.get(Stage, stage_id)
            st.finished_at, st.outcome, st.answered_json = time.time(), outcome, json.dumps(sorted(answered))

    def stages(self, round_id: int) -> list[dict]:
        with self.session() as s:
            q = select(Stage).where(Stage.round_id == round_id).order_by(Stage.id)
            return [{"name": st.name, "started_at": st.started_at, "deadline": st.deadline,
                     "finished_at": st.finished_at, "outcome": st.outcome,
                     "answered": json.loads(st.answered_json)} for st in s.scalars(q)]

    # --- model versions ---
    def record_model(self, manifest: dict) -> None:
        with self.session() as s:
            if s.get(ModelVersion, manifest["version"]) is None:
                s.add(ModelVersion(version=manifest["version"], parent_version=manifest["parent_version"],
                                   round_id=manifest["round_id"], sha256=manifest["sha256"],
                                   size_bytes=manifest["size_bytes"], created_at=time.time(),
                                   metrics_json=json.dumps(manifest.get("metrics", {}))))

    def set_model_metrics(self, version: int, metrics: dict) -> None:
        with self.session() as s:
            mv = s.get(ModelVersion, version)
            if mv:
                mv.metrics_json = json.dumps(metrics)

    def models(self) -> list[dict]:
        with self.session() as s:
            return [{"version": m.version, "parent_version": m.parent_version, "round_id": m.round_id,
                     "sha256": m.sha256, "size_bytes": m.size_bytes, "created_at": m.created_at,
                     "metrics": json.loads(m.metrics_json or "{}")}
                    for m in s.scalars(select(ModelVersion).order_by(ModelVersion.version))]

    def latest_model_version(self) -> int:
        with self.session() as s:
            return s.scalar(select(func.max(ModelVersion.version))) or 0
