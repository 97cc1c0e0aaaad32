-- Owner and writer apart (issue 17): these objects belong to the owner that runs the migrations;
-- the service logs in as anpr_notify and holds only what follows. The alert log and the two audit
-- trails (acknowledgements and outcomes; plate-patch views) are append-only: INSERT and SELECT
-- alone, and a trigger refuses changes to the trails even to the owner unless it drops it first.
REVOKE ALL ON ALL TABLES IN SCHEMA notify FROM anpr_notify;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA notify FROM anpr_notify;
GRANT SELECT ON schema_migrations TO anpr_notify;
GRANT SELECT, INSERT ON alerts, alert_acknowledgements, plate_patch_audit TO anpr_notify;
GRANT SELECT, UPDATE ON alert_sequence TO anpr_notify;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA notify TO anpr_notify;

CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is an audit trail, append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER alert_acknowledgements_append_only BEFORE UPDATE OR DELETE ON alert_acknowledgements
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER alert_acknowledgements_no_truncate BEFORE TRUNCATE ON alert_acknowledgements
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER plate_patch_audit_append_only BEFORE UPDATE OR DELETE ON plate_patch_audit
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER plate_patch_audit_no_truncate BEFORE TRUNCATE ON plate_patch_audit
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
