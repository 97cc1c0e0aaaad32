-- Alert sequences without holes: a bigserial jumps (by up to 32 after a crash, and on every
-- rolled-back insert), and a terminal could not tell such a hole from a lost alert. Sequences are
-- now taken from this counter inside the appending transaction (under the append lock), so they
-- are consecutive: a gap in what a terminal received always means it missed something.
CREATE TABLE alert_sequence (last bigint NOT NULL);
INSERT INTO alert_sequence SELECT coalesce(max(sequence), 0) FROM alerts;
ALTER TABLE alerts ALTER COLUMN sequence DROP DEFAULT;
-- The trace context of the read that made the alert, to continue its trace on delivery.
ALTER TABLE alerts ADD COLUMN traceparent text NOT NULL DEFAULT '';
