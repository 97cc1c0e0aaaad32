"""`anpr token issue`: a bearer token from the local issuer of `anpr up` (demos, operators' tests).

The token is signed with the local issuer's key (kept in the data directory's issuer.json) and is
verified by the services of `anpr up` exactly as a production identity provider's would be. It says
who the caller is, in the claims of docs/identity.md:

    anpr token issue --role terminal --force "Demo Police" --unit ALPHA-2
    anpr token issue --role control_room --national --covert --ttl 600
    ANPR_TOKEN=$(anpr token issue --role tfc --subject demo-tfc-insp-1 --force "Demo Police") anpr tfc

A production deployment gets its tokens from its identity provider (Keycloak, Entra ID, ADFS): this
command is for the local issuer only.
"""

from __future__ import annotations

import getpass

from anpr.runtime.auth import Caller, Role
from anpr.runtime.claims import ClaimMap
from anpr.runtime.errors import AnprError
from cli.client import CommandError, data_dir
from cli.suite.issuer import IssuerError, LocalIssuer

ISSUER_FILE = "issuer.json"  # in the data directory of `anpr up`


def issue(args) -> int:
    try:
        issuer = LocalIssuer.load(data_dir(args.data_dir) / ISSUER_FILE)
    except IssuerError as exc:
        raise CommandError(str(exc)) from None
    caller = Caller(
        Role(args.role),
        args.subject or f"{getpass.getuser()}-{args.role}",
        force=args.force or "",
        national=args.national,
        unit=args.unit or "",
        covert=args.covert,
    )
    try:  # what the services would refuse, said now
        ClaimMap().caller(ClaimMap().claims(caller))
    except AnprError as exc:
        raise CommandError(f"the services would refuse this identity: {exc}") from None
    if args.ttl <= 0:
        raise CommandError("--ttl: give a positive number of seconds")
    print(issuer.mint(caller, args.ttl))
    return 0
