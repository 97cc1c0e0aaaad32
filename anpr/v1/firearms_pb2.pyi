import datetime

from anpr.v1 import types_pb2 as _types_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RaiseActivationRequest(_message.Message):
    __slots__ = ("hit",)
    HIT_FIELD_NUMBER: _ClassVar[int]
    hit: _types_pb2.Hit
    def __init__(self, hit: _Optional[_Union[_types_pb2.Hit, _Mapping]] = ...) -> None: ...

class RaiseActivationResponse(_message.Message):
    __slots__ = ("activation_id", "duplicate")
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    activation_id: str
    duplicate: bool
    def __init__(self, activation_id: _Optional[str] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class RaiseActivationsRequest(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[_types_pb2.TracedHit]
    def __init__(self, hits: _Optional[_Iterable[_Union[_types_pb2.TracedHit, _Mapping]]] = ...) -> None: ...

class RaiseActivationsResponse(_message.Message):
    __slots__ = ("activations",)
    ACTIVATIONS_FIELD_NUMBER: _ClassVar[int]
    activations: _containers.RepeatedCompositeFieldContainer[RaiseActivationResponse]
    def __init__(self, activations: _Optional[_Iterable[_Union[RaiseActivationResponse, _Mapping]]] = ...) -> None: ...

class StreamActivationsRequest(_message.Message):
    __slots__ = ("after_sequence", "from_start", "mark_caught_up")
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    FROM_START_FIELD_NUMBER: _ClassVar[int]
    MARK_CAUGHT_UP_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    from_start: bool
    mark_caught_up: bool
    def __init__(self, after_sequence: _Optional[int] = ..., from_start: _Optional[bool] = ..., mark_caught_up: _Optional[bool] = ...) -> None: ...

class StreamActivationsResponse(_message.Message):
    __slots__ = ("activation", "event", "caught_up")
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    CAUGHT_UP_FIELD_NUMBER: _ClassVar[int]
    activation: _types_pb2.Activation
    event: _types_pb2.ActivationEvent
    caught_up: bool
    def __init__(self, activation: _Optional[_Union[_types_pb2.Activation, _Mapping]] = ..., event: _Optional[_Union[_types_pb2.ActivationEvent, _Mapping]] = ..., caught_up: _Optional[bool] = ...) -> None: ...

class AcknowledgeActivationRequest(_message.Message):
    __slots__ = ("activation_id",)
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    activation_id: str
    def __init__(self, activation_id: _Optional[str] = ...) -> None: ...

class AcknowledgeActivationResponse(_message.Message):
    __slots__ = ("activation",)
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    activation: _types_pb2.Activation
    def __init__(self, activation: _Optional[_Union[_types_pb2.Activation, _Mapping]] = ...) -> None: ...

class RecordDecisionRequest(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: _types_pb2.NdmDecision
    def __init__(self, decision: _Optional[_Union[_types_pb2.NdmDecision, _Mapping]] = ...) -> None: ...

class RecordDecisionResponse(_message.Message):
    __slots__ = ("decision",)
    DECISION_FIELD_NUMBER: _ClassVar[int]
    decision: _types_pb2.NdmDecision
    def __init__(self, decision: _Optional[_Union[_types_pb2.NdmDecision, _Mapping]] = ...) -> None: ...

class GetActivationRequest(_message.Message):
    __slots__ = ("activation_id",)
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    activation_id: str
    def __init__(self, activation_id: _Optional[str] = ...) -> None: ...

class GetActivationResponse(_message.Message):
    __slots__ = ("activation",)
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    activation: _types_pb2.Activation
    def __init__(self, activation: _Optional[_Union[_types_pb2.Activation, _Mapping]] = ...) -> None: ...

class ListActivationEventsRequest(_message.Message):
    __slots__ = ("activation_id", "after_sequence", "page_size")
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    activation_id: str
    after_sequence: int
    page_size: int
    def __init__(self, activation_id: _Optional[str] = ..., after_sequence: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class ListActivationEventsResponse(_message.Message):
    __slots__ = ("events", "next_after_sequence")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_types_pb2.ActivationEvent]
    next_after_sequence: int
    def __init__(self, events: _Optional[_Iterable[_Union[_types_pb2.ActivationEvent, _Mapping]]] = ..., next_after_sequence: _Optional[int] = ...) -> None: ...

class GetActivationPlatePatchRequest(_message.Message):
    __slots__ = ("activation_id", "hit_id", "reason")
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    HIT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    activation_id: str
    hit_id: str
    reason: str
    def __init__(self, activation_id: _Optional[str] = ..., hit_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class GetActivationPlatePatchResponse(_message.Message):
    __slots__ = ("plate_image",)
    PLATE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    plate_image: bytes
    def __init__(self, plate_image: _Optional[bytes] = ...) -> None: ...

class CloseActivationRequest(_message.Message):
    __slots__ = ("activation_id", "outcome", "summary")
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    activation_id: str
    outcome: _types_pb2.NdmOutcome
    summary: str
    def __init__(self, activation_id: _Optional[str] = ..., outcome: _Optional[_Union[_types_pb2.NdmOutcome, str]] = ..., summary: _Optional[str] = ...) -> None: ...

class CloseActivationResponse(_message.Message):
    __slots__ = ("activation",)
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    activation: _types_pb2.Activation
    def __init__(self, activation: _Optional[_Union[_types_pb2.Activation, _Mapping]] = ...) -> None: ...

class SignOffActivationRequest(_message.Message):
    __slots__ = ("activation_id", "remarks")
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    REMARKS_FIELD_NUMBER: _ClassVar[int]
    activation_id: str
    remarks: str
    def __init__(self, activation_id: _Optional[str] = ..., remarks: _Optional[str] = ...) -> None: ...

class SignOffActivationResponse(_message.Message):
    __slots__ = ("activation",)
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    activation: _types_pb2.Activation
    def __init__(self, activation: _Optional[_Union[_types_pb2.Activation, _Mapping]] = ...) -> None: ...

class VerifyLogRequest(_message.Message):
    __slots__ = ("checkpoints",)
    CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    checkpoints: _containers.RepeatedCompositeFieldContainer[LogCheckpoint]
    def __init__(self, checkpoints: _Optional[_Iterable[_Union[LogCheckpoint, _Mapping]]] = ...) -> None: ...

class LogCheckpoint(_message.Message):
    __slots__ = ("sequence", "head_hash", "at", "sealed_from", "key_id", "replica", "signature")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    SEALED_FROM_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    REPLICA_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    head_hash: str
    at: _timestamp_pb2.Timestamp
    sealed_from: int
    key_id: str
    replica: str
    signature: str
    def __init__(self, sequence: _Optional[int] = ..., head_hash: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sealed_from: _Optional[int] = ..., key_id: _Optional[str] = ..., replica: _Optional[str] = ..., signature: _Optional[str] = ...) -> None: ...

class VerifyLogResponse(_message.Message):
    __slots__ = ("ok", "entries_verified", "first_bad_sequence", "problem", "head_hash", "checkpoints_verified", "checkpoints_ignored", "anchored_sequence", "anchored_at", "activations_verified", "activation_id")
    OK_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    FIRST_BAD_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_IGNORED_FIELD_NUMBER: _ClassVar[int]
    ANCHORED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ANCHORED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTIVATIONS_VERIFIED_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    entries_verified: int
    first_bad_sequence: int
    problem: str
    head_hash: str
    checkpoints_verified: int
    checkpoints_ignored: int
    anchored_sequence: int
    anchored_at: _timestamp_pb2.Timestamp
    activations_verified: int
    activation_id: str
    def __init__(self, ok: _Optional[bool] = ..., entries_verified: _Optional[int] = ..., first_bad_sequence: _Optional[int] = ..., problem: _Optional[str] = ..., head_hash: _Optional[str] = ..., checkpoints_verified: _Optional[int] = ..., checkpoints_ignored: _Optional[int] = ..., anchored_sequence: _Optional[int] = ..., anchored_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., activations_verified: _Optional[int] = ..., activation_id: _Optional[str] = ...) -> None: ...

class UpsertCommanderRequest(_message.Message):
    __slots__ = ("commander",)
    COMMANDER_FIELD_NUMBER: _ClassVar[int]
    commander: _types_pb2.Commander
    def __init__(self, commander: _Optional[_Union[_types_pb2.Commander, _Mapping]] = ...) -> None: ...

class UpsertCommanderResponse(_message.Message):
    __slots__ = ("commander",)
    COMMANDER_FIELD_NUMBER: _ClassVar[int]
    commander: _types_pb2.Commander
    def __init__(self, commander: _Optional[_Union[_types_pb2.Commander, _Mapping]] = ...) -> None: ...

class ListCommandersRequest(_message.Message):
    __slots__ = ("force",)
    FORCE_FIELD_NUMBER: _ClassVar[int]
    force: str
    def __init__(self, force: _Optional[str] = ...) -> None: ...

class ListCommandersResponse(_message.Message):
    __slots__ = ("commanders",)
    COMMANDERS_FIELD_NUMBER: _ClassVar[int]
    commanders: _containers.RepeatedCompositeFieldContainer[_types_pb2.Commander]
    def __init__(self, commanders: _Optional[_Iterable[_Union[_types_pb2.Commander, _Mapping]]] = ...) -> None: ...

class AddShiftsRequest(_message.Message):
    __slots__ = ("shifts",)
    SHIFTS_FIELD_NUMBER: _ClassVar[int]
    shifts: _containers.RepeatedCompositeFieldContainer[_types_pb2.Shift]
    def __init__(self, shifts: _Optional[_Iterable[_Union[_types_pb2.Shift, _Mapping]]] = ...) -> None: ...

class AddShiftsResponse(_message.Message):
    __slots__ = ("shifts",)
    SHIFTS_FIELD_NUMBER: _ClassVar[int]
    shifts: _containers.RepeatedCompositeFieldContainer[_types_pb2.Shift]
    def __init__(self, shifts: _Optional[_Iterable[_Union[_types_pb2.Shift, _Mapping]]] = ...) -> None: ...

class ImportShiftsRequest(_message.Message):
    __slots__ = ("shifts",)
    SHIFTS_FIELD_NUMBER: _ClassVar[int]
    shifts: _containers.RepeatedCompositeFieldContainer[_types_pb2.Shift]
    def __init__(self, shifts: _Optional[_Iterable[_Union[_types_pb2.Shift, _Mapping]]] = ...) -> None: ...

class ImportShiftsResponse(_message.Message):
    __slots__ = ("imported",)
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    imported: int
    def __init__(self, imported: _Optional[int] = ...) -> None: ...

class ListShiftsRequest(_message.Message):
    __slots__ = ("force", "to")
    FORCE_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    force: str
    to: _timestamp_pb2.Timestamp
    def __init__(self, force: _Optional[str] = ..., to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., **kwargs) -> None: ...

class ListShiftsResponse(_message.Message):
    __slots__ = ("shifts",)
    SHIFTS_FIELD_NUMBER: _ClassVar[int]
    shifts: _containers.RepeatedCompositeFieldContainer[_types_pb2.Shift]
    def __init__(self, shifts: _Optional[_Iterable[_Union[_types_pb2.Shift, _Mapping]]] = ...) -> None: ...

class GetDutyStatusRequest(_message.Message):
    __slots__ = ("at", "page_size", "page_token")
    AT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    page_size: int
    page_token: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetDutyStatusResponse(_message.Message):
    __slots__ = ("forces", "next_page_token")
    FORCES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    forces: _containers.RepeatedCompositeFieldContainer[_types_pb2.DutyStatus]
    next_page_token: str
    def __init__(self, forces: _Optional[_Iterable[_Union[_types_pb2.DutyStatus, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
