-- As on SQLite: a pending task whose run_after is ahead is marked scheduled
-- and kept out of the claim index; a claim first clears the mark of tasks
-- that have become due. Rescue is two-phase (rescue_after).
ALTER TABLE tasks ADD COLUMN scheduled boolean NOT NULL DEFAULT false;

UPDATE tasks SET scheduled = true WHERE status = 'pending' AND run_after > now();

DROP INDEX tasks_ready;
CREATE INDEX tasks_ready ON tasks (priority DESC, id) WHERE status = 'pending' AND NOT scheduled;

DROP INDEX tasks_due;
CREATE INDEX tasks_scheduled ON tasks (run_after) WHERE status = 'pending' AND scheduled;

ALTER TABLE tasks ADD COLUMN rescue_after timestamptz;

-- Prune walks finished tasks by when they finished.
CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;
