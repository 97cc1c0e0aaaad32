-- Alerts appended in one statement (services/notify/store.py, append_alerts): under the append lock,
-- the hits not alerted before get consecutive sequences from the counter, are stored and notified,
-- in one round trip instead of about eight.
--
-- Arrays of one element per hit, in order. Returns one row per hit given, in that order: its alert's
-- id, sequence and creation time, and whether it was alerted before this call (a hit given twice in
-- one call is alerted once, both rows new). alert_ids: the ids to give new alerts.
CREATE FUNCTION append_alerts(
    hit_ids text[], alert_ids uuid[], coverts boolean[], hits bytea[], traceparents text[],
    hotlist_ids text[], hotlist_names text[]
) RETURNS TABLE (o_alert_id uuid, o_sequence bigint, o_created_at timestamptz, o_duplicate boolean)
LANGUAGE plpgsql AS $$
DECLARE
    known text[];
    n int;
    top bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1634627698);  -- 0x616E7072: sequences commit in order
    SELECT coalesce(array_agg(a.hit_id), '{}') INTO known FROM alerts a WHERE a.hit_id = ANY (hit_ids);
    SELECT count(DISTINCT g.h) INTO n FROM unnest(hit_ids) g(h) WHERE NOT g.h = ANY (known);
    IF n > 0 THEN
        UPDATE alert_sequence SET last = last + n RETURNING last INTO top;
        INSERT INTO alerts (sequence, alert_id, hit_id, covert, hit, created_at, traceparent, hotlist_id, hotlist_name)
        SELECT top - n + row_number() OVER (ORDER BY f.ord), f.alert_id, f.hit_id, f.covert, f.hit, now(), f.tp,
               f.hl_id, f.hl_name
        FROM (
            SELECT DISTINCT ON (g.hit_id) g.*
            FROM unnest(hit_ids, alert_ids, coverts, hits, traceparents, hotlist_ids, hotlist_names)
                 WITH ORDINALITY AS g(hit_id, alert_id, covert, hit, tp, hl_id, hl_name, ord)
            WHERE NOT g.hit_id = ANY (known)
            ORDER BY g.hit_id, g.ord
        ) f;
        PERFORM pg_notify('notify_alerts', top::text);  -- services/notify/store.py ALERTS_CHANNEL
    END IF;
    RETURN QUERY
    SELECT a.alert_id, a.sequence, a.created_at, g.hit_id = ANY (known)
    FROM unnest(hit_ids) WITH ORDINALITY AS g(hit_id, ord) JOIN alerts a ON a.hit_id = g.hit_id
    ORDER BY g.ord;
END $$;
