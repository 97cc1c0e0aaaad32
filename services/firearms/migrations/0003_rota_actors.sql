-- The rota knows who may stand at the end of a duty chain (a supervisor, flagged by the
-- tfc_supervisor who registers them) and who changed it: every registration and shift is recorded
-- with its actor in an append-only table.
ALTER TABLE commanders
    ADD COLUMN supervisor boolean NOT NULL DEFAULT false,
    ADD COLUMN updated_by text NOT NULL DEFAULT '';
ALTER TABLE shifts ADD COLUMN created_by text NOT NULL DEFAULT '';
-- Whoever stands as a shift's supervisor today keeps standing.
UPDATE commanders SET supervisor = true WHERE subject IN (SELECT supervisor FROM shifts);

CREATE TABLE rota_changes (
    id     bigserial PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    actor  text NOT NULL,
    -- 'commander' (key: the subject) or 'shift' (key: the shift id).
    kind   text NOT NULL,
    key    text NOT NULL,
    force  text NOT NULL,
    detail jsonb NOT NULL
);
REVOKE UPDATE, DELETE, TRUNCATE ON rota_changes FROM CURRENT_USER;
