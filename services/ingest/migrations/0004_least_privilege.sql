-- Owner and writer apart (issue 17): these objects belong to the owner that runs the migrations;
-- the service logs in as anpr_ingest and holds only what follows. Reads and their images are
-- evidence: INSERT and SELECT alone, no UPDATE or DELETE. read_audit (who viewed a read or its
-- images, and why) is an audit trail: INSERT and SELECT alone, and a trigger refuses changes even
-- to the owner unless it drops the trigger first. Day partitions are made and (past
-- retention) dropped through the two functions below, which run as the owner.
REVOKE ALL ON ALL TABLES IN SCHEMA ingest FROM anpr_ingest;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA ingest FROM anpr_ingest;
GRANT SELECT ON schema_migrations TO anpr_ingest;
GRANT SELECT, INSERT ON reads, read_images, read_audit TO anpr_ingest;
GRANT SELECT, INSERT, UPDATE ON cameras TO anpr_ingest;
GRANT SELECT, INSERT, UPDATE, DELETE ON outbox, outbox_leases, outbox_members TO anpr_ingest;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA ingest TO anpr_ingest;

-- The day partition of `parent` (reads or read_images) for `day` (UTC), if it does not exist yet.
CREATE FUNCTION create_day_partition(parent text, day date) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ingest, pg_temp AS $$
BEGIN
    IF parent NOT IN ('reads', 'read_images') THEN
        RAISE EXCEPTION 'not a table partitioned by day: %', parent USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                   parent || '_p' || to_char(day, 'YYYYMMDD'), parent,
                   day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
END $$;

-- Drop the day partition of `parent` for `day` (retention): a whole day, never single reads.
CREATE FUNCTION drop_day_partition(parent text, day date) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = ingest, pg_temp AS $$
DECLARE
    part text := parent || '_p' || to_char(day, 'YYYYMMDD');
BEGIN
    IF parent NOT IN ('reads', 'read_images') THEN
        RAISE EXCEPTION 'not a table partitioned by day: %', parent USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = parent::regclass AND c.relname = part) THEN
        EXECUTE format('DROP TABLE %I', part);
    END IF;
END $$;

REVOKE ALL ON FUNCTION create_day_partition(text, date), drop_day_partition(text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION create_day_partition(text, date), drop_day_partition(text, date) TO anpr_ingest;

CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is an audit trail, append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER read_audit_append_only BEFORE UPDATE OR DELETE ON read_audit
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER read_audit_no_truncate BEFORE TRUNCATE ON read_audit
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
