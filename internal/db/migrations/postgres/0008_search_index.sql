-- Full-text search over finished tasks, PostgreSQL form: the text search
-- of the server itself. task_search_text is the one definition of what a
-- task's searchable text is, as SQLite's task_search_doc view says it: the
-- name; an agent task's prompt and answer; an exec task's command (argv
-- joined by spaces, or the shell line) and the last 500 characters of each
-- of its stdout and stderr; the error of any task, as an array: name,
-- input, output, error
-- (ts_headline reads the text; the index holds task_search_vector of it).
-- Reading a field of JSON that is not an object gives NULL, not an error,
-- so no input or result can make a write fail here.
CREATE FUNCTION task_search_text(kind text, name text, input json, result json, error text)
RETURNS text[] LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    cmd text;
    body text;
    out text;
BEGIN
    IF kind = 'agent' THEN
        body := input ->> 'prompt';
        out := result ->> 'answer';
    ELSIF kind = 'exec' THEN
        IF json_typeof(input -> 'command') = 'array' THEN
            SELECT string_agg(v, ' ') INTO cmd FROM json_array_elements_text(input -> 'command') AS v;
        END IF;
        body := coalesce(cmd, input ->> 'shell');
        out := nullif(concat_ws(E'\n', right(result ->> 'stdout', 500), right(result ->> 'stderr', 500)), '');
    END IF;
    RETURN ARRAY[name, body, out, error];
END $$;

-- The weighted vector of task_search_text's lines: name A, input (prompt,
-- command) B, output C, error B. The 'simple' configuration lowers case and
-- neither stems nor drops stop words, so words are found as typed; the
-- parser keeps hosts (api.example.com), paths (/var/log) and hyphenated
-- words (db-backup, and its parts) as tokens.
CREATE FUNCTION task_search_vector(d text[]) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('pg_catalog.simple', coalesce(d[1], '')), 'A')
        || setweight(to_tsvector('pg_catalog.simple', coalesce(d[2], '')), 'B')
        || setweight(to_tsvector('pg_catalog.simple', coalesce(d[3], '')), 'C')
        || setweight(to_tsvector('pg_catalog.simple', coalesce(d[4], '')), 'B')
$$;

-- A partial expression index of finished tasks, as on SQLite: a task is
-- indexed when it finishes; an update that writes none of the columns in
-- it (claims, heartbeats) leaves it alone and stays a HOT update. Queries
-- name the same expression and condition. Building it indexes the
-- finished tasks already there.
CREATE INDEX tasks_search ON tasks
    USING gin (task_search_vector(task_search_text(type, name, input, result, error)))
    WHERE finished_at IS NOT NULL;
