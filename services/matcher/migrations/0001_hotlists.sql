-- Hotlists and VOI entries. Every change takes a new version from one sequence, under one advisory
-- lock, so versions commit in order and replicas follow changes with "WHERE version > last seen"
-- after a NOTIFY; deletes are tombstones.
CREATE SEQUENCE entry_version;

CREATE TABLE hotlists (
    hotlist_id   text PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    source       smallint NOT NULL,
    priority     integer NOT NULL DEFAULT 0,
    covert       boolean NOT NULL DEFAULT false,
    match_policy smallint NOT NULL,
    version      bigint NOT NULL DEFAULT nextval('entry_version'),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE entries (
    id             bigserial PRIMARY KEY,
    entry_id       text NOT NULL UNIQUE,
    hotlist_id     text NOT NULL REFERENCES hotlists (hotlist_id),
    vrm_normalised text NOT NULL,
    firearms       boolean NOT NULL,
    weed_at        timestamptz,
    -- The whole anpr.v1.VoiEntry.
    data           bytea NOT NULL,
    deleted        boolean NOT NULL DEFAULT false,
    version        bigint NOT NULL DEFAULT nextval('entry_version'),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entries_version ON entries (version);
CREATE INDEX entries_hotlist ON entries (hotlist_id) WHERE NOT deleted;

-- Every read of a full entry, with who and why.
CREATE TABLE entry_audit (
    id        bigserial PRIMARY KEY,
    entry_id  text NOT NULL,
    subject   text NOT NULL,
    role      text NOT NULL,
    reason    text NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);

-- Hits made: a re-delivered read makes no second hit. Suppressed hits (repeats within the dedup
-- window) are counted here but not sent to notify.
CREATE TABLE hits (
    hit_id     text PRIMARY KEY,
    read_id    text NOT NULL,
    entry_id   text NOT NULL,
    suppressed boolean NOT NULL DEFAULT false,
    historical boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Alert deduplication: one row per (entry, plate as read normalised, area cell).
CREATE TABLE alert_windows (
    entry_id     text NOT NULL,
    vrm          text NOT NULL,
    cell         text NOT NULL,
    window_start timestamptz NOT NULL,
    repeats      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (entry_id, vrm, cell)
);

CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    traceparent text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_topic_id ON outbox (topic, id);
