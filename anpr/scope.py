"""The force scope of a verified identity (anpr.runtime.auth.Caller), the one rule every service
applies: an identity sees what belongs to its force, a `national` one what belongs to any force.
What "belongs to a force" is each service's: an alert belongs to its camera's force and to its
listing's, a read to its camera's, an activation to the force whose rota owns it (docs/scope.md).
"""

from __future__ import annotations

from anpr.runtime.auth import Caller
from anpr.runtime.errors import PermissionDenied


def in_scope(caller: Caller, *forces: str) -> bool:
    """Whether something of `forces` (one or more; empty names no force) is in `caller`'s scope."""
    return caller.national or (bool(caller.force) and caller.force in forces)


def check_scoped(caller: Caller) -> None:
    """PermissionDenied for an identity whose token names no force and no national scope (it
    could see nothing: a misconfigured identity, told so rather than shown an empty world)."""
    if not (caller.national or caller.force):
        raise PermissionDenied("this identity's token names no force and no national scope")
