-- Reads (the evidential store), their images apart, and the outbox to matcher.
CREATE TABLE reads (
    read_id         text PRIMARY KEY,
    vrm             text NOT NULL,
    vrm_normalised  text NOT NULL,
    confidence      real NOT NULL,
    camera_id       text NOT NULL,
    source_id       text NOT NULL DEFAULT '',
    captured_at     timestamptz NOT NULL,
    latitude        double precision,
    longitude       double precision,
    direction       smallint NOT NULL DEFAULT 0,
    heading_degrees real NOT NULL DEFAULT 0,
    lane            integer NOT NULL DEFAULT 0,
    make            text NOT NULL DEFAULT '',
    model           text NOT NULL DEFAULT '',
    colour          text NOT NULL DEFAULT '',
    plate_country   text NOT NULL DEFAULT '',
    received_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reads_vrm_time ON reads (vrm_normalised, captured_at);

CREATE TABLE read_images (
    read_id        text PRIMARY KEY REFERENCES reads (read_id) ON DELETE CASCADE,
    plate_image    bytea,
    overview_image bytea
);

CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    traceparent text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_topic_id ON outbox (topic, id);
