-- Claims walk pending tasks in priority order, and used to step over every
-- pending task scheduled for later on each claim (300k future tasks of a
-- higher priority made a claim take 29 ms under the write lock). A pending
-- task whose run_after is still ahead is now marked scheduled, and the claim
-- index holds only pending tasks that are due. A claim first clears the mark
-- of tasks that have become due, reading tasks_scheduled from its start, so
-- tasks far in the future cost a claim nothing.
ALTER TABLE tasks ADD COLUMN scheduled INTEGER NOT NULL DEFAULT 0;

UPDATE tasks SET scheduled = 1
    WHERE status = 'pending' AND run_after > CAST(unixepoch('subsec') * 1000 AS INTEGER);

DROP INDEX tasks_ready;
CREATE INDEX tasks_ready ON tasks (priority DESC, id) WHERE status = 'pending' AND scheduled = 0;

-- Replaces tasks_due: the idle poll and the claim's promotion read it.
DROP INDEX tasks_due;
CREATE INDEX tasks_scheduled ON tasks (run_after) WHERE status = 'pending' AND scheduled = 1;

-- Rescue is two-phase: a rescuer that finds a lease expired first marks it
-- (rescue_after = its now + a grace) and takes the task only on a later pass,
-- if the lease is still expired then. A lease can expire only because its
-- owner waited for the write lock behind a long transaction; the mark is
-- written once the lock is free again, so the owner's renewal, which was
-- waiting too, gets its turn before the task is taken from it.
ALTER TABLE tasks ADD COLUMN rescue_after INTEGER;
