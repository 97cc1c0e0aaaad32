-- Every view of a read and its images, with who and why (docs/scope.md): GetRead by a person
-- (shown or not: another force's read, or none, is answered NOT_FOUND and recorded all the same),
-- and GetReadPlatePatch by a service for the person it names (notify's and firearms' plate
-- patches). Append-only: the service's role may insert and read it, never change or delete it.
CREATE TABLE read_audit (
    id          bigserial PRIMARY KEY,
    read_id     text NOT NULL,
    captured_at timestamptz,
    -- The caller: the person (GetRead) or the service that fetched for `viewer`.
    subject     text NOT NULL,
    role        text NOT NULL,
    viewer      text NOT NULL,
    reason      text NOT NULL,
    shown       boolean NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
REVOKE UPDATE, DELETE, TRUNCATE ON read_audit FROM CURRENT_USER;
