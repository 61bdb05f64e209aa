-- Fencing for the mail worker (SPEC §7.1): a notification is never mailed twice by two
-- live senders. Each leadership term gets a generation from a sequence (never reused,
-- unlike a backend pid), each claim a fresh lease token. Right before each send the
-- sender renews its lease in one statement that also checks that its term is the
-- recorded one and that the term's lock session still holds the advisory lock; a sender
-- that lost the lock, or whose claim was taken over, sends nothing.
CREATE SEQUENCE notification_worker_leader_generation_seq;
ALTER TABLE notification_worker_leader ADD COLUMN generation bigint NOT NULL DEFAULT 0;
ALTER TABLE email_notification_log ADD COLUMN lease_token uuid;

-- True while the term `p_generation` is the recorded one and its lock session still
-- holds the worker's advisory lock (key split as pg_locks shows it). A terminated or
-- vanished lock session drops out of pg_locks at once, so its term stops here.
CREATE FUNCTION stockline_notification_worker_leader_current(
    p_generation bigint, p_classid bigint, p_objid bigint
) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM notification_worker_leader l
          JOIN pg_locks k ON k.pid = l.backend_pid
         WHERE l.generation = p_generation
           AND k.locktype = 'advisory' AND k.granted
           AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND k.classid = p_classid::oid AND k.objid = p_objid::oid AND k.objsubid = 1)
$$;
