import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    DIRECTION_TOWARDS: _ClassVar[Direction]
    DIRECTION_AWAY: _ClassVar[Direction]

class WarningMarker(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WARNING_MARKER_UNSPECIFIED: _ClassVar[WarningMarker]
    WARNING_MARKER_FIREARMS: _ClassVar[WarningMarker]
    WARNING_MARKER_WEAPONS: _ClassVar[WarningMarker]
    WARNING_MARKER_VIOLENT: _ClassVar[WarningMarker]
    WARNING_MARKER_DRUGS: _ClassVar[WarningMarker]
    WARNING_MARKER_ESCAPER: _ClassVar[WarningMarker]
    WARNING_MARKER_IMPERSONATES: _ClassVar[WarningMarker]
    WARNING_MARKER_NO_INSURANCE: _ClassVar[WarningMarker]
    WARNING_MARKER_MENTAL_HEALTH: _ClassVar[WarningMarker]
    WARNING_MARKER_SUICIDAL: _ClassVar[WarningMarker]
    WARNING_MARKER_EXPLOSIVES: _ClassVar[WarningMarker]
    WARNING_MARKER_CONTAGIOUS: _ClassVar[WarningMarker]
    WARNING_MARKER_OTHER: _ClassVar[WarningMarker]

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    ACTION_STOP_VEHICLE: _ClassVar[Action]
    ACTION_STOP_AND_SEARCH: _ClassVar[Action]
    ACTION_ARREST_OCCUPANT: _ClassVar[Action]
    ACTION_DO_NOT_STOP_REPORT_SIGHTING: _ClassVar[Action]
    ACTION_OBSERVE_AND_FOLLOW: _ClassVar[Action]
    ACTION_INFORM_CONTROL_ROOM: _ClassVar[Action]

class ProtectiveMarking(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROTECTIVE_MARKING_UNSPECIFIED: _ClassVar[ProtectiveMarking]
    PROTECTIVE_MARKING_OFFICIAL: _ClassVar[ProtectiveMarking]
    PROTECTIVE_MARKING_OFFICIAL_SENSITIVE: _ClassVar[ProtectiveMarking]
    PROTECTIVE_MARKING_SECRET: _ClassVar[ProtectiveMarking]

class HotlistSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOTLIST_SOURCE_UNSPECIFIED: _ClassVar[HotlistSource]
    HOTLIST_SOURCE_PNC_NATIONAL: _ClassVar[HotlistSource]
    HOTLIST_SOURCE_LOCAL_FORCE: _ClassVar[HotlistSource]
    HOTLIST_SOURCE_OTHER_AGENCY: _ClassVar[HotlistSource]

class MatchPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MATCH_POLICY_UNSPECIFIED: _ClassVar[MatchPolicy]
    MATCH_POLICY_EXACT: _ClassVar[MatchPolicy]
    MATCH_POLICY_LOOKALIKE: _ClassVar[MatchPolicy]

class MatchKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MATCH_KIND_UNSPECIFIED: _ClassVar[MatchKind]
    MATCH_KIND_EXACT: _ClassVar[MatchKind]
    MATCH_KIND_LOOKALIKE: _ClassVar[MatchKind]

class MatchTier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MATCH_TIER_UNSPECIFIED: _ClassVar[MatchTier]
    MATCH_TIER_CONFIRMED: _ClassVar[MatchTier]
    MATCH_TIER_POSSIBLE: _ClassVar[MatchTier]

class AlertOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_OUTCOME_UNSPECIFIED: _ClassVar[AlertOutcome]
    ALERT_OUTCOME_SEEN: _ClassVar[AlertOutcome]
    ALERT_OUTCOME_ACCEPTED: _ClassVar[AlertOutcome]
    ALERT_OUTCOME_REJECTED: _ClassVar[AlertOutcome]

class ActivationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVATION_STATE_UNSPECIFIED: _ClassVar[ActivationState]
    ACTIVATION_STATE_RAISED: _ClassVar[ActivationState]
    ACTIVATION_STATE_ACKNOWLEDGED: _ClassVar[ActivationState]
    ACTIVATION_STATE_DECIDED: _ClassVar[ActivationState]
    ACTIVATION_STATE_ESCALATED: _ClassVar[ActivationState]
    ACTIVATION_STATE_AWAITING_SIGN_OFF: _ClassVar[ActivationState]
    ACTIVATION_STATE_CLOSED: _ClassVar[ActivationState]
    ACTIVATION_STATE_UNASSIGNED: _ClassVar[ActivationState]

class NdmOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NDM_OUTCOME_UNSPECIFIED: _ClassVar[NdmOutcome]
    NDM_OUTCOME_NO_FURTHER_ACTION: _ClassVar[NdmOutcome]
    NDM_OUTCOME_MONITOR: _ClassVar[NdmOutcome]
    NDM_OUTCOME_UNARMED_INTERCEPT: _ClassVar[NdmOutcome]
    NDM_OUTCOME_ARMED_DEPLOYMENT: _ClassVar[NdmOutcome]

class ActivationEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTIVATION_EVENT_KIND_UNSPECIFIED: _ClassVar[ActivationEventKind]
    ACTIVATION_EVENT_KIND_RAISED: _ClassVar[ActivationEventKind]
    ACTIVATION_EVENT_KIND_SIGHTING: _ClassVar[ActivationEventKind]
    ACTIVATION_EVENT_KIND_UNASSIGNED: _ClassVar[ActivationEventKind]
    ACTIVATION_EVENT_KIND_ASSIGNED: _ClassVar[ActivationEventKind]
    ACTIVATION_EVENT_KIND_ACKNOWLEDGED: _ClassVar[ActivationEventKind]
    ACTIVATION_EVENT_KIND_ESCALATED: _ClassVar[ActivationEventKind]
    ACTIVATION_EVENT_KIND_ESCALATION_EXHAUSTED: _ClassVar[ActivationEventKind]
    ACTIVATION_EVENT_KIND_DECISION_RECORDED: _ClassVar[ActivationEventKind]
    ACTIVATION_EVENT_KIND_CLOSE_REQUESTED: _ClassVar[ActivationEventKind]
    ACTIVATION_EVENT_KIND_SIGNED_OFF: _ClassVar[ActivationEventKind]
    ACTIVATION_EVENT_KIND_PLATE_PATCH_VIEWED: _ClassVar[ActivationEventKind]
DIRECTION_UNSPECIFIED: Direction
DIRECTION_TOWARDS: Direction
DIRECTION_AWAY: Direction
WARNING_MARKER_UNSPECIFIED: WarningMarker
WARNING_MARKER_FIREARMS: WarningMarker
WARNING_MARKER_WEAPONS: WarningMarker
WARNING_MARKER_VIOLENT: WarningMarker
WARNING_MARKER_DRUGS: WarningMarker
WARNING_MARKER_ESCAPER: WarningMarker
WARNING_MARKER_IMPERSONATES: WarningMarker
WARNING_MARKER_NO_INSURANCE: WarningMarker
WARNING_MARKER_MENTAL_HEALTH: WarningMarker
WARNING_MARKER_SUICIDAL: WarningMarker
WARNING_MARKER_EXPLOSIVES: WarningMarker
WARNING_MARKER_CONTAGIOUS: WarningMarker
WARNING_MARKER_OTHER: WarningMarker
ACTION_UNSPECIFIED: Action
ACTION_STOP_VEHICLE: Action
ACTION_STOP_AND_SEARCH: Action
ACTION_ARREST_OCCUPANT: Action
ACTION_DO_NOT_STOP_REPORT_SIGHTING: Action
ACTION_OBSERVE_AND_FOLLOW: Action
ACTION_INFORM_CONTROL_ROOM: Action
PROTECTIVE_MARKING_UNSPECIFIED: ProtectiveMarking
PROTECTIVE_MARKING_OFFICIAL: ProtectiveMarking
PROTECTIVE_MARKING_OFFICIAL_SENSITIVE: ProtectiveMarking
PROTECTIVE_MARKING_SECRET: ProtectiveMarking
HOTLIST_SOURCE_UNSPECIFIED: HotlistSource
HOTLIST_SOURCE_PNC_NATIONAL: HotlistSource
HOTLIST_SOURCE_LOCAL_FORCE: HotlistSource
HOTLIST_SOURCE_OTHER_AGENCY: HotlistSource
MATCH_POLICY_UNSPECIFIED: MatchPolicy
MATCH_POLICY_EXACT: MatchPolicy
MATCH_POLICY_LOOKALIKE: MatchPolicy
MATCH_KIND_UNSPECIFIED: MatchKind
MATCH_KIND_EXACT: MatchKind
MATCH_KIND_LOOKALIKE: MatchKind
MATCH_TIER_UNSPECIFIED: MatchTier
MATCH_TIER_CONFIRMED: MatchTier
MATCH_TIER_POSSIBLE: MatchTier
ALERT_OUTCOME_UNSPECIFIED: AlertOutcome
ALERT_OUTCOME_SEEN: AlertOutcome
ALERT_OUTCOME_ACCEPTED: AlertOutcome
ALERT_OUTCOME_REJECTED: AlertOutcome
ACTIVATION_STATE_UNSPECIFIED: ActivationState
ACTIVATION_STATE_RAISED: ActivationState
ACTIVATION_STATE_ACKNOWLEDGED: ActivationState
ACTIVATION_STATE_DECIDED: ActivationState
ACTIVATION_STATE_ESCALATED: ActivationState
ACTIVATION_STATE_AWAITING_SIGN_OFF: ActivationState
ACTIVATION_STATE_CLOSED: ActivationState
ACTIVATION_STATE_UNASSIGNED: ActivationState
NDM_OUTCOME_UNSPECIFIED: NdmOutcome
NDM_OUTCOME_NO_FURTHER_ACTION: NdmOutcome
NDM_OUTCOME_MONITOR: NdmOutcome
NDM_OUTCOME_UNARMED_INTERCEPT: NdmOutcome
NDM_OUTCOME_ARMED_DEPLOYMENT: NdmOutcome
ACTIVATION_EVENT_KIND_UNSPECIFIED: ActivationEventKind
ACTIVATION_EVENT_KIND_RAISED: ActivationEventKind
ACTIVATION_EVENT_KIND_SIGHTING: ActivationEventKind
ACTIVATION_EVENT_KIND_UNASSIGNED: ActivationEventKind
ACTIVATION_EVENT_KIND_ASSIGNED: ActivationEventKind
ACTIVATION_EVENT_KIND_ACKNOWLEDGED: ActivationEventKind
ACTIVATION_EVENT_KIND_ESCALATED: ActivationEventKind
ACTIVATION_EVENT_KIND_ESCALATION_EXHAUSTED: ActivationEventKind
ACTIVATION_EVENT_KIND_DECISION_RECORDED: ActivationEventKind
ACTIVATION_EVENT_KIND_CLOSE_REQUESTED: ActivationEventKind
ACTIVATION_EVENT_KIND_SIGNED_OFF: ActivationEventKind
ACTIVATION_EVENT_KIND_PLATE_PATCH_VIEWED: ActivationEventKind

class GeoPoint(_message.Message):
    __slots__ = ("latitude", "longitude")
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    latitude: float
    longitude: float
    def __init__(self, latitude: _Optional[float] = ..., longitude: _Optional[float] = ...) -> None: ...

class VehicleDescription(_message.Message):
    __slots__ = ("make", "model", "colour")
    MAKE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    COLOUR_FIELD_NUMBER: _ClassVar[int]
    make: str
    model: str
    colour: str
    def __init__(self, make: _Optional[str] = ..., model: _Optional[str] = ..., colour: _Optional[str] = ...) -> None: ...

class AlternativeReading(_message.Message):
    __slots__ = ("vrm", "confidence")
    VRM_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    vrm: str
    confidence: float
    def __init__(self, vrm: _Optional[str] = ..., confidence: _Optional[float] = ...) -> None: ...

class Read(_message.Message):
    __slots__ = ("read_id", "vrm", "confidence", "camera_id", "source_id", "captured_at", "location", "direction", "heading_degrees", "lane", "plate_image", "overview_image", "vehicle", "plate_country", "alternatives")
    READ_ID_FIELD_NUMBER: _ClassVar[int]
    VRM_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    HEADING_DEGREES_FIELD_NUMBER: _ClassVar[int]
    LANE_FIELD_NUMBER: _ClassVar[int]
    PLATE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    OVERVIEW_IMAGE_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_FIELD_NUMBER: _ClassVar[int]
    PLATE_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    ALTERNATIVES_FIELD_NUMBER: _ClassVar[int]
    read_id: str
    vrm: str
    confidence: float
    camera_id: str
    source_id: str
    captured_at: _timestamp_pb2.Timestamp
    location: GeoPoint
    direction: Direction
    heading_degrees: float
    lane: int
    plate_image: bytes
    overview_image: bytes
    vehicle: VehicleDescription
    plate_country: str
    alternatives: _containers.RepeatedCompositeFieldContainer[AlternativeReading]
    def __init__(self, read_id: _Optional[str] = ..., vrm: _Optional[str] = ..., confidence: _Optional[float] = ..., camera_id: _Optional[str] = ..., source_id: _Optional[str] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., location: _Optional[_Union[GeoPoint, _Mapping]] = ..., direction: _Optional[_Union[Direction, str]] = ..., heading_degrees: _Optional[float] = ..., lane: _Optional[int] = ..., plate_image: _Optional[bytes] = ..., overview_image: _Optional[bytes] = ..., vehicle: _Optional[_Union[VehicleDescription, _Mapping]] = ..., plate_country: _Optional[str] = ..., alternatives: _Optional[_Iterable[_Union[AlternativeReading, _Mapping]]] = ...) -> None: ...

class Camera(_message.Message):
    __slots__ = ("camera_id", "name", "location", "direction", "heading_degrees", "force", "enabled")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    HEADING_DEGREES_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    name: str
    location: GeoPoint
    direction: Direction
    heading_degrees: float
    force: str
    enabled: bool
    def __init__(self, camera_id: _Optional[str] = ..., name: _Optional[str] = ..., location: _Optional[_Union[GeoPoint, _Mapping]] = ..., direction: _Optional[_Union[Direction, str]] = ..., heading_degrees: _Optional[float] = ..., force: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class FieldViolation(_message.Message):
    __slots__ = ("field", "description")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    field: str
    description: str
    def __init__(self, field: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class IntelligenceGrading(_message.Message):
    __slots__ = ("source_evaluation", "intelligence_assessment", "handling_code")
    SOURCE_EVALUATION_FIELD_NUMBER: _ClassVar[int]
    INTELLIGENCE_ASSESSMENT_FIELD_NUMBER: _ClassVar[int]
    HANDLING_CODE_FIELD_NUMBER: _ClassVar[int]
    source_evaluation: str
    intelligence_assessment: str
    handling_code: str
    def __init__(self, source_evaluation: _Optional[str] = ..., intelligence_assessment: _Optional[str] = ..., handling_code: _Optional[str] = ...) -> None: ...

class Hotlist(_message.Message):
    __slots__ = ("hotlist_id", "name", "source", "priority", "covert", "match_policy", "entry_count", "version")
    HOTLIST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    COVERT_FIELD_NUMBER: _ClassVar[int]
    MATCH_POLICY_FIELD_NUMBER: _ClassVar[int]
    ENTRY_COUNT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    hotlist_id: str
    name: str
    source: HotlistSource
    priority: int
    covert: bool
    match_policy: MatchPolicy
    entry_count: int
    version: int
    def __init__(self, hotlist_id: _Optional[str] = ..., name: _Optional[str] = ..., source: _Optional[_Union[HotlistSource, str]] = ..., priority: _Optional[int] = ..., covert: _Optional[bool] = ..., match_policy: _Optional[_Union[MatchPolicy, str]] = ..., entry_count: _Optional[int] = ..., version: _Optional[int] = ...) -> None: ...

class VoiEntry(_message.Message):
    __slots__ = ("entry_id", "hotlist_id", "vrm", "vehicle", "action", "warning_markers", "reason", "grading", "information", "force", "area", "weed_at", "pnc_id", "protective_marking", "cad_information", "operational_instructions", "source_reference")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    HOTLIST_ID_FIELD_NUMBER: _ClassVar[int]
    VRM_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    WARNING_MARKERS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    GRADING_FIELD_NUMBER: _ClassVar[int]
    INFORMATION_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    AREA_FIELD_NUMBER: _ClassVar[int]
    WEED_AT_FIELD_NUMBER: _ClassVar[int]
    PNC_ID_FIELD_NUMBER: _ClassVar[int]
    PROTECTIVE_MARKING_FIELD_NUMBER: _ClassVar[int]
    CAD_INFORMATION_FIELD_NUMBER: _ClassVar[int]
    OPERATIONAL_INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    hotlist_id: str
    vrm: str
    vehicle: VehicleDescription
    action: Action
    warning_markers: _containers.RepeatedScalarFieldContainer[WarningMarker]
    reason: str
    grading: IntelligenceGrading
    information: str
    force: str
    area: str
    weed_at: _timestamp_pb2.Timestamp
    pnc_id: str
    protective_marking: ProtectiveMarking
    cad_information: str
    operational_instructions: str
    source_reference: str
    def __init__(self, entry_id: _Optional[str] = ..., hotlist_id: _Optional[str] = ..., vrm: _Optional[str] = ..., vehicle: _Optional[_Union[VehicleDescription, _Mapping]] = ..., action: _Optional[_Union[Action, str]] = ..., warning_markers: _Optional[_Iterable[_Union[WarningMarker, str]]] = ..., reason: _Optional[str] = ..., grading: _Optional[_Union[IntelligenceGrading, _Mapping]] = ..., information: _Optional[str] = ..., force: _Optional[str] = ..., area: _Optional[str] = ..., weed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., pnc_id: _Optional[str] = ..., protective_marking: _Optional[_Union[ProtectiveMarking, str]] = ..., cad_information: _Optional[str] = ..., operational_instructions: _Optional[str] = ..., source_reference: _Optional[str] = ...) -> None: ...

class Hit(_message.Message):
    __slots__ = ("hit_id", "read", "entry", "hotlist", "match_kind", "differing_positions", "vehicle_mismatches", "historical", "matched_at", "repeat_count", "force", "location", "location_from_camera", "score", "tier", "hits_over_cap")
    HIT_ID_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    HOTLIST_FIELD_NUMBER: _ClassVar[int]
    MATCH_KIND_FIELD_NUMBER: _ClassVar[int]
    DIFFERING_POSITIONS_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_MISMATCHES_FIELD_NUMBER: _ClassVar[int]
    HISTORICAL_FIELD_NUMBER: _ClassVar[int]
    MATCHED_AT_FIELD_NUMBER: _ClassVar[int]
    REPEAT_COUNT_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FROM_CAMERA_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    HITS_OVER_CAP_FIELD_NUMBER: _ClassVar[int]
    hit_id: str
    read: Read
    entry: VoiEntry
    hotlist: Hotlist
    match_kind: MatchKind
    differing_positions: _containers.RepeatedScalarFieldContainer[int]
    vehicle_mismatches: _containers.RepeatedScalarFieldContainer[str]
    historical: bool
    matched_at: _timestamp_pb2.Timestamp
    repeat_count: int
    force: str
    location: GeoPoint
    location_from_camera: bool
    score: float
    tier: MatchTier
    hits_over_cap: int
    def __init__(self, hit_id: _Optional[str] = ..., read: _Optional[_Union[Read, _Mapping]] = ..., entry: _Optional[_Union[VoiEntry, _Mapping]] = ..., hotlist: _Optional[_Union[Hotlist, _Mapping]] = ..., match_kind: _Optional[_Union[MatchKind, str]] = ..., differing_positions: _Optional[_Iterable[int]] = ..., vehicle_mismatches: _Optional[_Iterable[str]] = ..., historical: _Optional[bool] = ..., matched_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., repeat_count: _Optional[int] = ..., force: _Optional[str] = ..., location: _Optional[_Union[GeoPoint, _Mapping]] = ..., location_from_camera: _Optional[bool] = ..., score: _Optional[float] = ..., tier: _Optional[_Union[MatchTier, str]] = ..., hits_over_cap: _Optional[int] = ...) -> None: ...

class TracedHit(_message.Message):
    __slots__ = ("hit", "traceparent")
    HIT_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    hit: Hit
    traceparent: str
    def __init__(self, hit: _Optional[_Union[Hit, _Mapping]] = ..., traceparent: _Optional[str] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("alert_id", "sequence", "hit", "created_at", "covert", "firearms_commander_informed")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    HIT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    COVERT_FIELD_NUMBER: _ClassVar[int]
    FIREARMS_COMMANDER_INFORMED_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    sequence: int
    hit: Hit
    created_at: _timestamp_pb2.Timestamp
    covert: bool
    firearms_commander_informed: bool
    def __init__(self, alert_id: _Optional[str] = ..., sequence: _Optional[int] = ..., hit: _Optional[_Union[Hit, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., covert: _Optional[bool] = ..., firearms_commander_informed: _Optional[bool] = ...) -> None: ...

class NdmDecision(_message.Message):
    __slots__ = ("decision_id", "activation_id", "decided_by", "decided_at", "information", "threat_assessment", "powers_and_policy", "options", "action_and_review", "outcome", "rationale", "code_of_ethics")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    INFORMATION_FIELD_NUMBER: _ClassVar[int]
    THREAT_ASSESSMENT_FIELD_NUMBER: _ClassVar[int]
    POWERS_AND_POLICY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    ACTION_AND_REVIEW_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    CODE_OF_ETHICS_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    activation_id: str
    decided_by: str
    decided_at: _timestamp_pb2.Timestamp
    information: str
    threat_assessment: str
    powers_and_policy: str
    options: str
    action_and_review: str
    outcome: NdmOutcome
    rationale: str
    code_of_ethics: str
    def __init__(self, decision_id: _Optional[str] = ..., activation_id: _Optional[str] = ..., decided_by: _Optional[str] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., information: _Optional[str] = ..., threat_assessment: _Optional[str] = ..., powers_and_policy: _Optional[str] = ..., options: _Optional[str] = ..., action_and_review: _Optional[str] = ..., outcome: _Optional[_Union[NdmOutcome, str]] = ..., rationale: _Optional[str] = ..., code_of_ethics: _Optional[str] = ...) -> None: ...

class ActivationEvent(_message.Message):
    __slots__ = ("sequence", "activation_id", "kind", "actor", "at", "from_subject", "to_subject", "level", "due_at", "deadline_missed", "decision", "sighting", "outcome", "summary", "remarks", "previous_hash", "hash")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    FROM_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TO_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_MISSED_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    SIGHTING_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    REMARKS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_HASH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    activation_id: str
    kind: ActivationEventKind
    actor: str
    at: _timestamp_pb2.Timestamp
    from_subject: str
    to_subject: str
    level: int
    due_at: _timestamp_pb2.Timestamp
    deadline_missed: _timestamp_pb2.Timestamp
    decision: NdmDecision
    sighting: Hit
    outcome: NdmOutcome
    summary: str
    remarks: str
    previous_hash: str
    hash: str
    def __init__(self, sequence: _Optional[int] = ..., activation_id: _Optional[str] = ..., kind: _Optional[_Union[ActivationEventKind, str]] = ..., actor: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., from_subject: _Optional[str] = ..., to_subject: _Optional[str] = ..., level: _Optional[int] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline_missed: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decision: _Optional[_Union[NdmDecision, _Mapping]] = ..., sighting: _Optional[_Union[Hit, _Mapping]] = ..., outcome: _Optional[_Union[NdmOutcome, str]] = ..., summary: _Optional[str] = ..., remarks: _Optional[str] = ..., previous_hash: _Optional[str] = ..., hash: _Optional[str] = ...) -> None: ...

class Activation(_message.Message):
    __slots__ = ("activation_id", "sequence", "hit", "state", "raised_at", "acknowledged_by", "acknowledged_at", "decisions", "sightings", "force", "area", "chain", "assigned_to", "escalation_level", "acknowledge_by", "decision_count", "sighting_count", "outcome", "close_summary", "close_requested_by", "signed_off_by", "signed_off_at")
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    HIT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RAISED_AT_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_AT_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    SIGHTINGS_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    AREA_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_TO_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_LEVEL_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGE_BY_FIELD_NUMBER: _ClassVar[int]
    DECISION_COUNT_FIELD_NUMBER: _ClassVar[int]
    SIGHTING_COUNT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    CLOSE_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CLOSE_REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    SIGNED_OFF_BY_FIELD_NUMBER: _ClassVar[int]
    SIGNED_OFF_AT_FIELD_NUMBER: _ClassVar[int]
    activation_id: str
    sequence: int
    hit: Hit
    state: ActivationState
    raised_at: _timestamp_pb2.Timestamp
    acknowledged_by: str
    acknowledged_at: _timestamp_pb2.Timestamp
    decisions: _containers.RepeatedCompositeFieldContainer[NdmDecision]
    sightings: _containers.RepeatedCompositeFieldContainer[Hit]
    force: str
    area: str
    chain: _containers.RepeatedScalarFieldContainer[str]
    assigned_to: str
    escalation_level: int
    acknowledge_by: _timestamp_pb2.Timestamp
    decision_count: int
    sighting_count: int
    outcome: NdmOutcome
    close_summary: str
    close_requested_by: str
    signed_off_by: str
    signed_off_at: _timestamp_pb2.Timestamp
    def __init__(self, activation_id: _Optional[str] = ..., sequence: _Optional[int] = ..., hit: _Optional[_Union[Hit, _Mapping]] = ..., state: _Optional[_Union[ActivationState, str]] = ..., raised_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., acknowledged_by: _Optional[str] = ..., acknowledged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decisions: _Optional[_Iterable[_Union[NdmDecision, _Mapping]]] = ..., sightings: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ..., force: _Optional[str] = ..., area: _Optional[str] = ..., chain: _Optional[_Iterable[str]] = ..., assigned_to: _Optional[str] = ..., escalation_level: _Optional[int] = ..., acknowledge_by: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decision_count: _Optional[int] = ..., sighting_count: _Optional[int] = ..., outcome: _Optional[_Union[NdmOutcome, str]] = ..., close_summary: _Optional[str] = ..., close_requested_by: _Optional[str] = ..., signed_off_by: _Optional[str] = ..., signed_off_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Commander(_message.Message):
    __slots__ = ("subject", "name", "force", "contact", "supervisor")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    SUPERVISOR_FIELD_NUMBER: _ClassVar[int]
    subject: str
    name: str
    force: str
    contact: str
    supervisor: bool
    def __init__(self, subject: _Optional[str] = ..., name: _Optional[str] = ..., force: _Optional[str] = ..., contact: _Optional[str] = ..., supervisor: _Optional[bool] = ...) -> None: ...

class Shift(_message.Message):
    __slots__ = ("shift_id", "force", "area", "starts_at", "ends_at", "primary", "backups", "supervisor")
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    AREA_FIELD_NUMBER: _ClassVar[int]
    STARTS_AT_FIELD_NUMBER: _ClassVar[int]
    ENDS_AT_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_FIELD_NUMBER: _ClassVar[int]
    BACKUPS_FIELD_NUMBER: _ClassVar[int]
    SUPERVISOR_FIELD_NUMBER: _ClassVar[int]
    shift_id: str
    force: str
    area: str
    starts_at: _timestamp_pb2.Timestamp
    ends_at: _timestamp_pb2.Timestamp
    primary: str
    backups: _containers.RepeatedScalarFieldContainer[str]
    supervisor: str
    def __init__(self, shift_id: _Optional[str] = ..., force: _Optional[str] = ..., area: _Optional[str] = ..., starts_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ends_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., primary: _Optional[str] = ..., backups: _Optional[_Iterable[str]] = ..., supervisor: _Optional[str] = ...) -> None: ...

class DutyStatus(_message.Message):
    __slots__ = ("force", "area", "chain", "shift_id", "ends_at", "unassigned_activations")
    FORCE_FIELD_NUMBER: _ClassVar[int]
    AREA_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    SHIFT_ID_FIELD_NUMBER: _ClassVar[int]
    ENDS_AT_FIELD_NUMBER: _ClassVar[int]
    UNASSIGNED_ACTIVATIONS_FIELD_NUMBER: _ClassVar[int]
    force: str
    area: str
    chain: _containers.RepeatedScalarFieldContainer[str]
    shift_id: str
    ends_at: _timestamp_pb2.Timestamp
    unassigned_activations: int
    def __init__(self, force: _Optional[str] = ..., area: _Optional[str] = ..., chain: _Optional[_Iterable[str]] = ..., shift_id: _Optional[str] = ..., ends_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unassigned_activations: _Optional[int] = ...) -> None: ...
