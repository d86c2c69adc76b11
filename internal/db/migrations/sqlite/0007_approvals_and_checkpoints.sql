-- Agent tasks can wait for a person: status 'waiting' (running -> waiting ->
-- pending or cancelled), one row per requested approval, and a checkpoint of
-- each run's conversation so that it resumes in any process.
--
-- SQLite cannot alter a CHECK constraint, and rebuilding the tasks table
-- would delete every event (task_events references tasks ON DELETE CASCADE,
-- and DROP TABLE deletes the rows first). The constraint only widens and
-- every stored row satisfies the wider one, so its text is edited in place,
-- as SQLite's documentation allows for changes that leave the stored rows
-- valid. RESET reloads this connection's schema; the CREATE TABLE below
-- changes the schema cookie, so every other connection reloads it too.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
    SET sql = replace(sql, '''failed'', ''cancelled'')', '''failed'', ''cancelled'', ''waiting'')')
    WHERE type = 'table' AND name = 'tasks';
PRAGMA writable_schema = RESET;

-- One request per tool call that waited; decision is NULL while open.
-- Arguments are redacted as events are.
CREATE TABLE approvals (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id      INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    call_id      TEXT    NOT NULL,
    tool         TEXT    NOT NULL,
    arguments    TEXT    NOT NULL DEFAULT '{}',
    step         INTEGER NOT NULL,
    requested_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    decision     TEXT    CHECK (decision IN ('approved', 'denied')),
    reason       TEXT    NOT NULL DEFAULT '',
    decided_by   TEXT    NOT NULL DEFAULT '',
    decided_at   INTEGER
);

CREATE INDEX approvals_task ON approvals (task_id, id);
-- What waits, and what has waited too long.
CREATE INDEX approvals_open ON approvals (expires_at) WHERE decision IS NULL;

-- The newest checkpoint of a task's run: opaque to the store, written by
-- the handler after each step while it holds the lease.
CREATE TABLE task_checkpoints (
    task_id    INTEGER PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    attempt    INTEGER NOT NULL,
    data       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

-- A finished task needs no checkpoint (a retry starts over), and a
-- cancelled waiting task's request is closed; triggers do it on every path
-- to those states, in the same transaction. Only agent tasks checkpoint:
-- the type test keeps the trigger's body (a quarter of a no-op task's
-- finish, measured) off every other task.
CREATE TRIGGER tasks_finished_checkpoint AFTER UPDATE OF status ON tasks
    WHEN NEW.type = 'agent' AND NEW.status IN ('completed', 'failed', 'cancelled') AND OLD.status <> NEW.status
BEGIN
    DELETE FROM task_checkpoints WHERE task_id = NEW.id;
END;

CREATE TRIGGER tasks_waiting_cancelled AFTER UPDATE OF status ON tasks
    WHEN OLD.status = 'waiting' AND NEW.status = 'cancelled'
BEGIN
    UPDATE approvals SET decision = 'denied', reason = 'the task was cancelled', decided_at = NEW.updated_at
        WHERE task_id = NEW.id AND decision IS NULL;
END;
