-- Recurring schedules (`opsctl schedule`), as on SQLite. A schedule is a
-- task template and a spec: an interval (every_ms, whole seconds, slots on
-- multiples of it since the Unix epoch) or a cron expression read in the
-- IANA zone tz. Runners enqueue each due slot as one task, keyed
-- schedule:NAME:SLOT in tasks.idempotency_key, in the transaction that
-- moves next_run_at on (an UPDATE conditional on its old value, which
-- takes the row lock), so however many runners there are a slot becomes
-- one task. last_task_id is not a foreign key: prune deletes tasks, and
-- removing a schedule leaves its tasks.
CREATE TABLE schedules (
    name             text        PRIMARY KEY,
    every_ms         bigint      NOT NULL DEFAULT 0 CHECK (every_ms >= 0 AND every_ms % 1000 = 0),
    cron             text        NOT NULL DEFAULT '',
    tz               text        NOT NULL DEFAULT '',
    skip_if_running  boolean     NOT NULL DEFAULT false,
    paused           boolean     NOT NULL DEFAULT false,
    -- The task template, as submit would store it.
    task_type        text        NOT NULL,
    task_name        text        NOT NULL DEFAULT '',
    queue            text        NOT NULL DEFAULT 'default',
    priority         integer     NOT NULL DEFAULT 0,
    input            json        NOT NULL DEFAULT '{}',
    max_attempts     integer     NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
    timeout_ms       bigint      NOT NULL DEFAULT 0,
    next_run_at      timestamptz NOT NULL,
    last_run_at      timestamptz,
    last_task_id     bigint,
    skipped          bigint      NOT NULL DEFAULT 0,
    last_skipped_at  timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK ((every_ms > 0) <> (cron <> ''))
);

-- A runner asks for the earliest next run of the active schedules about
-- once a second, and for the due ones when it has come.
CREATE INDEX schedules_next ON schedules (next_run_at) WHERE NOT paused;
