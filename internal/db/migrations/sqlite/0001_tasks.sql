-- The version table and the task table. Times are Unix milliseconds (UTC);
-- JSON columns hold text. Every schema change after this one is a new file.
CREATE TABLE schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
);

CREATE TABLE tasks (
    -- AUTOINCREMENT so that an id, once shown to a person, is never reused
    -- after prune deletes the newest tasks.
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    type             TEXT    NOT NULL,
    name             TEXT    NOT NULL DEFAULT '',
    queue            TEXT    NOT NULL DEFAULT 'default',
    priority         INTEGER NOT NULL DEFAULT 0,
    status           TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    input            TEXT    NOT NULL DEFAULT '{}',
    result           TEXT,
    error            TEXT    NOT NULL DEFAULT '',
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
    run_after        INTEGER NOT NULL,
    timeout_ms       INTEGER NOT NULL DEFAULT 0,
    idempotency_key  TEXT,
    lease_worker     TEXT,
    lease_expires_at INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER
);

-- A second submit with the same key finds the first task.
CREATE UNIQUE INDEX tasks_idempotency_key ON tasks (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Claiming walks pending tasks in run order; the index holds pending rows only,
-- so an idle runner's poll touches nothing once the queue is drained.
CREATE INDEX tasks_ready ON tasks (priority DESC, id) WHERE status = 'pending';

-- Rescue looks for running tasks whose lease has expired.
CREATE INDEX tasks_lease ON tasks (lease_expires_at) WHERE status = 'running';

-- `list --status` pages newest first within a status.
CREATE INDEX tasks_status ON tasks (status, id);
