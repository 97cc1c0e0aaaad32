from anpr.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PublishAlertRequest(_message.Message):
    __slots__ = ("hit",)
    HIT_FIELD_NUMBER: _ClassVar[int]
    hit: _types_pb2.Hit
    def __init__(self, hit: _Optional[_Union[_types_pb2.Hit, _Mapping]] = ...) -> None: ...

class PublishAlertResponse(_message.Message):
    __slots__ = ("alert_id", "sequence", "duplicate")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    sequence: int
    duplicate: bool
    def __init__(self, alert_id: _Optional[str] = ..., sequence: _Optional[int] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class PublishAlertsRequest(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[_types_pb2.TracedHit]
    def __init__(self, hits: _Optional[_Iterable[_Union[_types_pb2.TracedHit, _Mapping]]] = ...) -> None: ...

class PublishAlertsResponse(_message.Message):
    __slots__ = ("alerts",)
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[PublishAlertResponse]
    def __init__(self, alerts: _Optional[_Iterable[_Union[PublishAlertResponse, _Mapping]]] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("after_sequence", "from_start")
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    FROM_START_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    from_start: bool
    def __init__(self, after_sequence: _Optional[int] = ..., from_start: _Optional[bool] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: _types_pb2.Alert
    def __init__(self, alert: _Optional[_Union[_types_pb2.Alert, _Mapping]] = ...) -> None: ...

class AcknowledgeAlertRequest(_message.Message):
    __slots__ = ("alert_id", "outcome", "reason")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    outcome: _types_pb2.AlertOutcome
    reason: str
    def __init__(self, alert_id: _Optional[str] = ..., outcome: _Optional[_Union[_types_pb2.AlertOutcome, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
