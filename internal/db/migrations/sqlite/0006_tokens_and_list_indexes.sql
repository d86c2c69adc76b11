-- API tokens of `opsctl serve`. The secret is never stored, only its
-- SHA-256 (32 bytes), which a request's token is looked up by. Times are
-- Unix milliseconds (UTC), as in the task table.
CREATE TABLE tokens (
    name         TEXT    PRIMARY KEY,
    hash         BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    scope        TEXT    NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER
);

-- Stats reads the tasks that finished in a window from this index alone
-- (it holds every column Stats needs), and prune finds those that finished
-- before a time. Only finishing a task (and a retry) writes it.
CREATE INDEX tasks_finished ON tasks (finished_at, status, type, started_at)
    WHERE finished_at IS NOT NULL;

-- A page of the task list (newest first, 50 at a time, by `opsctl list`
-- and the dashboard) filtered by queue, type, or two of status, queue and
-- type, walks one of these from its newest entry and stops after a page;
-- tasks_status (status, id) serves a status alone. Without them such a
-- filter scanned the table newest first until it had a page: the whole
-- table when the matching tasks are old (at a million tasks, 0.5 s for a
-- queue last used long ago, 1.4 s for completed tasks in it). A filter of
-- several values per column is split into one walk per combination (see
-- listBranches in list.go); CountMatching counts from the same indexes.
-- With them every such page or count takes under 2 ms at a million tasks.
-- They cost writes about a third: batch submit 135k -> 84k tasks/s,
-- claim and complete 18.5k -> 12.8k tasks/s (BenchmarkSubmitBatch,
-- BenchmarkClaimComplete/batch=128).
CREATE INDEX tasks_queue ON tasks (queue, id);
CREATE INDEX tasks_type ON tasks (type, id);
CREATE INDEX tasks_status_queue ON tasks (status, queue, id);
CREATE INDEX tasks_status_type ON tasks (status, type, id);
CREATE INDEX tasks_queue_type ON tasks (queue, type, id);
