-- Runners register themselves, as on SQLite: a row per running `opsctl run`,
-- its heartbeat renewed every few seconds, deleted on a graceful exit.
CREATE TABLE runners (
    id           text        PRIMARY KEY,
    host         text        NOT NULL,
    pid          integer     NOT NULL,
    workers      integer     NOT NULL,
    queues       text        NOT NULL DEFAULT '[]',
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL,
    version      text        NOT NULL DEFAULT ''
);
