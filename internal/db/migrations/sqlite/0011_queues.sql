-- Queue state that every runner on the database reads: a queue whose row
-- says paused has its tasks left alone by claims (`opsctl queue pause`,
-- `resume`). A queue without a row is not paused. Concurrency limits are
-- not kept here: each runner's claims carry the limits of its own config
-- (`queues:`), and a claim counts the queue's running tasks under the
-- write lock. updated_at is when the row last changed (Unix ms, UTC).
CREATE TABLE queues (
    name       TEXT    PRIMARY KEY,
    paused     INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    updated_at INTEGER NOT NULL
);
