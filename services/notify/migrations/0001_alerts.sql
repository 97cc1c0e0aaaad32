-- The alert log: one row per hit (hit_id unique: re-delivery stores nothing new), committed in
-- sequence order; and what terminals and staff said about each alert.
CREATE TABLE alerts (
    sequence   bigserial PRIMARY KEY,
    alert_id   uuid NOT NULL UNIQUE,
    hit_id     text NOT NULL UNIQUE,
    covert     boolean NOT NULL,
    -- The whole anpr.v1.Hit.
    hit        bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_acknowledgements (
    id        bigserial PRIMARY KEY,
    alert_id  uuid NOT NULL REFERENCES alerts (alert_id),
    subject   text NOT NULL,
    role      text NOT NULL,
    outcome   smallint NOT NULL,
    reason    text NOT NULL DEFAULT '',
    at        timestamptz NOT NULL DEFAULT now()
);
