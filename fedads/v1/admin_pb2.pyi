from fedads.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RoundConfig(_message.Message):
    __slots__ = ("sites", "fraction", "min_sites", "epochs", "learning_rate", "batch_size", "prox_mu", "negatives", "seed", "train_deadline_s", "eval_deadline_s", "weighting", "plain_aggregation", "secagg_clip", "interest_beta", "personalise_epochs", "stage_deadline_s", "server_learning_rate", "private_lr_scale", "server_momentum", "local_steps", "accept_noise", "distill_weight")
    SITES_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    MIN_SITES_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    PROX_MU_FIELD_NUMBER: _ClassVar[int]
    NEGATIVES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    TRAIN_DEADLINE_S_FIELD_NUMBER: _ClassVar[int]
    EVAL_DEADLINE_S_FIELD_NUMBER: _ClassVar[int]
    WEIGHTING_FIELD_NUMBER: _ClassVar[int]
    PLAIN_AGGREGATION_FIELD_NUMBER: _ClassVar[int]
    SECAGG_CLIP_FIELD_NUMBER: _ClassVar[int]
    INTEREST_BETA_FIELD_NUMBER: _ClassVar[int]
    PERSONALISE_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    STAGE_DEADLINE_S_FIELD_NUMBER: _ClassVar[int]
    SERVER_LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_LR_SCALE_FIELD_NUMBER: _ClassVar[int]
    SERVER_MOMENTUM_FIELD_NUMBER: _ClassVar[int]
    LOCAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_NOISE_FIELD_NUMBER: _ClassVar[int]
    DISTILL_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    sites: int
    fraction: float
    min_sites: int
    epochs: int
    learning_rate: float
    batch_size: int
    prox_mu: float
    negatives: int
    seed: int
    train_deadline_s: float
    eval_deadline_s: float
    weighting: str
    plain_aggregation: bool
    secagg_clip: float
    interest_beta: float
    personalise_epochs: int
    stage_deadline_s: float
    server_learning_rate: float
    private_lr_scale: float
    server_momentum: float
    local_steps: int
    accept_noise: bool
    distill_weight: float
    def __init__(self, sites: _Optional[int] = ..., fraction: _Optional[float] = ..., min_sites: _Optional[int] = ..., epochs: _Optional[int] = ..., learning_rate: _Optional[float] = ..., batch_size: _Optional[int] = ..., prox_mu: _Optional[float] = ..., negatives: _Optional[int] = ..., seed: _Optional[int] = ..., train_deadline_s: _Optional[float] = ..., eval_deadline_s: _Optional[float] = ..., weighting: _Optional[str] = ..., plain_aggregation: _Optional[bool] = ..., secagg_clip: _Optional[float] = ..., interest_beta: _Optional[float] = ..., personalise_epochs: _Optional[int] = ..., stage_deadline_s: _Optional[float] = ..., server_learning_rate: _Optional[float] = ..., private_lr_scale: _Optional[float] = ..., server_momentum: _Optional[float] = ..., local_steps: _Optional[int] = ..., accept_noise: _Optional[bool] = ..., distill_weight: _Optional[float] = ...) -> None: ...

