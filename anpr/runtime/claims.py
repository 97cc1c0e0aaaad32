"""A verified token's claims, made into the caller (`anpr.runtime.auth.Caller`).

The suite reads six claims; where each is found in a token is a setting, so that a force maps the
names its identity provider uses (docs/identity.md has Keycloak, Microsoft Entra ID and ADFS):

| Caller field | setting | default claim | value |
| --- | --- | --- | --- |
| subject | ANPR_OIDC_CLAIM_SUBJECT | `sub` | the person or client (the rota names people by it); several paths apart by commas: the first present |
| role | ANPR_OIDC_CLAIM_ROLES | `roles` | a list of role names (or one name; or names apart by spaces) |
| force | ANPR_OIDC_CLAIM_FORCE | `force` | the force or agency the identity belongs to |
| national | ANPR_OIDC_CLAIM_NATIONAL | `national` | true: sees every force |
| unit | ANPR_OIDC_CLAIM_UNIT | `unit` | a terminal's unit (call sign) |
| covert | ANPR_OIDC_CLAIM_COVERT | `covert` | true: cleared for covert lists |

Role names are compared without regard to case, `_` or `-` (`ControlRoom` is `control_room`), after
ANPR_OIDC_ROLE_PREFIX is taken off (`ANPR.`); names that are none of the suite's are ignored. A token
with `tfc` and `tfc_supervisor` is a supervisor's (the wider role). A path is a claim's name, or names joined by dots into nested objects (`realm_access.roles`); the
whole path is tried as one name first, so URI-named claims (ADFS) work as they are.

What is refused, and how: a token without a subject is not an identity (UNAUTHENTICATED); a verified
token whose identity the suite cannot serve is PERMISSION_DENIED: no role of the suite or more than
one, a terminal without a unit, a control room with neither a force nor the national scope, a claim
of the wrong shape or over its length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from anpr.runtime.auth import Caller, Role
from anpr.runtime.errors import PermissionDenied, Unauthenticated

# Longest subject, force and unit accepted (they are written into audit rows and logs' ids).
MAX_SUBJECT_CHARS = 256
MAX_FORCE_CHARS = 128
MAX_UNIT_CHARS = 64
TRUE_WORDS = frozenset({"true", "1", "yes"})
# A role that holds another's rights too: a token with both is the wider one.
IMPLIES = {Role.TFC_SUPERVISOR: Role.TFC}
ROLES = {str(r).replace("_", ""): r for r in Role}  # compared without case, "_" or "-"


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at `path` (a name, or dotted names into nested objects); None when absent."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for name in path.split("."):
        if not isinstance(value, Mapping) or name not in value:
            return None
        value = value[name]
    return value


def _text(value: Any, what: str, limit: int) -> str:
    """A claim that holds one text: a string, or a list of exactly one (multi-valued attributes)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise PermissionDenied(f"the token's {what} claim is not a text of at most {limit} characters")
    return value.strip()


def _flag(value: Any) -> bool:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in TRUE_WORDS


@dataclass(frozen=True)
class ClaimMap:
    """Where the suite finds its claims in a token (settings ANPR_OIDC_CLAIM_*, ANPR_OIDC_ROLE_PREFIX)."""

    subject: str = "sub"
    roles: str = "roles"
    force: str = "force"
    national: str = "national"
    unit: str = "unit"
    covert: str = "covert"
    # Stripped (case-insensitively) from a role value before it is compared: "ANPR." maps "ANPR.Terminal".
    role_prefix: str = ""

    @classmethod
    def of(cls, settings) -> ClaimMap:
        return cls(
            subject=settings.oidc_claim_subject,
            roles=settings.oidc_claim_roles,
            force=settings.oidc_claim_force,
            national=settings.oidc_claim_national,
            unit=settings.oidc_claim_unit,
            covert=settings.oidc_claim_covert,
            role_prefix=settings.oidc_role_prefix,
        )

    def role(self, claims: Mapping[str, Any]) -> Role:
        value = claim_at(claims, self.roles)
        names = value.replace(",", " ").split() if isinstance(value, str) else value
        if not isinstance(names, list):
            names = []
        prefix = self.role_prefix.lower()
        found = set()
        for name in names:
            if isinstance(name, str):
                name = name.strip().lower()
                name = name[len(prefix) :] if prefix and name.startswith(prefix) else name
                name = name.replace("_", "").replace("-", "")
                if name in ROLES:
                    found.add(ROLES[name])
        found -= {IMPLIES[r] for r in found if r in IMPLIES}
        if len(found) != 1:
            raise PermissionDenied(
                "the token carries no role of the suite" if not found else "the token carries more than one role"
            )
        return found.pop()

    def caller(self, claims: Mapping[str, Any]) -> Caller:
        """The caller the verified `claims` name; Unauthenticated or PermissionDenied (above)."""
        subject = next((v for p in self.subject.split(",") if (v := claim_at(claims, p.strip())) is not None), None)
        if not isinstance(subject, str) or not subject.strip():
            raise Unauthenticated("the token names no subject")
        caller = Caller(
            role=self.role(claims),
            subject=_text(subject, "subject", MAX_SUBJECT_CHARS),
            force=_text(claim_at(claims, self.force), "force", MAX_FORCE_CHARS),
            national=_flag(claim_at(claims, self.national)),
            unit=_text(claim_at(claims, self.unit), "unit", MAX_UNIT_CHARS),
            covert=_flag(claim_at(claims, self.covert)),
        )
        if caller.role is Role.TERMINAL and not caller.unit:
            raise PermissionDenied("a terminal's token must name its unit")
        if caller.role is Role.CONTROL_ROOM and not (caller.force or caller.national):
            raise PermissionDenied("a control room's token must name its force or the national scope")
        return caller

    def claims(self, caller: Caller) -> dict[str, Any]:
        """The claims that say `caller` under this map (the local issuer mints with it)."""
        out: dict[str, Any] = {}
        for path, value in (
            (self.subject.split(",")[0].strip(), caller.subject),
            (self.roles, [self.role_prefix + str(caller.role)]),
            (self.force, caller.force or None),
            (self.national, caller.national or None),
            (self.unit, caller.unit or None),
            (self.covert, caller.covert or None),
        ):
            if value is not None:
                _put(out, path, value)
        return out


def _put(claims: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for name in parents:
        claims = claims.setdefault(name, {})
    claims[last] = value
