-- The last revision the outbox was given for each aggregate that carries one (exercises):
-- monolith_kit.outbox claims a revision here, in the transaction that writes the event, so
-- an exercise's revision only grows across edits, deletes and re-creates, and the events of
-- one exercise commit (and reach the compacted topic) in the order of their revisions. A
-- stale event (a backfill's old read, a revision that repeats) never follows a newer one.
-- Never pruned with the outbox: it is the memory of deleted ids. Not published (the
-- publication names the outbox table only).
CREATE TABLE IF NOT EXISTS outbox_revisions (
    aggregatetype varchar(64)  NOT NULL,
    aggregateid   varchar(255) NOT NULL,
    revision      bigint       NOT NULL,
    PRIMARY KEY (aggregatetype, aggregateid)
);
