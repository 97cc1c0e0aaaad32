-- The camera registry; reads (the evidential store) partitioned by capture day (UTC) so retention
-- is a partition drop; their images apart; and the outbox to matcher.
--
-- A read is identified by (read_id, captured_at): a resubmission of the same read carries both,
-- and uniqueness is enforced per day partition without a global index.
CREATE TABLE cameras (
    camera_id       text PRIMARY KEY,
    name            text NOT NULL DEFAULT '',
    latitude        double precision,
    longitude       double precision,
    direction       smallint NOT NULL DEFAULT 0,
    heading_degrees real NOT NULL DEFAULT 0,
    force           text NOT NULL DEFAULT '',
    enabled         boolean NOT NULL DEFAULT true,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reads (
    read_id         text NOT NULL,
    captured_at     timestamptz NOT NULL,
    vrm             text NOT NULL,
    vrm_normalised  text NOT NULL,
    confidence      real NOT NULL,
    camera_id       text NOT NULL,
    source_id       text NOT NULL DEFAULT '',
    latitude        double precision,
    longitude       double precision,
    direction       smallint NOT NULL DEFAULT 0,
    heading_degrees real NOT NULL DEFAULT 0,
    lane            integer NOT NULL DEFAULT 0,
    make            text NOT NULL DEFAULT '',
    model           text NOT NULL DEFAULT '',
    colour          text NOT NULL DEFAULT '',
    plate_country   text NOT NULL DEFAULT '',
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (read_id, captured_at)
) PARTITION BY RANGE (captured_at);
CREATE INDEX reads_vrm_time ON reads (vrm_normalised, captured_at);

CREATE TABLE read_images (
    read_id        text NOT NULL,
    captured_at    timestamptz NOT NULL,
    plate_image    bytea,
    overview_image bytea,
    PRIMARY KEY (read_id, captured_at)
) PARTITION BY RANGE (captured_at);

CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    traceparent text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_topic_id ON outbox (topic, id);
