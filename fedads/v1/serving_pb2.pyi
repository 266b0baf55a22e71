from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Objective(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OBJECTIVE_UNSPECIFIED: _ClassVar[Objective]
    OBJECTIVE_CTR: _ClassVar[Objective]
    OBJECTIVE_EXPECTED_REVENUE: _ClassVar[Objective]
    OBJECTIVE_CVR: _ClassVar[Objective]
    OBJECTIVE_ECPM_CPC: _ClassVar[Objective]
    OBJECTIVE_ECPM_OCPA: _ClassVar[Objective]
OBJECTIVE_UNSPECIFIED: Objective
OBJECTIVE_CTR: Objective
OBJECTIVE_EXPECTED_REVENUE: Objective
OBJECTIVE_CVR: Objective
OBJECTIVE_ECPM_CPC: Objective
OBJECTIVE_ECPM_OCPA: Objective

class Candidate(_message.Message):
    __slots__ = ("ad_id", "bid")
    AD_ID_FIELD_NUMBER: _ClassVar[int]
    BID_FIELD_NUMBER: _ClassVar[int]
    ad_id: str
    bid: float
    def __init__(self, ad_id: _Optional[str] = ..., bid: _Optional[float] = ...) -> None: ...

class PredictRequest(_message.Message):
    __slots__ = ("user_id", "context", "model_version", "candidates")
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    context: _containers.ScalarMap[str, str]
    model_version: int
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    def __init__(self, user_id: _Optional[str] = ..., context: _Optional[_Mapping[str, str]] = ..., model_version: _Optional[int] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ...) -> None: ...

class Prediction(_message.Message):
    __slots__ = ("p_ctr", "p_cvr", "p_ctcvr", "value", "score", "ad_id", "ecpm")
    P_CTR_FIELD_NUMBER: _ClassVar[int]
    P_CVR_FIELD_NUMBER: _ClassVar[int]
    P_CTCVR_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    AD_ID_FIELD_NUMBER: _ClassVar[int]
    ECPM_FIELD_NUMBER: _ClassVar[int]
    p_ctr: float
    p_cvr: float
    p_ctcvr: float
    value: float
    score: float
    ad_id: str
    ecpm: float
    def __init__(self, p_ctr: _Optional[float] = ..., p_cvr: _Optional[float] = ..., p_ctcvr: _Optional[float] = ..., value: _Optional[float] = ..., score: _Optional[float] = ..., ad_id: _Optional[str] = ..., ecpm: _Optional[float] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("model_version", "predictions", "history_length", "catalog_version")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_LENGTH_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_version: int
    predictions: _containers.RepeatedCompositeFieldContainer[Prediction]
    history_length: int
    catalog_version: int
    def __init__(self, model_version: _Optional[int] = ..., predictions: _Optional[_Iterable[_Union[Prediction, _Mapping]]] = ..., history_length: _Optional[int] = ..., catalog_version: _Optional[int] = ...) -> None: ...

class RankRequest(_message.Message):
    __slots__ = ("user_id", "k", "objective", "model_version", "candidates")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    k: int
    objective: Objective
    model_version: int
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    def __init__(self, user_id: _Optional[str] = ..., k: _Optional[int] = ..., objective: _Optional[_Union[Objective, str]] = ..., model_version: _Optional[int] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ...) -> None: ...

class RankResponse(_message.Message):
    __slots__ = ("model_version", "ranked", "history_length", "catalog_version")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    RANKED_FIELD_NUMBER: _ClassVar[int]
    HISTORY_LENGTH_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    model_version: int
    ranked: _containers.RepeatedCompositeFieldContainer[Prediction]
    history_length: int
    catalog_version: int
    def __init__(self, model_version: _Optional[int] = ..., ranked: _Optional[_Iterable[_Union[Prediction, _Mapping]]] = ..., history_length: _Optional[int] = ..., catalog_version: _Optional[int] = ...) -> None: ...

class BehaviorEvent(_message.Message):
    __slots__ = ("user_id", "timestamp", "action", "ad_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    AD_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    timestamp: int
    action: str
    ad_id: str
    def __init__(self, user_id: _Optional[str] = ..., timestamp: _Optional[int] = ..., action: _Optional[str] = ..., ad_id: _Optional[str] = ...) -> None: ...

class RecordEventsResponse(_message.Message):
    __slots__ = ("recorded",)
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    recorded: int
    def __init__(self, recorded: _Optional[int] = ...) -> None: ...
