from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RoundParticipant(_message.Message):
    __slots__ = ("site_id", "upload_token_sha256")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_TOKEN_SHA256_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    upload_token_sha256: str
    def __init__(self, site_id: _Optional[str] = ..., upload_token_sha256: _Optional[str] = ...) -> None: ...

class OpenRoundRequest(_message.Message):
    __slots__ = ("round_id", "base_version", "participants", "secure_aggregation", "secagg_clip", "stage_deadline_s", "server_learning_rate", "server_momentum", "revoked_site_ids")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    BASE_VERSION_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANTS_FIELD_NUMBER: _ClassVar[int]
    SECURE_AGGREGATION_FIELD_NUMBER: _ClassVar[int]
    SECAGG_CLIP_FIELD_NUMBER: _ClassVar[int]
    STAGE_DEADLINE_S_FIELD_NUMBER: _ClassVar[int]
    SERVER_LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    SERVER_MOMENTUM_FIELD_NUMBER: _ClassVar[int]
    REVOKED_SITE_IDS_FIELD_NUMBER: _ClassVar[int]
    round_id: int
    base_version: int
    participants: _containers.RepeatedCompositeFieldContainer[RoundParticipant]
    secure_aggregation: bool
    secagg_clip: float
    stage_deadline_s: float
    server_learning_rate: float
    server_momentum: float
    revoked_site_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, round_id: _Optional[int] = ..., base_version: _Optional[int] = ..., participants: _Optional[_Iterable[_Union[RoundParticipant, _Mapping]]] = ..., secure_aggregation: _Optional[bool] = ..., secagg_clip: _Optional[float] = ..., stage_deadline_s: _Optional[float] = ..., server_learning_rate: _Optional[float] = ..., server_momentum: _Optional[float] = ..., revoked_site_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class OpenRoundResponse(_message.Message):
    __slots__ = ("vector_length",)
    VECTOR_LENGTH_FIELD_NUMBER: _ClassVar[int]
    vector_length: int
    def __init__(self, vector_length: _Optional[int] = ...) -> None: ...

