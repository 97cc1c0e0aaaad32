-- Issue 18: the control room's budget of POSSIBLE alerts, and outcomes sent on to matcher.

-- Every POSSIBLE alert notify was given, per force of the reading camera: let through, or held back
-- by the force's budget (then its hit is kept here: never silently dropped, counted in
-- GetAlertStats, within the caller's scope: its force's row, national all; a covert list's only with
-- clearance, by the list's current flag as for alerts). The last hour's rows decide the next one
-- (services/notify/budget.py).
CREATE TABLE possible_alerts (
    hit_id     text PRIMARY KEY,
    force      text NOT NULL,
    hotlist_id text NOT NULL,
    covert     boolean NOT NULL,
    score      real NOT NULL,
    held       boolean NOT NULL,
    hit        bytea,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX possible_alerts_force_created ON possible_alerts (force, created_at);

-- The outbox (anpr/runtime/outbox.py), partitioned and leased: alert outcomes on their way to
-- matcher's RecordOutcomes (calibration).
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    partition   smallint NOT NULL DEFAULT 0,
    payload     bytea NOT NULL,
    records     integer NOT NULL DEFAULT 1,
    traceparent text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_topic_partition_id ON outbox (topic, partition, id);

CREATE TABLE outbox_leases (
    topic      text NOT NULL,
    partition  smallint NOT NULL,
    owner      text,
    expires_at timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (topic, partition)
);

CREATE TABLE outbox_members (
    member  text PRIMARY KEY,
    seen_at timestamptz NOT NULL DEFAULT now()
);

-- What the service's login may do with these (owner and writers apart: docs/decision-log.md).
-- possible_alerts is the budget's record of what it let through and held back: INSERT and SELECT
-- alone, and the guard.
GRANT SELECT, INSERT ON possible_alerts TO anpr_notify;
CREATE TRIGGER possible_alerts_append_only BEFORE UPDATE OR DELETE ON possible_alerts
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER possible_alerts_no_truncate BEFORE TRUNCATE ON possible_alerts
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
-- the outbox of outcomes to matcher, as every service's outbox
GRANT SELECT, INSERT, UPDATE, DELETE ON outbox, outbox_leases, outbox_members TO anpr_notify;
GRANT USAGE ON SEQUENCE outbox_id_seq TO anpr_notify;
