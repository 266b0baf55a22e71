from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_KIND_UNSPECIFIED: _ClassVar[TaskKind]
    TASK_KIND_TRAIN: _ClassVar[TaskKind]
    TASK_KIND_EVALUATE: _ClassVar[TaskKind]
    TASK_KIND_ABORT: _ClassVar[TaskKind]
TASK_KIND_UNSPECIFIED: TaskKind
TASK_KIND_TRAIN: TaskKind
TASK_KIND_EVALUATE: TaskKind
TASK_KIND_ABORT: TaskKind

class EnrollRequest(_message.Message):
    __slots__ = ("site_id", "enrollment_token", "identity_public_key", "certificate_signing_request")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    ENROLLMENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_SIGNING_REQUEST_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    enrollment_token: str
    identity_public_key: bytes
    certificate_signing_request: bytes
    def __init__(self, site_id: _Optional[str] = ..., enrollment_token: _Optional[str] = ..., identity_public_key: _Optional[bytes] = ..., certificate_signing_request: _Optional[bytes] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("site_id", "site_secret", "certificate", "ca_certificate", "audit_public_key")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_SECRET_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    CA_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    AUDIT_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    site_secret: str
    certificate: bytes
    ca_certificate: bytes
    audit_public_key: str
    def __init__(self, site_id: _Optional[str] = ..., site_secret: _Optional[str] = ..., certificate: _Optional[bytes] = ..., ca_certificate: _Optional[bytes] = ..., audit_public_key: _Optional[str] = ...) -> None: ...

class ConnectRequest(_message.Message):
    __slots__ = ("agent_version", "num_samples", "device", "privacy")
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    PRIVACY_FIELD_NUMBER: _ClassVar[int]
    agent_version: str
    num_samples: int
    device: str
    privacy: SitePrivacySettings
    def __init__(self, agent_version: _Optional[str] = ..., num_samples: _Optional[int] = ..., device: _Optional[str] = ..., privacy: _Optional[_Union[SitePrivacySettings, _Mapping]] = ...) -> None: ...

class SitePrivacySettings(_message.Message):
    __slots__ = ("unit", "clip_norm", "epsilon_budget", "delta", "noise_multiplier", "planned_rounds", "num_records")
    UNIT_FIELD_NUMBER: _ClassVar[int]
    CLIP_NORM_FIELD_NUMBER: _ClassVar[int]
    EPSILON_BUDGET_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    NOISE_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    PLANNED_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    NUM_RECORDS_FIELD_NUMBER: _ClassVar[int]
    unit: str
    clip_norm: float
    epsilon_budget: float
    delta: float
    noise_multiplier: float
    planned_rounds: int
    num_records: int
    def __init__(self, unit: _Optional[str] = ..., clip_norm: _Optional[float] = ..., epsilon_budget: _Optional[float] = ..., delta: _Optional[float] = ..., noise_multiplier: _Optional[float] = ..., planned_rounds: _Optional[int] = ..., num_records: _Optional[int] = ...) -> None: ...

class TrainConfig(_message.Message):
    __slots__ = ("epochs", "learning_rate", "batch_size", "prox_mu", "negatives", "seed", "weighting", "interest_beta", "personalise_epochs", "private_lr_scale", "local_steps", "distill_weight")
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    PROX_MU_FIELD_NUMBER: _ClassVar[int]
    NEGATIVES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    WEIGHTING_FIELD_NUMBER: _ClassVar[int]
    INTEREST_BETA_FIELD_NUMBER: _ClassVar[int]
    PERSONALISE_EPOCHS_FIELD_NUMBER: _ClassVar[int]
    PRIVATE_LR_SCALE_FIELD_NUMBER: _ClassVar[int]
    LOCAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    DISTILL_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    epochs: int
    learning_rate: float
    batch_size: int
    prox_mu: float
    negatives: int
    seed: int
    weighting: str
    interest_beta: float
    personalise_epochs: int
    private_lr_scale: float
    local_steps: int
    distill_weight: float
    def __init__(self, epochs: _Optional[int] = ..., learning_rate: _Optional[float] = ..., batch_size: _Optional[int] = ..., prox_mu: _Optional[float] = ..., negatives: _Optional[int] = ..., seed: _Optional[int] = ..., weighting: _Optional[str] = ..., interest_beta: _Optional[float] = ..., personalise_epochs: _Optional[int] = ..., private_lr_scale: _Optional[float] = ..., local_steps: _Optional[int] = ..., distill_weight: _Optional[float] = ...) -> None: ...

class PeerIdentity(_message.Message):
    __slots__ = ("site_id", "identity_public_key")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    identity_public_key: bytes
    def __init__(self, site_id: _Optional[str] = ..., identity_public_key: _Optional[bytes] = ...) -> None: ...

class RoundTask(_message.Message):
    __slots__ = ("round_id", "kind", "model_version", "aggregator_address", "upload_token", "train", "deadline_unix", "vector_length", "secure_aggregation", "peers", "secagg_clip")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    AGGREGATOR_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TRAIN_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_UNIX_FIELD_NUMBER: _ClassVar[int]
    VECTOR_LENGTH_FIELD_NUMBER: _ClassVar[int]
    SECURE_AGGREGATION_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    SECAGG_CLIP_FIELD_NUMBER: _ClassVar[int]
    round_id: int
    kind: TaskKind
    model_version: int
    aggregator_address: str
    upload_token: str
    train: TrainConfig
    deadline_unix: float
    vector_length: int
    secure_aggregation: bool
    peers: _containers.RepeatedCompositeFieldContainer[PeerIdentity]
    secagg_clip: float
    def __init__(self, round_id: _Optional[int] = ..., kind: _Optional[_Union[TaskKind, str]] = ..., model_version: _Optional[int] = ..., aggregator_address: _Optional[str] = ..., upload_token: _Optional[str] = ..., train: _Optional[_Union[TrainConfig, _Mapping]] = ..., deadline_unix: _Optional[float] = ..., vector_length: _Optional[int] = ..., secure_aggregation: _Optional[bool] = ..., peers: _Optional[_Iterable[_Union[PeerIdentity, _Mapping]]] = ..., secagg_clip: _Optional[float] = ...) -> None: ...

class EvalMetrics(_message.Message):
    __slots__ = ("num_users", "hr_at_10", "ndcg_at_10", "loss", "personalised_num_users", "personalised_hr_at_10", "personalised_ndcg_at_10")
    NUM_USERS_FIELD_NUMBER: _ClassVar[int]
    HR_AT_10_FIELD_NUMBER: _ClassVar[int]
    NDCG_AT_10_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    PERSONALISED_NUM_USERS_FIELD_NUMBER: _ClassVar[int]
    PERSONALISED_HR_AT_10_FIELD_NUMBER: _ClassVar[int]
    PERSONALISED_NDCG_AT_10_FIELD_NUMBER: _ClassVar[int]
    num_users: int
    hr_at_10: float
    ndcg_at_10: float
    loss: float
    personalised_num_users: int
    personalised_hr_at_10: float
    personalised_ndcg_at_10: float
    def __init__(self, num_users: _Optional[int] = ..., hr_at_10: _Optional[float] = ..., ndcg_at_10: _Optional[float] = ..., loss: _Optional[float] = ..., personalised_num_users: _Optional[int] = ..., personalised_hr_at_10: _Optional[float] = ..., personalised_ndcg_at_10: _Optional[float] = ...) -> None: ...

class TaskResult(_message.Message):
    __slots__ = ("round_id", "kind", "model_version", "ok", "error", "num_samples", "train_seconds", "bytes_sent", "upload_sha256", "metrics", "train_loss", "epsilon_spent", "epsilon_budget", "noise_multiplier", "dp_delta", "refused", "interest_score")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    NUM_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BYTES_SENT_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_SHA256_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_LOSS_FIELD_NUMBER: _ClassVar[int]
    EPSILON_SPENT_FIELD_NUMBER: _ClassVar[int]
    EPSILON_BUDGET_FIELD_NUMBER: _ClassVar[int]
    NOISE_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    DP_DELTA_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    INTEREST_SCORE_FIELD_NUMBER: _ClassVar[int]
    round_id: int
    kind: TaskKind
    model_version: int
    ok: bool
    error: str
    num_samples: int
    train_seconds: float
    bytes_sent: int
    upload_sha256: str
    metrics: EvalMetrics
    train_loss: float
    epsilon_spent: float
    epsilon_budget: float
    noise_multiplier: float
    dp_delta: float
    refused: bool
    interest_score: float
    def __init__(self, round_id: _Optional[int] = ..., kind: _Optional[_Union[TaskKind, str]] = ..., model_version: _Optional[int] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ..., num_samples: _Optional[int] = ..., train_seconds: _Optional[float] = ..., bytes_sent: _Optional[int] = ..., upload_sha256: _Optional[str] = ..., metrics: _Optional[_Union[EvalMetrics, _Mapping]] = ..., train_loss: _Optional[float] = ..., epsilon_spent: _Optional[float] = ..., epsilon_budget: _Optional[float] = ..., noise_multiplier: _Optional[float] = ..., dp_delta: _Optional[float] = ..., refused: _Optional[bool] = ..., interest_score: _Optional[float] = ...) -> None: ...

class TaskResultAck(_message.Message):
    __slots__ = ("accepted",)
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    def __init__(self, accepted: _Optional[bool] = ...) -> None: ...
