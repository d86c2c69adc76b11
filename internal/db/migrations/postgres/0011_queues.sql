-- Queue state that every runner on the database reads, as on SQLite: a
-- paused queue's tasks are left alone by claims. Limits come from each
-- runner's config; a claim of a limited queue takes an advisory
-- transaction lock keyed by the queue before it counts the running tasks.
CREATE TABLE queues (
    name       text        PRIMARY KEY,
    paused     boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL
);

-- Every claim and idle poll reads the paused queues. opsctl's sessions
-- make sequential scans a last resort (enable_seqscan off), and without an
-- index this read made the planner price every claim as a scan: 300 ms a
-- claim. The partial index holds only paused queues: usually none.
CREATE INDEX queues_paused ON queues (name) WHERE paused;
