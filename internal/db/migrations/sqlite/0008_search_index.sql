-- Full-text search over finished tasks (`opsctl search`, the agent's
-- search_tasks): the history of what ran, and how it ended.
--
-- task_search_doc is the one definition of what a task's searchable text
-- is: its name; an agent task's prompt and answer; an exec task's command
-- (argv joined by spaces, or the shell line) and the last 500 characters
-- of each of its stdout and stderr (the ends of the tails the result
-- keeps, where a failure says why); and the error of any task. Only
-- finished tasks (completed, failed, cancelled) are in it: a task is
-- indexed once, when it finishes, so submits and claims cost the index
-- nothing, and a task's row is not indexed twice (in FTS5 a rewrite of a
-- document is a delete and an insert, and each such pair flushes the
-- index's pending data to disk: ten times the cost of one insert). Tasks
-- of other types with no name and no error are left out.
--
-- The argv is joined from its JSON text (["a","b c"] is a b c), so a
-- quote or a backslash inside an argument stays escaped as JSON writes it:
-- joining the elements properly (a recursive CTE) cost ten times more per
-- write, and json_each cannot be used here at all (FTS5 reads the view as
-- main.task_search_doc, and SQLite then looks for main.json_each).
CREATE VIEW task_search_doc AS
SELECT id, name, error,
    CASE WHEN type = 'agent' AND json_valid(input) THEN json_extract(input, '$.prompt')
         WHEN type = 'exec' AND json_valid(input) THEN coalesce(
            replace(substr(json_extract(input, '$.command'), 3, length(json_extract(input, '$.command')) - 4), '","', ' '),
            json_extract(input, '$.shell'))
    END AS input,
    CASE WHEN type = 'agent' AND json_valid(result) THEN json_extract(result, '$.answer')
         WHEN type = 'exec' AND json_valid(result) THEN nullif(concat_ws(char(10),
            substr(json_extract(result, '$.stdout'), -500), substr(json_extract(result, '$.stderr'), -500)), '')
    END AS output
FROM tasks
WHERE finished_at IS NOT NULL AND (type IN ('agent', 'exec') OR name <> '' OR error <> '');

-- The index holds no copy of the text (external content: snippets read it
-- from the view). The trigram tokenizer indexes every three characters, so
-- any substring of three or more characters is found as typed,
-- punctuation and all (db-backup, api.example.com, /var/log), case
-- folded. Its rowid is the task id.
CREATE VIRTUAL TABLE task_search USING fts5(
    name, input, output, error,
    content = 'task_search_doc', content_rowid = 'id',
    tokenize = 'trigram'
);

-- Finished tasks wait here to be indexed until the end of the write
-- transaction that finished them, where the store indexes them all with
-- one statement (indexFinished in sqlite_search.go). FTS5 writes its
-- pending data out at the end of every statement that changed it: indexed
-- one by one from a trigger, as a runner's batch stores outcomes one
-- UPDATE at a time, each task made a segment of its own and a finish cost
-- three times as much.
CREATE TABLE task_search_pending (id INTEGER PRIMARY KEY);

-- An external-content index deletes a document by being given its old
-- text, which the view reads before the change. Only a document the index
-- holds is deleted (its row in task_search_docsize, FTS5's own table of
-- document sizes, says so): deleting one it does not hold would corrupt
-- it. A task still waiting in task_search_pending that is deleted or no
-- longer finished drops out of the view, so indexFinished passes it over.
-- Only a change to a finished task, or a task finishing (or retried:
-- finished no more), runs these: claims and heartbeats write none of the
-- columns named. Submits run none: a task is never inserted finished,
-- except by `db copy` into an empty database, which rebuilds the index
-- (indexImported); a trigger on INSERT, even one whose WHEN is false, cost
-- a batch submit a third of its speed.
CREATE TRIGGER task_search_unindex BEFORE UPDATE OF type, name, input, result, error, finished_at ON tasks
WHEN OLD.finished_at IS NOT NULL AND (OLD.finished_at IS NOT NEW.finished_at OR OLD.type IS NOT NEW.type
    OR OLD.name IS NOT NEW.name OR OLD.input IS NOT NEW.input OR OLD.result IS NOT NEW.result
    OR OLD.error IS NOT NEW.error)
BEGIN
    INSERT INTO task_search (task_search, rowid, name, input, output, error)
        SELECT 'delete', id, name, input, output, error FROM task_search_doc
        WHERE id = OLD.id AND EXISTS (SELECT 1 FROM task_search_docsize WHERE id = OLD.id);
END;

-- The WHEN repeats the view's condition, so that a task the view leaves
-- out (bench's no-op tasks) costs a finish nothing.
CREATE TRIGGER task_search_reindex AFTER UPDATE OF type, name, input, result, error, finished_at ON tasks
WHEN NEW.finished_at IS NOT NULL AND (NEW.type IN ('agent', 'exec') OR NEW.name <> '' OR NEW.error <> '')
    AND (OLD.finished_at IS NOT NEW.finished_at OR OLD.type IS NOT NEW.type
    OR OLD.name IS NOT NEW.name OR OLD.input IS NOT NEW.input OR OLD.result IS NOT NEW.result
    OR OLD.error IS NOT NEW.error)
BEGIN
    INSERT OR IGNORE INTO task_search_pending (id) VALUES (NEW.id);
END;

CREATE TRIGGER task_search_delete BEFORE DELETE ON tasks WHEN OLD.finished_at IS NOT NULL BEGIN
    INSERT INTO task_search (task_search, rowid, name, input, output, error)
        SELECT 'delete', id, name, input, output, error FROM task_search_doc
        WHERE id = OLD.id AND EXISTS (SELECT 1 FROM task_search_docsize WHERE id = OLD.id);
END;

-- Index the finished tasks already there.
INSERT INTO task_search (task_search) VALUES ('rebuild');