class UpdateHeader(_message.Message):
    __slots__ = ("round_id", "site_id", "upload_token", "num_elements", "dtype", "sha256")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NUM_ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    round_id: int
    site_id: str
    upload_token: str
    num_elements: int
    dtype: str
    sha256: str
    def __init__(self, round_id: _Optional[int] = ..., site_id: _Optional[str] = ..., upload_token: _Optional[str] = ..., num_elements: _Optional[int] = ..., dtype: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class UpdateChunk(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: UpdateHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[UpdateHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class UploadReceipt(_message.Message):
    __slots__ = ("round_id", "site_id", "sha256", "bytes_received")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    round_id: int
    site_id: str
    sha256: str
    bytes_received: int
    def __init__(self, round_id: _Optional[int] = ..., site_id: _Optional[str] = ..., sha256: _Optional[str] = ..., bytes_received: _Optional[int] = ...) -> None: ...

class FinalizeRoundRequest(_message.Message):
    __slots__ = ("round_id", "site_ids", "min_sites")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_IDS_FIELD_NUMBER: _ClassVar[int]
    MIN_SITES_FIELD_NUMBER: _ClassVar[int]
    round_id: int
    site_ids: _containers.RepeatedScalarFieldContainer[str]
    min_sites: int
    def __init__(self, round_id: _Optional[int] = ..., site_ids: _Optional[_Iterable[str]] = ..., min_sites: _Optional[int] = ...) -> None: ...

class FinalizeRoundResponse(_message.Message):
    __slots__ = ("version", "sha256", "included_site_ids")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    INCLUDED_SITE_IDS_FIELD_NUMBER: _ClassVar[int]
    version: int
    sha256: str
    included_site_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, version: _Optional[int] = ..., sha256: _Optional[str] = ..., included_site_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class AbortRoundRequest(_message.Message):
    __slots__ = ("round_id", "reason")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    round_id: int
    reason: str
    def __init__(self, round_id: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class DropParticipantsRequest(_message.Message):
    __slots__ = ("round_id", "site_ids", "revoked")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_IDS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_FIELD_NUMBER: _ClassVar[int]
    round_id: int
    site_ids: _containers.RepeatedScalarFieldContainer[str]
    revoked: bool
    def __init__(self, round_id: _Optional[int] = ..., site_ids: _Optional[_Iterable[str]] = ..., revoked: _Optional[bool] = ...) -> None: ...

class DropParticipantsResponse(_message.Message):
    __slots__ = ("dropped",)
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    dropped: int
    def __init__(self, dropped: _Optional[int] = ...) -> None: ...

class AbortRoundResponse(_message.Message):
    __slots__ = ("aborted",)
    ABORTED_FIELD_NUMBER: _ClassVar[int]
    aborted: bool
    def __init__(self, aborted: _Optional[bool] = ...) -> None: ...

class KeyAdvertisement(_message.Message):
    __slots__ = ("site_id", "c_pk", "s_pk", "b_commitment", "signature")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    C_PK_FIELD_NUMBER: _ClassVar[int]
    S_PK_FIELD_NUMBER: _ClassVar[int]
    B_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    site_id: str
    c_pk: bytes
    s_pk: bytes
    b_commitment: bytes
    signature: bytes
    def __init__(self, site_id: _Optional[str] = ..., c_pk: _Optional[bytes] = ..., s_pk: _Optional[bytes] = ..., b_commitment: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class SiteAuth(_message.Message):
    __slots__ = ("round_id", "site_id", "upload_token")
    ROUND_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_TOKEN_FIELD_NUMBER: _ClassVar[int]
    round_id: int
    site_id: str
    upload_token: str
    def __init__(self, round_id: _Optional[int] = ..., site_id: _Optional[str] = ..., upload_token: _Optional[str] = ...) -> None: ...

class AdvertiseKeysRequest(_message.Message):
    __slots__ = ("auth", "advert")
    AUTH_FIELD_NUMBER: _ClassVar[int]
    ADVERT_FIELD_NUMBER: _ClassVar[int]
    auth: SiteAuth
    advert: KeyAdvertisement
    def __init__(self, auth: _Optional[_Union[SiteAuth, _Mapping]] = ..., advert: _Optional[_Union[KeyAdvertisement, _Mapping]] = ...) -> None: ...

class AdvertiseKeysResponse(_message.Message):
    __slots__ = ("adverts",)
    ADVERTS_FIELD_NUMBER: _ClassVar[int]
    adverts: _containers.RepeatedCompositeFieldContainer[KeyAdvertisement]
    def __init__(self, adverts: _Optional[_Iterable[_Union[KeyAdvertisement, _Mapping]]] = ...) -> None: ...

class EncryptedShare(_message.Message):
    __slots__ = ("sender", "receiver", "ciphertext")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    sender: str
    receiver: str
    ciphertext: bytes
    def __init__(self, sender: _Optional[str] = ..., receiver: _Optional[str] = ..., ciphertext: _Optional[bytes] = ...) -> None: ...

class ShareKeysRequest(_message.Message):
    __slots__ = ("auth", "shares")
    AUTH_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    auth: SiteAuth
    shares: _containers.RepeatedCompositeFieldContainer[EncryptedShare]
    def __init__(self, auth: _Optional[_Union[SiteAuth, _Mapping]] = ..., shares: _Optional[_Iterable[_Union[EncryptedShare, _Mapping]]] = ...) -> None: ...

class ShareKeysResponse(_message.Message):
    __slots__ = ("shares",)
    SHARES_FIELD_NUMBER: _ClassVar[int]
    shares: _containers.RepeatedCompositeFieldContainer[EncryptedShare]
    def __init__(self, shares: _Optional[_Iterable[_Union[EncryptedShare, _Mapping]]] = ...) -> None: ...

class UnmaskRequest(_message.Message):
    __slots__ = ("auth",)
    AUTH_FIELD_NUMBER: _ClassVar[int]
    auth: SiteAuth
    def __init__(self, auth: _Optional[_Union[SiteAuth, _Mapping]] = ...) -> None: ...

class UnmaskResponse(_message.Message):
    __slots__ = ("survivors",)
    SURVIVORS_FIELD_NUMBER: _ClassVar[int]
    survivors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, survivors: _Optional[_Iterable[str]] = ...) -> None: ...

class RevealedShare(_message.Message):
    __slots__ = ("owner", "kind", "share")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    owner: str
    kind: str
    share: bytes
    def __init__(self, owner: _Optional[str] = ..., kind: _Optional[str] = ..., share: _Optional[bytes] = ...) -> None: ...

class RevealSharesRequest(_message.Message):
    __slots__ = ("auth", "shares")
    AUTH_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    auth: SiteAuth
    shares: _containers.RepeatedCompositeFieldContainer[RevealedShare]
    def __init__(self, auth: _Optional[_Union[SiteAuth, _Mapping]] = ..., shares: _Optional[_Iterable[_Union[RevealedShare, _Mapping]]] = ...) -> None: ...

class RevealSharesResponse(_message.Message):
    __slots__ = ("accepted",)
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    def __init__(self, accepted: _Optional[bool] = ...) -> None: ...
