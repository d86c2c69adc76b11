-- API tokens of `opsctl serve`, as on SQLite. The secret is never stored,
-- only its SHA-256 (32 bytes), which a request's token is looked up by.
CREATE TABLE tokens (
    name         text        PRIMARY KEY,
    hash         bytea       NOT NULL UNIQUE CHECK (length(hash) = 32),
    scope        text        NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz
);

-- Stats reads the tasks that finished in a window, as on SQLite from an
-- index that holds every column it needs (an index-only scan where the
-- visibility map allows). It replaces migration 4's tasks_finished, which
-- prune uses the same way.
DROP INDEX tasks_finished;
CREATE INDEX tasks_finished ON tasks (finished_at) INCLUDE (status, type, started_at)
    WHERE finished_at IS NOT NULL;

-- The task list's indexes, as on SQLite: a page (newest first) filtered by
-- queue, type, or two of status, queue and type walks one of them
-- backwards and stops after a page. None holds a column a heartbeat
-- writes, so heartbeats stay HOT updates.
CREATE INDEX tasks_queue ON tasks (queue, id);
CREATE INDEX tasks_type ON tasks (type, id);
CREATE INDEX tasks_status_queue ON tasks (status, queue, id);
CREATE INDEX tasks_status_type ON tasks (status, type, id);
CREATE INDEX tasks_queue_type ON tasks (queue, type, id);
