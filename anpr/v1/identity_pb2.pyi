from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WhoAmIResponse(_message.Message):
    __slots__ = ("subject", "role", "force", "national", "unit", "covert")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    NATIONAL_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    COVERT_FIELD_NUMBER: _ClassVar[int]
    subject: str
    role: str
    force: str
    national: bool
    unit: str
    covert: bool
    def __init__(self, subject: _Optional[str] = ..., role: _Optional[str] = ..., force: _Optional[str] = ..., national: _Optional[bool] = ..., unit: _Optional[str] = ..., covert: _Optional[bool] = ...) -> None: ...
