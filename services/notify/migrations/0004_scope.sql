-- Who may see which alert is decided from the caller's verified identity (docs/scope.md):
-- - each alert's forces: its camera's (Hit.force) and its listing's (VoiEntry.force), for the
--   statistics of a force (NULL until notify fills them in from the stored hit, at start);
-- - each list's current covert flag at its newest version known (from matcher's PublishHotlists and
--   from every alert's own copy of its list): a list made covert hides its earlier alerts too. The
--   lists of the alerts stored so far start at version 0 (what their newest alert says);
-- - where each terminal identity last said it was (its circle), to act on alerts read there;
-- - who fetched a plate patch, why: append-only.
ALTER TABLE alerts ADD COLUMN camera_force text, ADD COLUMN listing_force text;

CREATE TABLE hotlist_flags (
    hotlist_id text PRIMARY KEY,
    covert     boolean NOT NULL,
    version    bigint NOT NULL
);
INSERT INTO hotlist_flags (hotlist_id, covert, version)
    SELECT DISTINCT ON (hotlist_id) hotlist_id, covert, 0 FROM alerts WHERE hotlist_id <> ''
    ORDER BY hotlist_id, sequence DESC;

CREATE TABLE unit_positions (
    subject   text PRIMARY KEY,
    unit      text NOT NULL,
    force     text NOT NULL,
    latitude  double precision NOT NULL,
    longitude double precision NOT NULL,
    radius_km double precision NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE plate_patch_audit ADD COLUMN reason text NOT NULL DEFAULT '';
REVOKE UPDATE, DELETE, TRUNCATE ON plate_patch_audit FROM CURRENT_USER;
