-- The append-only event log of each task: status changes, command output,
-- agent model turns, tool calls and results, warnings. Deleting a task
-- (prune) deletes its events.
CREATE TABLE task_events (
    id      INTEGER PRIMARY KEY,
    task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    at      INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    data    TEXT    NOT NULL DEFAULT '{}'
);

CREATE INDEX task_events_task ON task_events (task_id, id);
