-- The outbox, partitioned and leased (anpr/runtime/outbox.py): each row belongs to one of the
-- topic's partitions (by the record's key) and may hold many records (`records` of them, the items
-- of a repeated field in `payload`); every live replica leases a share of the partitions.
ALTER TABLE outbox ADD COLUMN partition smallint NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN records integer NOT NULL DEFAULT 1;
DROP INDEX outbox_topic_id;
CREATE INDEX outbox_topic_partition_id ON outbox (topic, partition, id);

CREATE TABLE outbox_leases (
    topic      text NOT NULL,
    partition  smallint NOT NULL,
    owner      text,
    expires_at timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (topic, partition)
);

-- Live replicas (renewed every second), for each replica's fair share of the partitions.
CREATE TABLE outbox_members (
    member  text PRIMARY KEY,
    seen_at timestamptz NOT NULL DEFAULT now()
);
