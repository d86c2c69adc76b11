-- Pending tasks by when they become due (replaced by tasks_scheduled in
-- migration 4, as on SQLite).
CREATE INDEX tasks_due ON tasks (run_after) WHERE status = 'pending';
