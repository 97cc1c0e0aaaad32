-- Alerts appended in one statement (services/notify/store.py, append_alerts): under the append lock,
-- the hits not alerted before get consecutive sequences from the counter, are stored with their
-- forces (camera's and listing's, migration 0004_scope), their lists' covert flags are kept at the
-- newest version (hotlist_flags, as store.save_flags does) and the channels are notified, in one
-- round trip instead of about eight.
--
-- Arrays of one element per hit, in order. Returns one row per hit given, in that order: its alert's
-- id, sequence and creation time, and whether it was alerted before this call (a hit given twice in
-- one call is alerted once, both rows new). alert_ids: the ids to give new alerts.
--
-- SECURITY INVOKER (the default): it runs with the caller's privileges on alerts (SELECT, INSERT),
-- alert_sequence (UPDATE) and hotlist_flags (SELECT, INSERT, UPDATE).
CREATE FUNCTION append_alerts(
    hit_ids text[], alert_ids uuid[], coverts boolean[], hits bytea[], traceparents text[],
    hotlist_ids text[], hotlist_names text[], hotlist_versions bigint[], camera_forces text[],
    listing_forces text[]
) RETURNS TABLE (o_alert_id uuid, o_sequence bigint, o_created_at timestamptz, o_duplicate boolean)
LANGUAGE plpgsql AS $$
DECLARE
    known text[];
    n int;
    top bigint;
    moved int;
BEGIN
    PERFORM pg_advisory_xact_lock(1634627698);  -- 0x616E7072: sequences commit in order
    SELECT coalesce(array_agg(a.hit_id), '{}') INTO known FROM alerts a WHERE a.hit_id = ANY (hit_ids);
    SELECT count(DISTINCT g.h) INTO n FROM unnest(hit_ids) g(h) WHERE NOT g.h = ANY (known);
    IF n > 0 THEN
        UPDATE alert_sequence SET last = last + n RETURNING last INTO top;
        WITH f AS (
            SELECT DISTINCT ON (g.hit_id) g.*
            FROM unnest(
                hit_ids, alert_ids, coverts, hits, traceparents, hotlist_ids, hotlist_names, hotlist_versions,
                camera_forces, listing_forces
            ) WITH ORDINALITY AS g(hit_id, alert_id, covert, hit, tp, hl_id, hl_name, hl_version, c_force, l_force, ord)
            WHERE NOT g.hit_id = ANY (known)
            ORDER BY g.hit_id, g.ord
        ), stored AS (
            INSERT INTO alerts (
                sequence, alert_id, hit_id, covert, hit, created_at, traceparent, hotlist_id, hotlist_name,
                camera_force, listing_force
            )
            SELECT top - n + row_number() OVER (ORDER BY f.ord), f.alert_id, f.hit_id, f.covert, f.hit, now(),
                   f.tp, f.hl_id, f.hl_name, f.c_force, f.l_force
            FROM f
        )
        INSERT INTO hotlist_flags AS fl (hotlist_id, covert, version)
        SELECT DISTINCT ON (f.hl_id) f.hl_id, f.covert, f.hl_version FROM f WHERE f.hl_id <> ''
        ORDER BY f.hl_id, f.hl_version DESC, f.ord
        ON CONFLICT (hotlist_id) DO UPDATE SET covert = EXCLUDED.covert, version = EXCLUDED.version
        WHERE fl.version < EXCLUDED.version;
        GET DIAGNOSTICS moved = ROW_COUNT;
        IF moved > 0 THEN
            PERFORM pg_notify('notify_hotlists', '');  -- HOTLISTS_CHANNEL: a list's covert flag moved on
        END IF;
        PERFORM pg_notify('notify_alerts', top::text);  -- services/notify/store.py ALERTS_CHANNEL
    END IF;
    RETURN QUERY
    SELECT a.alert_id, a.sequence, a.created_at, g.hit_id = ANY (known)
    FROM unnest(hit_ids) WITH ORDINALITY AS g(hit_id, ord) JOIN alerts a ON a.hit_id = g.hit_id
    ORDER BY g.ord;
END $$;
