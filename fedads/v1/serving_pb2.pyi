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
OBJECTIVE_UNSPECIFIED: Objective
OBJECTIVE_CTR: Objective
OBJECTIVE_EXPECTED_REVENUE: Objective
OBJECTIVE_CVR: Objective

class PredictRequest(_message.Message):
    __slots__ = ("user_id", "candidates", "context", "model_version")
    class ContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    candidates: _containers.RepeatedScalarFieldContainer[int]
    context: _containers.ScalarMap[str, str]
    model_version: int
    def __init__(self, user_id: _Optional[str] = ..., candidates: _Optional[_Iterable[int]] = ..., context: _Optional[_Mapping[str, str]] = ..., model_version: _Optional[int] = ...) -> None: ...

class Prediction(_message.Message):
    __slots__ = ("item_id", "p_ctr", "p_cvr", "p_ctcvr", "value", "score")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    P_CTR_FIELD_NUMBER: _ClassVar[int]
    P_CVR_FIELD_NUMBER: _ClassVar[int]
    P_CTCVR_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    item_id: int
    p_ctr: float
    p_cvr: float
    p_ctcvr: float
    value: float
    score: float
    def __init__(self, item_id: _Optional[int] = ..., p_ctr: _Optional[float] = ..., p_cvr: _Optional[float] = ..., p_ctcvr: _Optional[float] = ..., value: _Optional[float] = ..., score: _Optional[float] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("model_version", "predictions", "history_length")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_LENGTH_FIELD_NUMBER: _ClassVar[int]
    model_version: int
    predictions: _containers.RepeatedCompositeFieldContainer[Prediction]
    history_length: int
    def __init__(self, model_version: _Optional[int] = ..., predictions: _Optional[_Iterable[_Union[Prediction, _Mapping]]] = ..., history_length: _Optional[int] = ...) -> None: ...

class RankRequest(_message.Message):
    __slots__ = ("user_id", "candidates", "k", "objective", "model_version")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    candidates: _containers.RepeatedScalarFieldContainer[int]
    k: int
    objective: Objective
    model_version: int
    def __init__(self, user_id: _Optional[str] = ..., candidates: _Optional[_Iterable[int]] = ..., k: _Optional[int] = ..., objective: _Optional[_Union[Objective, str]] = ..., model_version: _Optional[int] = ...) -> None: ...

class RankResponse(_message.Message):
    __slots__ = ("model_version", "ranked", "history_length")
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    RANKED_FIELD_NUMBER: _ClassVar[int]
    HISTORY_LENGTH_FIELD_NUMBER: _ClassVar[int]
    model_version: int
    ranked: _containers.RepeatedCompositeFieldContainer[Prediction]
    history_length: int
    def __init__(self, model_version: _Optional[int] = ..., ranked: _Optional[_Iterable[_Union[Prediction, _Mapping]]] = ..., history_length: _Optional[int] = ...) -> None: ...

class BehaviorEvent(_message.Message):
    __slots__ = ("user_id", "item_id", "timestamp", "action")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    item_id: int
    timestamp: int
    action: str
    def __init__(self, user_id: _Optional[str] = ..., item_id: _Optional[int] = ..., timestamp: _Optional[int] = ..., action: _Optional[str] = ...) -> None: ...

class RecordEventsResponse(_message.Message):
    __slots__ = ("recorded",)
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    recorded: int
    def __init__(self, recorded: _Optional[int] = ...) -> None: ...
