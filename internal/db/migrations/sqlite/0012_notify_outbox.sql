-- Notifications (`notify:` rules in the runners' config): an outbox that
-- the transaction changing a task's status fills, and that runners deliver
-- from. Times are Unix milliseconds (UTC), as in the task table.
--
-- notify_rules holds the rules runners have: one row per (status, rule),
-- rule being the rule's key (its name, or a hash of its content), written
-- by each runner with notify rules when it starts and refreshed while it
-- runs. queue and task_type narrow a rule ('' is any); the other filters
-- are applied by the delivering runner. A status no rule listens for costs
-- a finishing task one lookup of this small table's primary key.
CREATE TABLE notify_rules (
    status    TEXT    NOT NULL,
    rule      TEXT    NOT NULL,
    queue     TEXT    NOT NULL DEFAULT '',
    task_type TEXT    NOT NULL DEFAULT '',
    seen_at   INTEGER NOT NULL,
    PRIMARY KEY (status, rule)
) WITHOUT ROWID;

-- One row per notification still to deliver: a task's transition to a
-- status, for one rule. A runner that has the rule claims the row by
-- moving next_try_at past its lease (lease_worker, attempts fence what it
-- then writes); a runner killed mid-delivery leaves the row due again once
-- that time has passed. A delivered or given-up row is deleted in the
-- transaction that writes the task's notified / notify_failed event.
CREATE TABLE notify_outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id      INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    status       TEXT    NOT NULL,
    rule         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_try_at  INTEGER NOT NULL,
    lease_worker TEXT,
    last_error   TEXT    NOT NULL DEFAULT ''
);

-- A runner asks for the due rows of its rules.
CREATE INDEX notify_outbox_due ON notify_outbox (rule, next_try_at);
-- Pruning a task deletes its rows.
CREATE INDEX notify_outbox_task ON notify_outbox (task_id);

-- Every path to a status (finish, cancel, rescue, approvals, dependency
-- cascades) records its notifications in its own transaction.
CREATE TRIGGER tasks_notify AFTER UPDATE OF status ON tasks
    WHEN NEW.status IN ('completed', 'failed', 'cancelled', 'waiting') AND OLD.status <> NEW.status
BEGIN
    INSERT INTO notify_outbox (task_id, status, rule, created_at, next_try_at)
        SELECT NEW.id, NEW.status, r.rule, NEW.updated_at, NEW.updated_at FROM notify_rules r
        WHERE r.status = NEW.status AND (r.queue = '' OR r.queue = NEW.queue)
            AND (r.task_type = '' OR r.task_type = NEW.type);
END;