class StartRoundRequest(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: RoundConfig
    def __init__(self, config: _Optional[_Union[RoundConfig, _Mapping]] = ...) -> None: ...

class ParticipantInfo(_message.Message):
    __slots__ = ("site_id", "state", "num_samples", "train_seconds", "bytes_sent", "error", "metrics_json", "upload_sha256", "epsilon_spent", "epsilon_budget", "noise_multiplier")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BYTES_SENT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    METRICS_JSON_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_SHA256_FIELD_NUMBER: _ClassVar[int]
    EPSILON_SPENT_FIELD_NUMBER: _ClassVar[int]
    EPSILON_BUDGET_FIELD_NUMBER: _ClassVar[int]
    NOISE_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    state: str
    num_samples: int
    train_seconds: float
    bytes_sent: int
    error: str
    metrics_json: str
    upload_sha256: str
    epsilon_spent: float
    epsilon_budget: float
    noise_multiplier: float
    def __init__(self, site_id: _Optional[str] = ..., state: _Optional[str] = ..., num_samples: _Optional[int] = ..., train_seconds: _Optional[float] = ..., bytes_sent: _Optional[int] = ..., error: _Optional[str] = ..., metrics_json: _Optional[str] = ..., upload_sha256: _Optional[str] = ..., epsilon_spent: _Optional[float] = ..., epsilon_budget: _Optional[float] = ..., noise_multiplier: _Optional[float] = ...) -> None: ...

class RoundInfo(_message.Message):
    __slots__ = ("round_id", "state", "config_json", "base_version", "result_version", "failure_reason", "created_at", "finished_at", "wall_seconds", "metrics_json", "participants")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    BASE_VERSION_FIELD_NUMBER: _ClassVar[int]
    RESULT_VERSION_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    WALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    METRICS_JSON_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    round_id: int
    state: str
    config_json: str
    base_version: int
    result_version: int
    failure_reason: str
    created_at: str
    finished_at: str
    wall_seconds: float
    metrics_json: str
    participants: _containers.RepeatedCompositeFieldContainer[ParticipantInfo]
    def __init__(self, round_id: _Optional[int] = ..., state: _Optional[str] = ..., config_json: _Optional[str] = ..., base_version: _Optional[int] = ..., result_version: _Optional[int] = ..., failure_reason: _Optional[str] = ..., created_at: _Optional[str] = ..., finished_at: _Optional[str] = ..., wall_seconds: _Optional[float] = ..., metrics_json: _Optional[str] = ..., participants: _Optional[_Iterable[_Union[ParticipantInfo, _Mapping]]] = ...) -> None: ...

class GetRoundRequest(_message.Message):
    __slots__ = ("round_id",)
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    round_id: int
    def __init__(self, round_id: _Optional[int] = ...) -> None: ...

class ListRoundsRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class ListRoundsResponse(_message.Message):
    __slots__ = ("rounds",)
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    rounds: _containers.RepeatedCompositeFieldContainer[RoundInfo]
    def __init__(self, rounds: _Optional[_Iterable[_Union[RoundInfo, _Mapping]]] = ...) -> None: ...

class ClientInfo(_message.Message):
    __slots__ = ("site_id", "online", "revoked", "enrolled_at", "last_seen", "num_samples", "epsilon_spent", "epsilon_budget")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    EPSILON_SPENT_FIELD_NUMBER: _ClassVar[int]
    EPSILON_BUDGET_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    online: bool
    revoked: bool
    enrolled_at: str
    last_seen: str
    num_samples: int
    epsilon_spent: float
    epsilon_budget: float
    def __init__(self, site_id: _Optional[str] = ..., online: _Optional[bool] = ..., revoked: _Optional[bool] = ..., enrolled_at: _Optional[str] = ..., last_seen: _Optional[str] = ..., num_samples: _Optional[int] = ..., epsilon_spent: _Optional[float] = ..., epsilon_budget: _Optional[float] = ...) -> None: ...

class ListClientsResponse(_message.Message):
    __slots__ = ("clients",)
    CLIENTS_FIELD_NUMBER: _ClassVar[int]
    clients: _containers.RepeatedCompositeFieldContainer[ClientInfo]
    def __init__(self, clients: _Optional[_Iterable[_Union[ClientInfo, _Mapping]]] = ...) -> None: ...

class CreateEnrollmentRequest(_message.Message):
    __slots__ = ("site_id",)
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    def __init__(self, site_id: _Optional[str] = ...) -> None: ...

class CreateEnrollmentResponse(_message.Message):
    __slots__ = ("site_id", "enrollment_token", "ca_certificate")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    ENROLLMENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CA_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    enrollment_token: str
    ca_certificate: bytes
    def __init__(self, site_id: _Optional[str] = ..., enrollment_token: _Optional[str] = ..., ca_certificate: _Optional[bytes] = ...) -> None: ...

class RevokeClientRequest(_message.Message):
    __slots__ = ("site_id",)
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    def __init__(self, site_id: _Optional[str] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("latest_version", "sites_enrolled", "sites_online", "active_round", "last_round")
    LATEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    SITES_ENROLLED_FIELD_NUMBER: _ClassVar[int]
    SITES_ONLINE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_ROUND_FIELD_NUMBER: _ClassVar[int]
    LAST_ROUND_FIELD_NUMBER: _ClassVar[int]
    latest_version: int
    sites_enrolled: int
    sites_online: int
    active_round: RoundInfo
    last_round: RoundInfo
    def __init__(self, latest_version: _Optional[int] = ..., sites_enrolled: _Optional[int] = ..., sites_online: _Optional[int] = ..., active_round: _Optional[_Union[RoundInfo, _Mapping]] = ..., last_round: _Optional[_Union[RoundInfo, _Mapping]] = ...) -> None: ...

class AuditRecord(_message.Message):
    __slots__ = ("body_json", "hash", "signature")
    BODY_JSON_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    body_json: str
    hash: str
    signature: str
    def __init__(self, body_json: _Optional[str] = ..., hash: _Optional[str] = ..., signature: _Optional[str] = ...) -> None: ...

class ExportAuditRequest(_message.Message):
    __slots__ = ("round_id",)
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    round_id: int
    def __init__(self, round_id: _Optional[int] = ...) -> None: ...

class AuditPublicKey(_message.Message):
    __slots__ = ("ed25519_hex",)
    ED25519_HEX_FIELD_NUMBER: _ClassVar[int]
    ed25519_hex: str
    def __init__(self, ed25519_hex: _Optional[str] = ...) -> None: ...

class JobSpec(_message.Message):
    __slots__ = ("config", "rounds", "lr_schedule", "lr_min", "lr_step_rounds", "lr_step_gamma", "target_metric", "target_value", "patience", "accept_noise", "name", "max_failed_rounds")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    LR_SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    LR_MIN_FIELD_NUMBER: _ClassVar[int]
    LR_STEP_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    LR_STEP_GAMMA_FIELD_NUMBER: _ClassVar[int]
    TARGET_METRIC_FIELD_NUMBER: _ClassVar[int]
    TARGET_VALUE_FIELD_NUMBER: _ClassVar[int]
    PATIENCE_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_NOISE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_FAILED_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    config: RoundConfig
    rounds: int
    lr_schedule: str
    lr_min: float
    lr_step_rounds: int
    lr_step_gamma: float
    target_metric: str
    target_value: float
    patience: int
    accept_noise: bool
    name: str
    max_failed_rounds: int
    def __init__(self, config: _Optional[_Union[RoundConfig, _Mapping]] = ..., rounds: _Optional[int] = ..., lr_schedule: _Optional[str] = ..., lr_min: _Optional[float] = ..., lr_step_rounds: _Optional[int] = ..., lr_step_gamma: _Optional[float] = ..., target_metric: _Optional[str] = ..., target_value: _Optional[float] = ..., patience: _Optional[int] = ..., accept_noise: _Optional[bool] = ..., name: _Optional[str] = ..., max_failed_rounds: _Optional[int] = ...) -> None: ...

class SubmitJobRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: JobSpec
    def __init__(self, spec: _Optional[_Union[JobSpec, _Mapping]] = ...) -> None: ...

class JobInfo(_message.Message):
    __slots__ = ("job_id", "state", "spec_json", "rounds_done", "round_ids", "current_round_id", "reason", "created_at", "finished_at", "best_value", "best_round_index", "metrics_json")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_DONE_FIELD_NUMBER: _ClassVar[int]
    ROUND_IDS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    BEST_VALUE_FIELD_NUMBER: _ClassVar[int]
    BEST_ROUND_INDEX_FIELD_NUMBER: _ClassVar[int]
    METRICS_JSON_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    state: str
    spec_json: str
    rounds_done: int
    round_ids: _containers.RepeatedScalarFieldContainer[int]
    current_round_id: int
    reason: str
    created_at: str
    finished_at: str
    best_value: float
    best_round_index: int
    metrics_json: str
    def __init__(self, job_id: _Optional[int] = ..., state: _Optional[str] = ..., spec_json: _Optional[str] = ..., rounds_done: _Optional[int] = ..., round_ids: _Optional[_Iterable[int]] = ..., current_round_id: _Optional[int] = ..., reason: _Optional[str] = ..., created_at: _Optional[str] = ..., finished_at: _Optional[str] = ..., best_value: _Optional[float] = ..., best_round_index: _Optional[int] = ..., metrics_json: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    def __init__(self, job_id: _Optional[int] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[JobInfo]
    def __init__(self, jobs: _Optional[_Iterable[_Union[JobInfo, _Mapping]]] = ...) -> None: ...

class StopJobRequest(_message.Message):
    __slots__ = ("job_id", "reason")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    reason: str
    def __init__(self, job_id: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class StopRoundRequest(_message.Message):
    __slots__ = ("round_id", "reason")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    round_id: int
    reason: str
    def __init__(self, round_id: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("round_id", "job_id")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    round_id: int
    job_id: int
    def __init__(self, round_id: _Optional[int] = ..., job_id: _Optional[int] = ...) -> None: ...

class ProgressEvent(_message.Message):
    __slots__ = ("kind", "round_id", "state", "stage", "uploaded", "participants", "seconds_left", "metrics_json", "failure_reason", "job_id", "job_round", "job_rounds", "job_state", "result_version", "job_reason", "evaluated")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    UPLOADED_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_LEFT_FIELD_NUMBER: _ClassVar[int]
    METRICS_JSON_FIELD_NUMBER: _ClassVar[int]
    FAILURE_REASON_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ROUND_FIELD_NUMBER: _ClassVar[int]
    JOB_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    JOB_STATE_FIELD_NUMBER: _ClassVar[int]
    RESULT_VERSION_FIELD_NUMBER: _ClassVar[int]
    JOB_REASON_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_FIELD_NUMBER: _ClassVar[int]
    kind: str
    round_id: int
    state: str
    stage: str
    uploaded: int
    participants: int
    seconds_left: float
    metrics_json: str
    failure_reason: str
    job_id: int
    job_round: int
    job_rounds: int
    job_state: str
    result_version: int
    job_reason: str
    evaluated: int
    def __init__(self, kind: _Optional[str] = ..., round_id: _Optional[int] = ..., state: _Optional[str] = ..., stage: _Optional[str] = ..., uploaded: _Optional[int] = ..., participants: _Optional[int] = ..., seconds_left: _Optional[float] = ..., metrics_json: _Optional[str] = ..., failure_reason: _Optional[str] = ..., job_id: _Optional[int] = ..., job_round: _Optional[int] = ..., job_rounds: _Optional[int] = ..., job_state: _Optional[str] = ..., result_version: _Optional[int] = ..., job_reason: _Optional[str] = ..., evaluated: _Optional[int] = ...) -> None: ...

class StageInfo(_message.Message):
    __slots__ = ("name", "started_at", "deadline", "finished_at", "outcome", "answered")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    name: str
    started_at: float
    deadline: float
    finished_at: float
    outcome: str
    answered: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., started_at: _Optional[float] = ..., deadline: _Optional[float] = ..., finished_at: _Optional[float] = ..., outcome: _Optional[str] = ..., answered: _Optional[_Iterable[str]] = ...) -> None: ...

class ListStagesResponse(_message.Message):
    __slots__ = ("stages",)
    STAGES_FIELD_NUMBER: _ClassVar[int]
    stages: _containers.RepeatedCompositeFieldContainer[StageInfo]
    def __init__(self, stages: _Optional[_Iterable[_Union[StageInfo, _Mapping]]] = ...) -> None: ...

class ModelVersionInfo(_message.Message):
    __slots__ = ("version", "parent_version", "round_id", "sha256", "size_bytes", "created_at", "metrics_json")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PARENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    METRICS_JSON_FIELD_NUMBER: _ClassVar[int]
    version: int
    parent_version: int
    round_id: int
    sha256: str
    size_bytes: int
    created_at: str
    metrics_json: str
    def __init__(self, version: _Optional[int] = ..., parent_version: _Optional[int] = ..., round_id: _Optional[int] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., created_at: _Optional[str] = ..., metrics_json: _Optional[str] = ...) -> None: ...

class ListModelVersionsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelVersionInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelVersionInfo, _Mapping]]] = ...) -> None: ...
