from anpr.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CalibrationScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALIBRATION_SCOPE_UNSPECIFIED: _ClassVar[CalibrationScope]
    CALIBRATION_SCOPE_CAMERA: _ClassVar[CalibrationScope]
    CALIBRATION_SCOPE_LIST: _ClassVar[CalibrationScope]
CALIBRATION_SCOPE_UNSPECIFIED: CalibrationScope
CALIBRATION_SCOPE_CAMERA: CalibrationScope
CALIBRATION_SCOPE_LIST: CalibrationScope

class MatchRead(_message.Message):
    __slots__ = ("read", "traceparent", "force", "location", "location_from_camera")
    READ_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FROM_CAMERA_FIELD_NUMBER: _ClassVar[int]
    read: _types_pb2.Read
    traceparent: str
    force: str
    location: _types_pb2.GeoPoint
    location_from_camera: bool
    def __init__(self, read: _Optional[_Union[_types_pb2.Read, _Mapping]] = ..., traceparent: _Optional[str] = ..., force: _Optional[str] = ..., location: _Optional[_Union[_types_pb2.GeoPoint, _Mapping]] = ..., location_from_camera: _Optional[bool] = ...) -> None: ...

class MatchReadsRequest(_message.Message):
    __slots__ = ("reads",)
    READS_FIELD_NUMBER: _ClassVar[int]
    reads: _containers.RepeatedCompositeFieldContainer[MatchRead]
    def __init__(self, reads: _Optional[_Iterable[_Union[MatchRead, _Mapping]]] = ...) -> None: ...

class MatchReadsResponse(_message.Message):
    __slots__ = ("accepted", "hits")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    hits: int
    def __init__(self, accepted: _Optional[int] = ..., hits: _Optional[int] = ...) -> None: ...

class UpsertHotlistRequest(_message.Message):
    __slots__ = ("hotlist",)
    HOTLIST_FIELD_NUMBER: _ClassVar[int]
    hotlist: _types_pb2.Hotlist
    def __init__(self, hotlist: _Optional[_Union[_types_pb2.Hotlist, _Mapping]] = ...) -> None: ...

class UpsertHotlistResponse(_message.Message):
    __slots__ = ("hotlist",)
    HOTLIST_FIELD_NUMBER: _ClassVar[int]
    hotlist: _types_pb2.Hotlist
    def __init__(self, hotlist: _Optional[_Union[_types_pb2.Hotlist, _Mapping]] = ...) -> None: ...

class ListHotlistsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListHotlistsResponse(_message.Message):
    __slots__ = ("hotlists",)
    HOTLISTS_FIELD_NUMBER: _ClassVar[int]
    hotlists: _containers.RepeatedCompositeFieldContainer[_types_pb2.Hotlist]
    def __init__(self, hotlists: _Optional[_Iterable[_Union[_types_pb2.Hotlist, _Mapping]]] = ...) -> None: ...

class UpsertEntryRequest(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: _types_pb2.VoiEntry
    def __init__(self, entry: _Optional[_Union[_types_pb2.VoiEntry, _Mapping]] = ...) -> None: ...

class UpsertEntryResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: _types_pb2.VoiEntry
    def __init__(self, entry: _Optional[_Union[_types_pb2.VoiEntry, _Mapping]] = ...) -> None: ...

class DeleteEntryRequest(_message.Message):
    __slots__ = ("entry_id",)
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    def __init__(self, entry_id: _Optional[str] = ...) -> None: ...

class DeleteEntryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetEntryRequest(_message.Message):
    __slots__ = ("entry_id", "reason")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    reason: str
    def __init__(self, entry_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class GetEntryResponse(_message.Message):
    __slots__ = ("entry",)
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    entry: _types_pb2.VoiEntry
    def __init__(self, entry: _Optional[_Union[_types_pb2.VoiEntry, _Mapping]] = ...) -> None: ...

class ImportEntriesRequest(_message.Message):
    __slots__ = ("hotlist_id", "entries", "entry_columns", "complete", "new_hotlist")
    HOTLIST_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    ENTRY_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    NEW_HOTLIST_FIELD_NUMBER: _ClassVar[int]
    hotlist_id: str
    entries: _containers.RepeatedCompositeFieldContainer[_types_pb2.VoiEntry]
    entry_columns: bytes
    complete: bool
    new_hotlist: _types_pb2.Hotlist
    def __init__(self, hotlist_id: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[_types_pb2.VoiEntry, _Mapping]]] = ..., entry_columns: _Optional[bytes] = ..., complete: _Optional[bool] = ..., new_hotlist: _Optional[_Union[_types_pb2.Hotlist, _Mapping]] = ...) -> None: ...

