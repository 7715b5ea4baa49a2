-- The transactional outbox read by Debezium's PostgreSQL connector and its outbox EventRouter.
-- Debezium's default column names; the monolith inserts one row per event in the same
-- transaction as the change it describes (monolith_kit.outbox.add_to_outbox).
--   aggregatetype  'exercise' -> the exercises topic, 'workout' -> the workouts topic
--   aggregateid    the record key: the exercise id, or the user id
--   type           the CloudEvent's type (fitness.exercise.upserted, ...)
--   payload        the whole structured-mode CloudEvent, as JSON text. `json`, not `jsonb`:
--                  json keeps the text as written, jsonb would re-serialise it.
-- Run once per database (idempotent). The publication gives Debezium the outbox table only.
CREATE TABLE IF NOT EXISTS outbox (
    id            uuid         PRIMARY KEY,
    aggregatetype varchar(64)  NOT NULL,
    aggregateid   varchar(255) NOT NULL,
    type          varchar(255) NOT NULL,
    payload       json         NOT NULL,
    created_at    timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS outbox_created_at ON outbox (created_at);
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'coach_outbox') THEN
        CREATE PUBLICATION coach_outbox FOR TABLE outbox;
    END IF;
END $$;
