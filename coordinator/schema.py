"""SQL tables of the coordinator (SQLAlchemy 2; SQLite by default, any SQLAlchemy URL such as PostgreSQL)."""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Site(Base):
    __tablename__ = "sites"
    site_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    enrollment_token_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    secret_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    enrolled_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[float | None] = mapped_column(Float, nullable=True)
    num_samples: Mapped[int] = mapped_column(BigInteger, default=0)
    identity_public_key: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    epsilon_spent: Mapped[float] = mapped_column(Float, default=0.0)
    epsilon_budget: Mapped[float] = mapped_column(Float, default=0.0)
    # Serial (hex) of the site's current certificate: an older certificate of the same site is refused.
    cert_serial: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Round(Base):
    __tablename__ = "rounds"
    round_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    config_json: Mapped[str] = mapped_column(Text)
    base_version: Mapped[int] = mapped_column(BigInteger)
    result_version: Mapped[int] = mapped_column(BigInteger, default=0)
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    metrics_json: Mapped[str] = mapped_column(Text, default="{}")


class Participant(Base):
    __tablename__ = "participants"
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.round_id"), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.site_id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))
    upload_token_sha256: Mapped[str] = mapped_column(String(64))
    num_samples: Mapped[int] = mapped_column(BigInteger, default=0)
    train_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    bytes_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    upload_sha256: Mapped[str] = mapped_column(String(64), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    metrics_json: Mapped[str] = mapped_column(Text, default="{}")
    epsilon_spent: Mapped[float] = mapped_column(Float, default=0.0)
    epsilon_budget: Mapped[float] = mapped_column(Float, default=0.0)
    noise_multiplier: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[float] = mapped_column(Float)


class Stage(Base):
    __tablename__ = "stages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.round_id"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[float] = mapped_column(Float)
    deadline: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    outcome: Mapped[str] = mapped_column(String(32), default="")
    answered_json: Mapped[str] = mapped_column(Text, default="[]")


class ModelVersion(Base):
    __tablename__ = "model_versions"
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    parent_version: Mapped[int] = mapped_column(BigInteger)
    round_id: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float)
    metrics_json: Mapped[str] = mapped_column(Text, default="{}")


class AuditRecord(Base):
    """Append-only: each record holds the previous record's hash and the coordinator's signature."""
    __tablename__ = "audit_records"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    body_json: Mapped[str] = mapped_column(Text)     # canonical JSON of index, time, kind, round, payload, prev
    hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
    round_id: Mapped[int] = mapped_column(Integer, index=True, default=0)


class Job(Base):
    """A training job: many rounds with a schedule and stop criteria (coordinator/jobs.py)."""
    __tablename__ = "jobs"
    job_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    spec_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    rounds_done: Mapped[int] = mapped_column(Integer, default=0)
    failed_streak: Mapped[int] = mapped_column(Integer, default=0)
    best_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    best_round_index: Mapped[int] = mapped_column(Integer, default=0)
    metrics_json: Mapped[str] = mapped_column(Text, default="{}")


class JobRound(Base):
    __tablename__ = "job_rounds"
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.round_id"), primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.job_id"), index=True)
    job_round: Mapped[int] = mapped_column(Integer)  # 1-based index of the round in its job's schedule


class CoordinatorLease(Base):
    """One row: the coordinator process that owns this database (DESIGN §9: one coordinator per database)."""
    __tablename__ = "coordinator_lease"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder: Mapped[str] = mapped_column(String(255), default="")  # host:pid:nonce, empty when free
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(Integer, default=0)
    address: Mapped[str] = mapped_column(String(255), default="")
    renewed_at: Mapped[float] = mapped_column(Float, default=0.0)