class ImportEntriesResponse(_message.Message):
    __slots__ = ("imported", "hotlist_version", "hotlist_id", "violations", "added", "changed", "removed")
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    HOTLIST_VERSION_FIELD_NUMBER: _ClassVar[int]
    HOTLIST_ID_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    imported: int
    hotlist_version: int
    hotlist_id: str
    violations: _containers.RepeatedCompositeFieldContainer[_types_pb2.FieldViolation]
    added: int
    changed: int
    removed: int
    def __init__(self, imported: _Optional[int] = ..., hotlist_version: _Optional[int] = ..., hotlist_id: _Optional[str] = ..., violations: _Optional[_Iterable[_Union[_types_pb2.FieldViolation, _Mapping]]] = ..., added: _Optional[int] = ..., changed: _Optional[int] = ..., removed: _Optional[int] = ...) -> None: ...

class AlertOutcomeRecord(_message.Message):
    __slots__ = ("alert_id", "outcome", "reason_code", "hit")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    HIT_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    outcome: _types_pb2.AlertOutcome
    reason_code: str
    hit: _types_pb2.Hit
    def __init__(self, alert_id: _Optional[str] = ..., outcome: _Optional[_Union[_types_pb2.AlertOutcome, str]] = ..., reason_code: _Optional[str] = ..., hit: _Optional[_Union[_types_pb2.Hit, _Mapping]] = ...) -> None: ...

class RecordOutcomesRequest(_message.Message):
    __slots__ = ("outcomes",)
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[AlertOutcomeRecord]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[AlertOutcomeRecord, _Mapping]]] = ...) -> None: ...

class RecordOutcomesResponse(_message.Message):
    __slots__ = ("accepted", "applied")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    applied: int
    def __init__(self, accepted: _Optional[int] = ..., applied: _Optional[int] = ...) -> None: ...

class GetCalibrationRequest(_message.Message):
    __slots__ = ("scope", "scope_id")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_ID_FIELD_NUMBER: _ClassVar[int]
    scope: CalibrationScope
    scope_id: str
    def __init__(self, scope: _Optional[_Union[CalibrationScope, str]] = ..., scope_id: _Optional[str] = ...) -> None: ...

class CalibrationEntry(_message.Message):
    __slots__ = ("key", "label", "accepted", "rejected", "predicted", "log_odds")
    KEY_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    PREDICTED_FIELD_NUMBER: _ClassVar[int]
    LOG_ODDS_FIELD_NUMBER: _ClassVar[int]
    key: str
    label: str
    accepted: int
    rejected: int
    predicted: float
    log_odds: float
    def __init__(self, key: _Optional[str] = ..., label: _Optional[str] = ..., accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., predicted: _Optional[float] = ..., log_odds: _Optional[float] = ...) -> None: ...

class GetCalibrationResponse(_message.Message):
    __slots__ = ("entries", "max_log_odds")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    MAX_LOG_ODDS_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[CalibrationEntry]
    max_log_odds: float
    def __init__(self, entries: _Optional[_Iterable[_Union[CalibrationEntry, _Mapping]]] = ..., max_log_odds: _Optional[float] = ...) -> None: ...

class ResetCalibrationRequest(_message.Message):
    __slots__ = ("scope", "scope_id")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SCOPE_ID_FIELD_NUMBER: _ClassVar[int]
    scope: CalibrationScope
    scope_id: str
    def __init__(self, scope: _Optional[_Union[CalibrationScope, str]] = ..., scope_id: _Optional[str] = ...) -> None: ...

class ResetCalibrationResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: int
    def __init__(self, removed: _Optional[int] = ...) -> None: ...

class GetMatchStatsRequest(_message.Message):
    __slots__ = ("window_seconds",)
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    window_seconds: int
    def __init__(self, window_seconds: _Optional[int] = ...) -> None: ...

class WithheldCount(_message.Message):
    __slots__ = ("key", "withheld")
    KEY_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_FIELD_NUMBER: _ClassVar[int]
    key: str
    withheld: int
    def __init__(self, key: _Optional[str] = ..., withheld: _Optional[int] = ...) -> None: ...

class GetMatchStatsResponse(_message.Message):
    __slots__ = ("withheld_by_hotlist", "withheld_by_camera", "withheld_total")
    WITHHELD_BY_HOTLIST_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_BY_CAMERA_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_TOTAL_FIELD_NUMBER: _ClassVar[int]
    withheld_by_hotlist: _containers.RepeatedCompositeFieldContainer[WithheldCount]
    withheld_by_camera: _containers.RepeatedCompositeFieldContainer[WithheldCount]
    withheld_total: int
    def __init__(self, withheld_by_hotlist: _Optional[_Iterable[_Union[WithheldCount, _Mapping]]] = ..., withheld_by_camera: _Optional[_Iterable[_Union[WithheldCount, _Mapping]]] = ..., withheld_total: _Optional[int] = ...) -> None: ...
