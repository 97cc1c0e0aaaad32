-- A decision log no insider can rewrite unseen (issue 17).
--
-- Owner and writer apart: these objects belong to the owner that runs the migrations; the service
-- logs in as anpr_firearms and holds only what is granted below. It cannot change or drop the log,
-- its triggers or its grants, nor move the head: the head follows the entries appended (a trigger
-- running as the owner), and an append must continue the chain from it.
--
-- Seals: every entry from `sealed_from` on carries a seal, an HMAC of the entry made with a key the
-- database never sees (services/firearms/keys.py); an entry written by anyone without the key does
-- not verify. Checkpoints: signed statements of (sequence, head hash, time), kept here and
-- published outside the database (services/firearms/checkpoints.py).

ALTER TABLE event_log ADD COLUMN seal text;

-- Entries before this sequence were made before seals (NULL seal); every later one has one.
CREATE TABLE event_log_seals (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    sealed_from bigint NOT NULL
);
INSERT INTO event_log_seals SELECT true, last_sequence + 1 FROM event_log_head;

-- After each INSERT statement: the new entries continue the chain from the head (consecutive
-- sequences, each chained to the one before), each carries a seal, and the head moves to the last.
CREATE FUNCTION event_log_extend_head() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = firearms, pg_temp AS $$
DECLARE
    head record;
    bad bigint;
    last record;
BEGIN
    SELECT last_sequence, last_hash INTO head FROM event_log_head FOR UPDATE;
    SELECT n.sequence INTO bad
    FROM (SELECT sequence, previous_hash, seal, row_number() OVER (ORDER BY sequence) AS i,
                 lag(hash) OVER (ORDER BY sequence) AS before
          FROM new_entries) n
    WHERE n.sequence <> head.last_sequence + n.i OR n.previous_hash <> coalesce(n.before, head.last_hash)
       OR n.seal IS NULL
    ORDER BY n.sequence LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'entry % does not continue the firearms event log from its head (or has no seal)', bad
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT sequence, hash INTO last FROM new_entries ORDER BY sequence DESC LIMIT 1;
    IF FOUND THEN
        UPDATE event_log_head SET last_sequence = last.sequence, last_hash = last.hash;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER event_log_chain AFTER INSERT ON event_log REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION event_log_extend_head();

-- The head, locked until the caller's transaction ends (appends serialise on it), and the time.
CREATE FUNCTION lock_event_log_head() RETURNS TABLE (last_sequence bigint, last_hash text, at timestamptz)
LANGUAGE sql SECURITY DEFINER SET search_path = firearms, pg_temp AS $$
    SELECT last_sequence, last_hash, clock_timestamp() FROM event_log_head FOR UPDATE
$$;

-- Signed checkpoints of the head (each replica's checkpointer); also published outside.
CREATE TABLE log_checkpoints (
    id          bigserial PRIMARY KEY,
    sequence    bigint NOT NULL,
    head_hash   text NOT NULL,
    at          timestamptz NOT NULL,
    sealed_from bigint NOT NULL,
    key_id      text NOT NULL,
    replica     text NOT NULL,
    signature   text NOT NULL
);
CREATE INDEX log_checkpoints_sequence ON log_checkpoints (sequence);

-- The rota's changes with their actor (rota_changes, 0003) are an audit trail: append-only.
CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER rota_changes_append_only BEFORE UPDATE OR DELETE ON rota_changes
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER rota_changes_no_truncate BEFORE TRUNCATE ON rota_changes
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER activation_sightings_append_only BEFORE UPDATE OR DELETE ON activation_sightings
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER log_checkpoints_append_only BEFORE UPDATE OR DELETE ON log_checkpoints
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER activation_sightings_no_truncate BEFORE TRUNCATE ON activation_sightings
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER log_checkpoints_no_truncate BEFORE TRUNCATE ON log_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();

-- The service's privileges: INSERT and SELECT on what only grows; UPDATE of the activations'
-- projected state (never of their hit, which the log's digest covers) and of commanders.
REVOKE ALL ON ALL TABLES IN SCHEMA firearms FROM anpr_firearms;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA firearms FROM anpr_firearms;
GRANT SELECT ON schema_migrations, event_log_head, event_log_seals TO anpr_firearms;
GRANT SELECT, INSERT ON event_log, activations, activation_sightings, shifts, rota_changes, log_checkpoints
    TO anpr_firearms;
GRANT UPDATE (state, acknowledged_by, acknowledged_at, chain, level, assigned_to, told, deadline_at, outcome,
              close_summary, close_requested_by, signed_off_by, signed_off_at, decision_count, sighting_count)
    ON activations TO anpr_firearms;
GRANT SELECT, INSERT, UPDATE ON commanders TO anpr_firearms;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA firearms TO anpr_firearms;
REVOKE ALL ON FUNCTION lock_event_log_head(), event_log_extend_head() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lock_event_log_head() TO anpr_firearms;
