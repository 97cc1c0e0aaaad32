-- Hit quality per list (GetAlertStats), reason codes on acknowledgements, and the audit of
-- plate-patch fetches.
ALTER TABLE alerts ADD COLUMN hotlist_id text NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN hotlist_name text NOT NULL DEFAULT '';
CREATE INDEX alerts_created ON alerts (created_at);
ALTER TABLE alert_acknowledgements ADD COLUMN reason_code text NOT NULL DEFAULT '';

CREATE TABLE plate_patch_audit (
    id        bigserial PRIMARY KEY,
    alert_id  uuid NOT NULL REFERENCES alerts (alert_id),
    subject   text NOT NULL,
    role      text NOT NULL,
    bytes     integer NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);
