from anpr.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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
    __slots__ = ("hotlist_id", "entries")
    HOTLIST_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    hotlist_id: str
    entries: _containers.RepeatedCompositeFieldContainer[_types_pb2.VoiEntry]
    def __init__(self, hotlist_id: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[_types_pb2.VoiEntry, _Mapping]]] = ...) -> None: ...

class ImportEntriesResponse(_message.Message):
    __slots__ = ("imported", "hotlist_version", "violations")
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    HOTLIST_VERSION_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    imported: int
    hotlist_version: int
    violations: _containers.RepeatedCompositeFieldContainer[_types_pb2.FieldViolation]
    def __init__(self, imported: _Optional[int] = ..., hotlist_version: _Optional[int] = ..., violations: _Optional[_Iterable[_Union[_types_pb2.FieldViolation, _Mapping]]] = ...) -> None: ...
