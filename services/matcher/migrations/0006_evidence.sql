-- Issue 18: POSSIBLE hits withheld for want of support (counted per list and camera, not alerted),
-- and what officers' and operators' outcomes taught about each camera and list (calibration).

-- A POSSIBLE through a rarer confusion or a dropped or extra character on a well-formed read, with
-- nothing beyond the VRM to support it: kept here (one row per read and entry), never alerted.
-- Counted within the caller's scope (GetMatchStats): the camera's force and the listing's, as for
-- alerts; a covert list's only with clearance (by the list's current flag).
CREATE TABLE withheld (
    hit_id        text PRIMARY KEY,
    read_id       text NOT NULL,
    entry_id      text NOT NULL,
    hotlist_id    text NOT NULL,
    camera_id     text NOT NULL,
    camera_force  text NOT NULL DEFAULT '',
    listing_force text NOT NULL DEFAULT '',
    reason     text NOT NULL,
    log_odds   real NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX withheld_created ON withheld (created_at);

-- Outcomes per camera or list (scope) and what they are about (key: "confusion:T7", "dropped",
-- "colour", ...): how many alerts were accepted and rejected as misread or wrong vehicle, and the
-- sum of what the model predicted for them before calibration.
CREATE TABLE calibration (
    scope      text NOT NULL CHECK (scope IN ('camera', 'list')),
    scope_id   text NOT NULL,
    key        text NOT NULL,
    accepted   integer NOT NULL DEFAULT 0,
    rejected   integer NOT NULL DEFAULT 0,
    predicted  double precision NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, scope_id, key)
);

-- The outcome counted for each alert (an alert decided again replaces its earlier outcome).
CREATE TABLE calibration_outcomes (
    alert_id   text PRIMARY KEY,
    truth      boolean NOT NULL,
    camera_id  text NOT NULL,
    hotlist_id text NOT NULL,
    keys       text[] NOT NULL,
    predicted  double precision NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);

-- The force of each camera outcomes were counted for (the reading camera's, as its hits said): a
-- camera's calibration is its force's to see and reset (national: every camera's).
CREATE TABLE calibration_cameras (
    camera_id text PRIMARY KEY,
    force     text NOT NULL
);

-- Bumped with every change of calibration, so that every replica reloads it.
CREATE TABLE calibration_state (
    id      integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO calibration_state VALUES (1, 0);

-- What the service's login may do with these (owner and writers apart: docs/decision-log.md).
-- withheld is evidence kept as it was decided: INSERT and SELECT alone, and the guard.
GRANT SELECT, INSERT ON withheld TO anpr_matcher;
CREATE TRIGGER withheld_append_only BEFORE UPDATE OR DELETE ON withheld
    FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER withheld_no_truncate BEFORE TRUNCATE ON withheld
    FOR EACH STATEMENT EXECUTE FUNCTION append_only();
-- the tallies: added to, and forgotten by `anpr calibration reset`
GRANT SELECT, INSERT, UPDATE, DELETE ON calibration TO anpr_matcher;
-- one row per outcome (a changed outcome replaces its own; read FOR UPDATE)
GRANT SELECT, INSERT, UPDATE ON calibration_outcomes TO anpr_matcher;
GRANT SELECT, INSERT, UPDATE ON calibration_cameras TO anpr_matcher;
GRANT SELECT, UPDATE ON calibration_state TO anpr_matcher;
