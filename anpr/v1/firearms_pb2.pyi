from anpr.v1 import types_pb2 as _types_pb2
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
    __slots__ = ("after_sequence", "from_start")
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    FROM_START_FIELD_NUMBER: _ClassVar[int]
    after_sequence: int
    from_start: bool
    def __init__(self, after_sequence: _Optional[int] = ..., from_start: _Optional[bool] = ...) -> None: ...

class StreamActivationsResponse(_message.Message):
    __slots__ = ("activation",)
    ACTIVATION_FIELD_NUMBER: _ClassVar[int]
    activation: _types_pb2.Activation
    def __init__(self, activation: _Optional[_Union[_types_pb2.Activation, _Mapping]] = ...) -> None: ...

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
