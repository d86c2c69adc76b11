-- Runners register themselves: a row per running `opsctl run`, written when
-- it starts, its heartbeat_at renewed every few seconds (with or without
-- tasks), and deleted when it exits gracefully. A row whose heartbeat is
-- older than two minutes belongs to a runner that is gone (killed, its
-- machine down); a runner that starts deletes rows older than a day.
-- `opsctl status` lists them; `opsctl wait` notes when none is alive.
CREATE TABLE runners (
    -- The worker id the runner puts in leases (host:pid:random).
    id           TEXT    PRIMARY KEY,
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    workers      INTEGER NOT NULL,
    -- JSON array of queue names; [] means every queue.
    queues       TEXT    NOT NULL DEFAULT '[]',
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    version      TEXT    NOT NULL DEFAULT ''
);
