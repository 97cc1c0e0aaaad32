-- The duty rota, acknowledgement deadlines and escalation, and the tamper-evident event log.
--
-- The events and decisions of 0001 were neither gap-free nor chained: they are kept, renamed, for
-- audit; the chained log starts empty.
ALTER TABLE activation_events RENAME TO legacy_activation_events;
ALTER TABLE ndm_decisions RENAME TO legacy_ndm_decisions;

-- Who may be on the rota: the subject of their bearer token.
CREATE TABLE commanders (
    subject    text PRIMARY KEY,
    name       text NOT NULL,
    force      text NOT NULL,
    contact    text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Duty shifts: the chain is primary, backups in order, supervisor.
CREATE TABLE shifts (
    shift_id   uuid PRIMARY KEY,
    force      text NOT NULL,
    area       text NOT NULL,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL CHECK (ends_at > starts_at),
    primary_subject text NOT NULL REFERENCES commanders (subject),
    backups    text[] NOT NULL,
    supervisor text NOT NULL REFERENCES commanders (subject),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shifts_cover ON shifts (force, area, ends_at, starts_at);

-- The activation is a projection of its log entries, plus its escalation state. deadline_at is the
-- next time the escalator must act on it (NULL: nothing due); replicas claim due rows with
-- FOR UPDATE SKIP LOCKED.
ALTER TABLE activations
    ADD COLUMN force text NOT NULL DEFAULT '',
    ADD COLUMN area text NOT NULL DEFAULT '',
    ADD COLUMN chain text[] NOT NULL DEFAULT '{}',
    ADD COLUMN level integer NOT NULL DEFAULT 0,
    ADD COLUMN assigned_to text,
    ADD COLUMN told text[] NOT NULL DEFAULT '{}',
    ADD COLUMN deadline_at timestamptz,
    ADD COLUMN outcome smallint NOT NULL DEFAULT 0,
    ADD COLUMN close_summary text NOT NULL DEFAULT '',
    ADD COLUMN close_requested_by text,
    ADD COLUMN signed_off_by text,
    ADD COLUMN signed_off_at timestamptz,
    ADD COLUMN decision_count integer NOT NULL DEFAULT 0,
    ADD COLUMN sighting_count integer NOT NULL DEFAULT 0;
CREATE INDEX activations_due ON activations (deadline_at) WHERE deadline_at IS NOT NULL;

-- The log head: the last sequence allocated and the hash of the last entry. Appenders lock this
-- row (so sequences are gap-free and commit in order); it only ever moves forward.
CREATE TABLE event_log_head (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_sequence bigint NOT NULL,
    last_hash     text NOT NULL
);
INSERT INTO event_log_head VALUES (true, 0, repeat('0', 64));

-- Every acknowledgement, escalation, decision and closure (and raise, sighting, assignment), each
-- entry chained to the one before: hash = sha256(previous_hash || canonical encoding), see
-- services/firearms/eventlog.py. payload is the entry's canonical JSON, stored as hashed.
CREATE TABLE event_log (
    sequence      bigint PRIMARY KEY,
    activation_id uuid NOT NULL REFERENCES activations (activation_id),
    kind          smallint NOT NULL,
    actor         text NOT NULL,
    at            timestamptz NOT NULL,
    -- Subjects whose console stream carries the entry (the supervisor view carries every entry).
    audience      text[] NOT NULL,
    payload       text NOT NULL,
    previous_hash text NOT NULL,
    hash          text NOT NULL
);
CREATE INDEX event_log_activation ON event_log (activation_id, sequence);

-- Append-only: no UPDATE, DELETE or TRUNCATE of the log, and the head never moves back.
CREATE FUNCTION event_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the firearms event log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER event_log_no_update_or_delete BEFORE UPDATE OR DELETE ON event_log
    FOR EACH ROW EXECUTE FUNCTION event_log_append_only();
CREATE TRIGGER event_log_no_truncate BEFORE TRUNCATE ON event_log
    FOR EACH STATEMENT EXECUTE FUNCTION event_log_append_only();

CREATE FUNCTION event_log_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.last_sequence <= OLD.last_sequence THEN
        RAISE EXCEPTION 'the firearms event log head only moves forward: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER event_log_head_forward BEFORE UPDATE OR DELETE ON event_log_head
    FOR EACH ROW EXECUTE FUNCTION event_log_head_forward_only();
CREATE TRIGGER event_log_head_no_truncate BEFORE TRUNCATE ON event_log_head
    FOR EACH STATEMENT EXECUTE FUNCTION event_log_head_forward_only();

-- And the service's own role may not change or remove entries either (migrations run as the role
-- the service works as; with per-service roles the table's owner keeps only INSERT and SELECT).
REVOKE UPDATE, DELETE, TRUNCATE ON event_log FROM CURRENT_USER;
REVOKE DELETE, TRUNCATE ON event_log_head FROM CURRENT_USER;
