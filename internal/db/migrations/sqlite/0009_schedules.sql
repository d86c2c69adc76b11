-- Recurring schedules (`opsctl schedule`). A schedule is a task template
-- and a spec: an interval (every_ms, whole seconds, slots on multiples of
-- it since the Unix epoch) or a cron expression read in the IANA zone tz.
-- Runners enqueue each due slot as one task, keyed
-- schedule:NAME:SLOT in tasks.idempotency_key, in the transaction that
-- moves next_run_at on (conditionally on its old value), so however many
-- runners there are a slot becomes one task. Times are Unix milliseconds
-- (UTC), as in the task table. last_task_id is not a foreign key: prune
-- deletes tasks, and removing a schedule leaves its tasks.
CREATE TABLE schedules (
    name             TEXT    PRIMARY KEY,
    every_ms         INTEGER NOT NULL DEFAULT 0 CHECK (every_ms >= 0 AND every_ms % 1000 = 0),
    cron             TEXT    NOT NULL DEFAULT '',
    tz               TEXT    NOT NULL DEFAULT '',
    skip_if_running  INTEGER NOT NULL DEFAULT 0,
    paused           INTEGER NOT NULL DEFAULT 0,
    -- The task template, as submit would store it.
    task_type        TEXT    NOT NULL,
    task_name        TEXT    NOT NULL DEFAULT '',
    queue            TEXT    NOT NULL DEFAULT 'default',
    priority         INTEGER NOT NULL DEFAULT 0,
    input            TEXT    NOT NULL DEFAULT '{}',
    max_attempts     INTEGER NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
    timeout_ms       INTEGER NOT NULL DEFAULT 0,
    next_run_at      INTEGER NOT NULL,
    last_run_at      INTEGER,
    last_task_id     INTEGER,
    skipped          INTEGER NOT NULL DEFAULT 0,
    last_skipped_at  INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    CHECK ((every_ms > 0) <> (cron <> ''))
);

-- A runner asks for the earliest next run of the active schedules about
-- once a second, and for the due ones when it has come.
CREATE INDEX schedules_next ON schedules (next_run_at) WHERE paused = 0;
