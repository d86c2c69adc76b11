-- Task dependencies (`submit --after`): task_id runs only once every task it
-- depends on has completed. Edges point backwards only (a dependency exists
-- before its dependant is stored), so they never form a cycle.
CREATE TABLE task_deps (
    task_id    INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    depends_on INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, depends_on)
) WITHOUT ROWID;

-- A task that completes or fails looks up its dependants.
CREATE INDEX task_deps_depends_on ON task_deps (depends_on);

-- A pending task still waiting for a dependency carries scheduled = 2
-- (blocked): it is in neither tasks_ready (scheduled = 0) nor
-- tasks_scheduled (scheduled = 1), so claims and their promotion of due
-- tasks never see it, and the claim path needs no join. The transaction
-- that completes its last dependency sets it to 0, or 1 if its run_after
-- is still ahead.
