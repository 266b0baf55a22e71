from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TensorSpec(_message.Message):
    __slots__ = ("name", "shape", "dtype", "scope", "statistic")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    STATISTIC_FIELD_NUMBER: _ClassVar[int]
    name: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    dtype: str
    scope: str
    statistic: bool
    def __init__(self, name: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., dtype: _Optional[str] = ..., scope: _Optional[str] = ..., statistic: _Optional[bool] = ...) -> None: ...

class ModelManifest(_message.Message):
    __slots__ = ("version", "parent_version", "round_id", "sha256", "size_bytes", "model_config_json", "metrics_json", "created_at", "tensors", "catalog_version", "catalog_sha256", "audit_seq", "audit_hash", "signature")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PARENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MODEL_CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    METRICS_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TENSORS_FIELD_NUMBER: _ClassVar[int]
    CATALOG_VERSION_FIELD_NUMBER: _ClassVar[int]
    CATALOG_SHA256_FIELD_NUMBER: _ClassVar[int]
    AUDIT_SEQ_FIELD_NUMBER: _ClassVar[int]
    AUDIT_HASH_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    version: int
    parent_version: int
    round_id: int
    sha256: str
    size_bytes: int
    model_config_json: str
    metrics_json: str
    created_at: str
    tensors: _containers.RepeatedCompositeFieldContainer[TensorSpec]
    catalog_version: int
    catalog_sha256: str
    audit_seq: int
    audit_hash: str
    signature: str
    def __init__(self, version: _Optional[int] = ..., parent_version: _Optional[int] = ..., round_id: _Optional[int] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ..., model_config_json: _Optional[str] = ..., metrics_json: _Optional[str] = ..., created_at: _Optional[str] = ..., tensors: _Optional[_Iterable[_Union[TensorSpec, _Mapping]]] = ..., catalog_version: _Optional[int] = ..., catalog_sha256: _Optional[str] = ..., audit_seq: _Optional[int] = ..., audit_hash: _Optional[str] = ..., signature: _Optional[str] = ...) -> None: ...

class Chunk(_message.Message):
    __slots__ = ("data", "offset")
    DATA_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    offset: int
    def __init__(self, data: _Optional[bytes] = ..., offset: _Optional[int] = ...) -> None: ...

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
