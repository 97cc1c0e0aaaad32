"""National Decision Model: what a recorded decision must contain."""

from __future__ import annotations

from anpr.v1 import types_pb2

# The five stages around the Code of Ethics, and the rationale.
REQUIRED_TEXT = {
    "information": "stage 1: the information and intelligence gathered",
    "threat_assessment": "stage 2: the threat and risk assessment and working strategy",
    "powers_and_policy": "stage 3: the powers and policy considered",
    "options": "stage 4: the options and contingencies identified",
    "action_and_review": "stage 5: the action taken and its review",
    "rationale": "the rationale for the decision",
}


def validate_decision(d: types_pb2.NdmDecision, prefix: str = "decision.") -> list[tuple[str, str]]:
    errors = []
    if not d.activation_id:
        errors.append((prefix + "activation_id", "required"))
    for name, what in REQUIRED_TEXT.items():
        if not getattr(d, name).strip():
            errors.append((prefix + name, f"required: {what}"))
    if d.outcome == types_pb2.NDM_OUTCOME_UNSPECIFIED:
        errors.append((prefix + "outcome", "required"))
    return errors
