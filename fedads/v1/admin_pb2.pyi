from fedads.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RoundConfig(_message.Message):
    __slots__ = ("sites", "fraction", "min_sites", "epochs", "learning_rate", "batch_size", "prox_mu", "negatives", "seed", "train_deadline_s", "eval_deadline_s", "weighting", "plain_aggregation", "secagg_clip", "interest_beta", "personalise_epochs", "stage_deadline_s", "server_learning_rate", "private_lr_scale", "server_momentum", "local_steps")
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
    def __init__(self, sites: _Optional[int] = ..., fraction: _Optional[float] = ..., min_sites: _Optional[int] = ..., epochs: _Optional[int] = ..., learning_rate: _Optional[float] = ..., batch_size: _Optional[int] = ..., prox_mu: _Optional[float] = ..., negatives: _Optional[int] = ..., seed: _Optional[int] = ..., train_deadline_s: _Optional[float] = ..., eval_deadline_s: _Optional[float] = ..., weighting: _Optional[str] = ..., plain_aggregation: _Optional[bool] = ..., secagg_clip: _Optional[float] = ..., interest_beta: _Optional[float] = ..., personalise_epochs: _Optional[int] = ..., stage_deadline_s: _Optional[float] = ..., server_learning_rate: _Optional[float] = ..., private_lr_scale: _Optional[float] = ..., server_momentum: _Optional[float] = ..., local_steps: _Optional[int] = ...) -> None: ...

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
