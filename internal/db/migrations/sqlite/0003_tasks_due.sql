-- Pending tasks by when they become due. The idle poll ("is anything ready
-- now?") reads this index from its start and stops at the first row, so
-- tasks scheduled for later (--in, --at, retry backoff) cost it nothing;
-- without it the poll scanned every pending row.
CREATE INDEX tasks_due ON tasks (run_after) WHERE status = 'pending';
