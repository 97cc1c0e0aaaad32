-- Owner and writer apart (issue 17): these objects belong to the owner that runs the migrations;
-- the service logs in as anpr_matcher and holds only what follows. entry_audit (who read a full
-- entry, and why) is append-only: INSERT and SELECT alone, and a trigger refuses changes even to
-- the owner unless it drops the trigger first.
REVOKE ALL ON ALL TABLES IN SCHEMA matcher FROM anpr_matcher;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA matcher FROM anpr_matcher;
GRANT SELECT ON schema_migrations TO anpr_matcher;
GRANT SELECT, INSERT ON entry_audit TO anpr_matcher;
GRANT SELECT, INSERT, UPDATE ON hotlists, entries, hits, alert_windows TO anpr_matcher;
GRANT SELECT, INSERT, UPDATE, DELETE ON outbox, outbox_leases, outbox_members TO anpr_matcher;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA matcher TO anpr_matcher;

CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is an audit trail, append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER entry_audit_append_only BEFORE UPDATE OR DELETE ON entry_audit
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER entry_audit_no_truncate BEFORE TRUNCATE ON entry_audit
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
