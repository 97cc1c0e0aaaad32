import datetime

from anpr.v1 import types_pb2 as _types_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
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
    __slots__ = ("alert_id", "sequence", "duplicate", "held")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    sequence: int
    duplicate: bool
    held: bool
    def __init__(self, alert_id: _Optional[str] = ..., sequence: _Optional[int] = ..., duplicate: _Optional[bool] = ..., held: _Optional[bool] = ...) -> None: ...

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

class PublishHotlistsRequest(_message.Message):
    __slots__ = ("hotlists",)
    HOTLISTS_FIELD_NUMBER: _ClassVar[int]
    hotlists: _containers.RepeatedCompositeFieldContainer[_types_pb2.Hotlist]
    def __init__(self, hotlists: _Optional[_Iterable[_Union[_types_pb2.Hotlist, _Mapping]]] = ...) -> None: ...

class PublishHotlistsResponse(_message.Message):
    __slots__ = ("accepted",)
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    def __init__(self, accepted: _Optional[int] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("after_sequence", "from_start", "subscription")
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    FROM_START_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    from_start: bool
    subscription: Subscription
    def __init__(self, after_sequence: _Optional[int] = ..., from_start: _Optional[bool] = ..., subscription: _Optional[_Union[Subscription, _Mapping]] = ...) -> None: ...

class Subscription(_message.Message):
    __slots__ = ("unit_id", "force", "circle", "polygon")
    UNIT_ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    CIRCLE_FIELD_NUMBER: _ClassVar[int]
    POLYGON_FIELD_NUMBER: _ClassVar[int]
    unit_id: str
    force: str
    circle: Circle
    polygon: Polygon
    def __init__(self, unit_id: _Optional[str] = ..., force: _Optional[str] = ..., circle: _Optional[_Union[Circle, _Mapping]] = ..., polygon: _Optional[_Union[Polygon, _Mapping]] = ...) -> None: ...

class Circle(_message.Message):
    __slots__ = ("center", "radius_km")
    CENTER_FIELD_NUMBER: _ClassVar[int]
    RADIUS_KM_FIELD_NUMBER: _ClassVar[int]
    center: _types_pb2.GeoPoint
    radius_km: float
    def __init__(self, center: _Optional[_Union[_types_pb2.GeoPoint, _Mapping]] = ..., radius_km: _Optional[float] = ...) -> None: ...

class Polygon(_message.Message):
    __slots__ = ("vertices",)
    VERTICES_FIELD_NUMBER: _ClassVar[int]
    vertices: _containers.RepeatedCompositeFieldContainer[_types_pb2.GeoPoint]
    def __init__(self, vertices: _Optional[_Iterable[_Union[_types_pb2.GeoPoint, _Mapping]]] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("alert", "opened", "heartbeat")
    ALERT_FIELD_NUMBER: _ClassVar[int]
    OPENED_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    alert: _types_pb2.Alert
    opened: SubscriptionOpened
    heartbeat: Heartbeat
    def __init__(self, alert: _Optional[_Union[_types_pb2.Alert, _Mapping]] = ..., opened: _Optional[_Union[SubscriptionOpened, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class SubscriptionOpened(_message.Message):
    __slots__ = ("sequence", "after_sequence", "subscription", "heartbeat_seconds")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    after_sequence: int
    subscription: Subscription
    heartbeat_seconds: int
    def __init__(self, sequence: _Optional[int] = ..., after_sequence: _Optional[int] = ..., subscription: _Optional[_Union[Subscription, _Mapping]] = ..., heartbeat_seconds: _Optional[int] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("sequence", "at")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    at: _timestamp_pb2.Timestamp
    def __init__(self, sequence: _Optional[int] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AcknowledgeAlertRequest(_message.Message):
    __slots__ = ("alert_id", "outcome", "reason", "reason_code")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    outcome: _types_pb2.AlertOutcome
    reason: str
    reason_code: str
    def __init__(self, alert_id: _Optional[str] = ..., outcome: _Optional[_Union[_types_pb2.AlertOutcome, str]] = ..., reason: _Optional[str] = ..., reason_code: _Optional[str] = ...) -> None: ...

class AcknowledgeAlertResponse(_message.Message):
    __slots__ = ("standing",)
    STANDING_FIELD_NUMBER: _ClassVar[int]
    standing: _types_pb2.AlertOutcome
    def __init__(self, standing: _Optional[_Union[_types_pb2.AlertOutcome, str]] = ...) -> None: ...

class GetPlatePatchRequest(_message.Message):
    __slots__ = ("alert_id", "reason")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    reason: str
    def __init__(self, alert_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class GetPlatePatchResponse(_message.Message):
    __slots__ = ("plate_image",)
    PLATE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    plate_image: bytes
    def __init__(self, plate_image: _Optional[bytes] = ...) -> None: ...

class GetAlertStatsRequest(_message.Message):
    __slots__ = ("window_seconds",)
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    window_seconds: int
    def __init__(self, window_seconds: _Optional[int] = ...) -> None: ...

class GetAlertStatsResponse(_message.Message):
    __slots__ = ("by_hotlist", "by_reason_code", "total", "possible_by_force")
    BY_HOTLIST_FIELD_NUMBER: _ClassVar[int]
    BY_REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    POSSIBLE_BY_FORCE_FIELD_NUMBER: _ClassVar[int]
    by_hotlist: _containers.RepeatedCompositeFieldContainer[AlertStats]
    by_reason_code: _containers.RepeatedCompositeFieldContainer[AlertStats]
    total: AlertStats
    possible_by_force: _containers.RepeatedCompositeFieldContainer[PossibleBudgetStats]
    def __init__(self, by_hotlist: _Optional[_Iterable[_Union[AlertStats, _Mapping]]] = ..., by_reason_code: _Optional[_Iterable[_Union[AlertStats, _Mapping]]] = ..., total: _Optional[_Union[AlertStats, _Mapping]] = ..., possible_by_force: _Optional[_Iterable[_Union[PossibleBudgetStats, _Mapping]]] = ...) -> None: ...

class PossibleBudgetStats(_message.Message):
    __slots__ = ("force", "budget_per_hour", "admitted", "held")
    FORCE_FIELD_NUMBER: _ClassVar[int]
    BUDGET_PER_HOUR_FIELD_NUMBER: _ClassVar[int]
    ADMITTED_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    force: str
    budget_per_hour: int
    admitted: int
    held: int
    def __init__(self, force: _Optional[str] = ..., budget_per_hour: _Optional[int] = ..., admitted: _Optional[int] = ..., held: _Optional[int] = ...) -> None: ...

class AlertStats(_message.Message):
    __slots__ = ("key", "name", "alerts", "acknowledged", "accepted", "rejected", "accept_rate", "misread_rate")
    KEY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_RATE_FIELD_NUMBER: _ClassVar[int]
    MISREAD_RATE_FIELD_NUMBER: _ClassVar[int]
    key: str
    name: str
    alerts: int
    acknowledged: int
    accepted: int
    rejected: int
    accept_rate: float
    misread_rate: float
    def __init__(self, key: _Optional[str] = ..., name: _Optional[str] = ..., alerts: _Optional[int] = ..., acknowledged: _Optional[int] = ..., accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., accept_rate: _Optional[float] = ..., misread_rate: _Optional[float] = ...) -> None: ...
