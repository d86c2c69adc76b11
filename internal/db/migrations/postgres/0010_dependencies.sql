-- Task dependencies (`submit --after`): task_id runs only once every task it
-- depends on has completed. Edges point backwards only (a dependency exists
-- before its dependant is stored), so they never form a cycle.
CREATE TABLE task_deps (
    task_id    bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    depends_on bigint NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, depends_on)
);

-- A task that completes or fails looks up its dependants.
CREATE INDEX task_deps_depends_on ON task_deps (depends_on);

-- A pending task still waiting for a dependency has scheduled NULL
-- (blocked; SQLite says 2): `NOT scheduled` and `scheduled` are both NULL
-- for it, so it is in neither tasks_ready nor tasks_scheduled, and claims
-- and their promotion of due tasks never see it. The transaction that
-- completes its last dependency sets it to false, or true if its run_after
-- is still ahead. Dropping NOT NULL changes no row and rewrites nothing.
ALTER TABLE tasks ALTER COLUMN scheduled DROP NOT NULL;
