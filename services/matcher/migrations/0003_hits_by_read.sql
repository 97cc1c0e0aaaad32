-- Hits per read: a historical check must not take a read over the cap of hits per read.
CREATE INDEX hits_read ON hits (read_id);
