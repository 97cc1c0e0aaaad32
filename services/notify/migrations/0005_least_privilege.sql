-- Owner and writer apart (issue 17): these objects belong to the owner that runs the migrations;
-- the service logs in as anpr_notify and holds only what follows. The alert log and the two audit
-- trails (acknowledgements and outcomes; plate-patch views) are append-only: INSERT and SELECT
-- alone, and a trigger refuses changes to the trails even to the owner unless it drops it first.
-- An alert's two forces (camera_force, listing_force: 0004_scope) are filled in once, where NULL:
-- the only UPDATE of alerts granted, and a trigger refuses any other change of an alert. The lists'
-- covert flags and the terminals' last positions are current state (INSERT and UPDATE).
REVOKE ALL ON ALL TABLES IN SCHEMA notify FROM anpr_notify;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA notify FROM anpr_notify;
GRANT SELECT ON schema_migrations TO anpr_notify;
GRANT SELECT, INSERT ON alerts, alert_acknowledgements, plate_patch_audit TO anpr_notify;
GRANT SELECT, UPDATE ON alert_sequence TO anpr_notify;
GRANT UPDATE (camera_force, listing_force) ON alerts TO anpr_notify;
GRANT SELECT, INSERT, UPDATE ON hotlist_flags, unit_positions TO anpr_notify;
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

-- An alert, once stored, changes only by its forces being filled in where they are NULL.
CREATE FUNCTION alert_forces_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (OLD.camera_force IS NOT NULL AND NEW.camera_force IS DISTINCT FROM OLD.camera_force)
       OR (OLD.listing_force IS NOT NULL AND NEW.listing_force IS DISTINCT FROM OLD.listing_force)
       OR (to_jsonb(NEW) - 'camera_force' - 'listing_force') <> (to_jsonb(OLD) - 'camera_force' - 'listing_force') THEN
        RAISE EXCEPTION 'notify.alerts is append-only (an alert''s forces are filled in once): UPDATE refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER alerts_forces_once BEFORE UPDATE ON alerts FOR EACH ROW EXECUTE FUNCTION alert_forces_once();
CREATE TRIGGER alerts_append_only BEFORE DELETE ON alerts FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER alerts_no_truncate BEFORE TRUNCATE ON alerts FOR EACH STATEMENT EXECUTE FUNCTION append_only();
