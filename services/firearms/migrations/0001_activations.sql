-- Activations on firearms-marked vehicles, the NDM decision log, and the event log the TFC
-- console streams (every state change is an event, committed in sequence order).
CREATE TABLE activations (
    activation_id   uuid PRIMARY KEY,
    hit_id          text NOT NULL UNIQUE,
    entry_id        text NOT NULL,
    state           smallint NOT NULL,
    -- The whole anpr.v1.Hit.
    hit             bytea NOT NULL,
    raised_at       timestamptz NOT NULL DEFAULT now(),
    acknowledged_by text,
    acknowledged_at timestamptz
);

CREATE INDEX activations_entry ON activations (entry_id, raised_at);

-- Later sightings of the same vehicle while its activation is open: every one reaches the TFC.
CREATE TABLE activation_sightings (
    hit_id        text PRIMARY KEY,
    activation_id uuid NOT NULL REFERENCES activations (activation_id),
    hit           bytea NOT NULL,
    at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ndm_decisions (
    decision_id       uuid PRIMARY KEY,
    activation_id     uuid NOT NULL REFERENCES activations (activation_id),
    decided_by        text NOT NULL,
    decided_at        timestamptz NOT NULL DEFAULT now(),
    information       text NOT NULL,
    threat_assessment text NOT NULL,
    powers_and_policy text NOT NULL,
    options           text NOT NULL,
    action_and_review text NOT NULL,
    outcome           smallint NOT NULL,
    rationale         text NOT NULL
);

CREATE TABLE activation_events (
    sequence      bigserial PRIMARY KEY,
    activation_id uuid NOT NULL REFERENCES activations (activation_id),
    kind          text NOT NULL,
    subject       text NOT NULL DEFAULT '',
    at            timestamptz NOT NULL DEFAULT now()
);
