-- Hits recorded in one statement (services/matcher/hits.py, HitMaker.record): a batch's hits are
-- locked by entry partition, stored unless made before, counted in their dedup windows, and queued
-- for notify and firearms, in one round trip instead of about ten.

-- Protocol buffers' wire format, for outbox payloads built in the database (anpr/runtime/outbox.py:
-- a payload is a run of items of a repeated message field 1).
CREATE FUNCTION pb_varint(n bigint) RETURNS bytea LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    out bytea := ''::bytea;
BEGIN
    LOOP
        IF n < 128 THEN
            RETURN out || set_byte('\x00'::bytea, 0, n::int);
        END IF;
        out := out || set_byte('\x00'::bytea, 0, ((n & 127) | 128)::int);
        n := n >> 7;
    END LOOP;
END $$;

-- A length-delimited field (a message, string or bytes).
CREATE FUNCTION pb_field(field int, data bytea) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT pb_varint((field::bigint << 3) | 2) || pb_varint(length(data)) || data
$$;

-- Record a batch of hits, in order (arrays of one element per hit). Returns one row per hit stored
-- now (kind 'hit': its id and its count in the dedup window, 0 = it opens one and is alerted) and one
-- per outbox row queued (kind 'queued': topic, id, partition, payload, records, and the ids of at
-- most 17 older rows of its partition this statement saw, for the relay's hand-over).
--
-- hit_data: the hit serialised without its repeat count (anpr.v1.Hit; field 10, repeat_count, is appended
-- when not 0), made into an anpr.v1.TracedHit with its traceparent; notify gets the hits that open a
-- window, firearms every hit whose entry is firearms-marked. dedup: the window (0: no windows kept,
-- every hit alerted). local_notify / local_firearms: partitions the calling replica leases, whose rows
-- it hands to its own relay: no NOTIFY for them.
CREATE FUNCTION record_hits(
    hit_ids text[], read_ids text[], entry_ids text[], historicals boolean[], parts int[],
    vrms text[], cells text[], ats timestamptz[], dedup interval,
    firearms boolean[], hit_data bytea[], traceparents text[],
    local_notify int[], local_firearms int[]
) RETURNS TABLE (o_kind text, o_hit_id text, o_repeats int, o_topic text, o_id bigint, o_part int,
                 o_payload bytea, o_records int, o_older bigint[])
LANGUAGE plpgsql AS $$
DECLARE
    fresh text[];
    counts int[] := '{}';
    items bytea[] := '{}';
    n int;
    started timestamptz;
    hit bytea;
BEGIN
    -- one transaction at a time per partition of entries, taken in order (no deadlock): an entry's
    -- hits commit, and are delivered, in the order they were made
    PERFORM pg_advisory_xact_lock(1751741555, p) FROM (SELECT DISTINCT p FROM unnest(parts) p ORDER BY p) s;
    WITH ins AS (
        INSERT INTO hits (hit_id, read_id, entry_id, historical)
        SELECT * FROM unnest(hit_ids, read_ids, entry_ids, historicals)
        ON CONFLICT (hit_id) DO NOTHING RETURNING hits.hit_id
    )
    SELECT coalesce(array_agg(ins.hit_id), '{}') INTO fresh FROM ins;
    IF cardinality(fresh) = 0 THEN
        RETURN;
    END IF;
    FOR i IN 1 .. cardinality(hit_ids) LOOP
        IF NOT hit_ids[i] = ANY (fresh) THEN
            counts := counts || NULL::int;
            items := items || NULL::bytea;
            CONTINUE;
        END IF;
        n := 0;
        IF dedup > interval '0' THEN  -- a window starts at its first sighting and lasts `dedup` either side
            SELECT w.window_start, w.repeats INTO started, n FROM alert_windows w
             WHERE (w.entry_id, w.vrm, w.cell) = (entry_ids[i], vrms[i], cells[i]);
            IF started IS NULL OR started <= ats[i] - dedup OR started > ats[i] + dedup THEN
                started := ats[i];
                n := 0;
            ELSE
                n := n + 1;
            END IF;
            INSERT INTO alert_windows AS w (entry_id, vrm, cell, window_start, repeats)
            VALUES (entry_ids[i], vrms[i], cells[i], started, n)
            ON CONFLICT (entry_id, vrm, cell) DO UPDATE SET window_start = EXCLUDED.window_start,
                repeats = EXCLUDED.repeats;
        END IF;
        hit := hit_data[i] || CASE WHEN n > 0 THEN '\x50'::bytea || pb_varint(n) ELSE ''::bytea END;
        counts := counts || n;
        items := items || pb_field(1, pb_field(1, hit)
            || CASE WHEN traceparents[i] <> '' THEN pb_field(2, convert_to(traceparents[i], 'UTF8')) ELSE ''::bytea END);
        o_kind := 'hit';
        o_hit_id := hit_ids[i];
        o_repeats := n;
        RETURN NEXT;
    END LOOP;
    UPDATE hits SET suppressed = true
     WHERE hits.hit_id = ANY (ARRAY(SELECT x.h FROM unnest(hit_ids, counts) x(h, c) WHERE x.c > 0));
    -- queued in partitions by entry, a partition's items in order, rows of at most about 1 MiB
    RETURN QUERY
    WITH q AS (
        SELECT t.topic, x.p, x.item, x.ord,
               sum(length(x.item)) OVER (PARTITION BY t.topic, x.p ORDER BY x.ord) AS upto
        FROM unnest(items, parts, counts, firearms) WITH ORDINALITY AS x(item, p, c, fa, ord)
        CROSS JOIN LATERAL (VALUES ('notify', x.c = 0), ('firearms', x.fa)) AS t(topic, wanted)
        WHERE x.item IS NOT NULL AND t.wanted
    ), ins AS (
        INSERT INTO outbox (topic, partition, payload, records, traceparent)
        SELECT q.topic, q.p, string_agg(q.item, ''::bytea ORDER BY q.ord), count(*), ''
        FROM q GROUP BY q.topic, q.p, (q.upto - 1) / 1048576 ORDER BY q.topic, q.p, min(q.ord)
        RETURNING outbox.id, outbox.topic, outbox.partition, outbox.payload, outbox.records
    ), told AS (
        SELECT pg_notify(current_schema() || '_outbox',
                         s.topic || ':' || array_to_string(array_agg(DISTINCT s.partition ORDER BY s.partition), ','))
        FROM ins s
        WHERE NOT s.partition = ANY (CASE s.topic WHEN 'notify' THEN local_notify ELSE local_firearms END)
        GROUP BY s.topic
    )
    SELECT 'queued', NULL::text, t.notified::int, i.topic, i.id, i.partition::int, i.payload, i.records,
           ARRAY(SELECT o.id FROM outbox o WHERE o.topic = i.topic AND o.partition = i.partition ORDER BY o.id LIMIT 17)
    FROM ins i CROSS JOIN (SELECT count(*) AS notified FROM told) t;  -- used, so that `told` is evaluated
END $$;
