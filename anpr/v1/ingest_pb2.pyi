import datetime

from anpr.v1 import types_pb2 as _types_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReadStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    READ_STATUS_UNSPECIFIED: _ClassVar[ReadStatus]
    READ_STATUS_STORED: _ClassVar[ReadStatus]
    READ_STATUS_DUPLICATE: _ClassVar[ReadStatus]
    READ_STATUS_REJECTED: _ClassVar[ReadStatus]
    READ_STATUS_THROTTLED: _ClassVar[ReadStatus]
READ_STATUS_UNSPECIFIED: ReadStatus
READ_STATUS_STORED: ReadStatus
READ_STATUS_DUPLICATE: ReadStatus
READ_STATUS_REJECTED: ReadStatus
READ_STATUS_THROTTLED: ReadStatus

class ReadResult(_message.Message):
    __slots__ = ("read_id", "status", "violations")
    READ_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    read_id: str
    status: ReadStatus
    violations: _containers.RepeatedCompositeFieldContainer[_types_pb2.FieldViolation]
    def __init__(self, read_id: _Optional[str] = ..., status: _Optional[_Union[ReadStatus, str]] = ..., violations: _Optional[_Iterable[_Union[_types_pb2.FieldViolation, _Mapping]]] = ...) -> None: ...

class SubmitReadRequest(_message.Message):
    __slots__ = ("read",)
    READ_FIELD_NUMBER: _ClassVar[int]
    read: _types_pb2.Read
    def __init__(self, read: _Optional[_Union[_types_pb2.Read, _Mapping]] = ...) -> None: ...

class SubmitReadResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ReadResult
    def __init__(self, result: _Optional[_Union[ReadResult, _Mapping]] = ...) -> None: ...

class SubmitReadsRequest(_message.Message):
    __slots__ = ("reads",)
    READS_FIELD_NUMBER: _ClassVar[int]
    reads: _containers.RepeatedCompositeFieldContainer[_types_pb2.Read]
    def __init__(self, reads: _Optional[_Iterable[_Union[_types_pb2.Read, _Mapping]]] = ...) -> None: ...

class SubmitReadsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ReadResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ReadResult, _Mapping]]] = ...) -> None: ...

class StreamReadsRequest(_message.Message):
    __slots__ = ("batch_id", "reads")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    READS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    reads: _containers.RepeatedCompositeFieldContainer[_types_pb2.Read]
    def __init__(self, batch_id: _Optional[str] = ..., reads: _Optional[_Iterable[_Union[_types_pb2.Read, _Mapping]]] = ...) -> None: ...

class StreamReadsResponse(_message.Message):
    __slots__ = ("batch_id", "results")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    results: _containers.RepeatedCompositeFieldContainer[ReadResult]
    def __init__(self, batch_id: _Optional[str] = ..., results: _Optional[_Iterable[_Union[ReadResult, _Mapping]]] = ...) -> None: ...

class GetReadRequest(_message.Message):
    __slots__ = ("read_id", "reason")
    READ_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    read_id: str
    reason: str
    def __init__(self, read_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class GetReadResponse(_message.Message):
    __slots__ = ("read",)
    READ_FIELD_NUMBER: _ClassVar[int]
    read: _types_pb2.Read
    def __init__(self, read: _Optional[_Union[_types_pb2.Read, _Mapping]] = ...) -> None: ...

class GetReadPlatePatchRequest(_message.Message):
    __slots__ = ("read_id", "captured_at", "viewer", "reason")
    READ_ID_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    VIEWER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    read_id: str
    captured_at: _timestamp_pb2.Timestamp
    viewer: str
    reason: str
    def __init__(self, read_id: _Optional[str] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., viewer: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class GetReadPlatePatchResponse(_message.Message):
    __slots__ = ("plate_image",)
    PLATE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    plate_image: bytes
    def __init__(self, plate_image: _Optional[bytes] = ...) -> None: ...

class SearchReadsRequest(_message.Message):
    __slots__ = ("vrm", "lookback_seconds", "page_size", "vrms")
    VRM_FIELD_NUMBER: _ClassVar[int]
    LOOKBACK_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    VRMS_FIELD_NUMBER: _ClassVar[int]
    vrm: str
    lookback_seconds: int
    page_size: int
    vrms: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, vrm: _Optional[str] = ..., lookback_seconds: _Optional[int] = ..., page_size: _Optional[int] = ..., vrms: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchReadsResponse(_message.Message):
    __slots__ = ("reads",)
    READS_FIELD_NUMBER: _ClassVar[int]
    reads: _containers.RepeatedCompositeFieldContainer[_types_pb2.Read]
    def __init__(self, reads: _Optional[_Iterable[_Union[_types_pb2.Read, _Mapping]]] = ...) -> None: ...

class ScanReadsRequest(_message.Message):
    __slots__ = ("lookback_seconds", "page_size")
    LOOKBACK_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    lookback_seconds: int
    page_size: int
    def __init__(self, lookback_seconds: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class ScanReadsResponse(_message.Message):
    __slots__ = ("reads",)
    READS_FIELD_NUMBER: _ClassVar[int]
    reads: _containers.RepeatedCompositeFieldContainer[_types_pb2.Read]
    def __init__(self, reads: _Optional[_Iterable[_Union[_types_pb2.Read, _Mapping]]] = ...) -> None: ...

class UpsertCameraRequest(_message.Message):
    __slots__ = ("camera",)
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    camera: _types_pb2.Camera
    def __init__(self, camera: _Optional[_Union[_types_pb2.Camera, _Mapping]] = ...) -> None: ...

class UpsertCameraResponse(_message.Message):
    __slots__ = ("camera",)
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    camera: _types_pb2.Camera
    def __init__(self, camera: _Optional[_Union[_types_pb2.Camera, _Mapping]] = ...) -> None: ...

class ListCamerasRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCamerasResponse(_message.Message):
    __slots__ = ("cameras",)
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    cameras: _containers.RepeatedCompositeFieldContainer[_types_pb2.Camera]
    def __init__(self, cameras: _Optional[_Iterable[_Union[_types_pb2.Camera, _Mapping]]] = ...) -> None: ...
