-- The mail worker (S-7, S-8): who holds the dispatch lock, which claim is sending,
-- and where a re-queued notification's fresh retry round starts.

-- The holder of the worker advisory lock writes itself here on acquiring it, so
-- stats and /healthz on any instance can name the leader. A row is only believed
-- while pg_locks shows its backend_pid still holding the lock (a dead leader's
-- row stays behind until the next one overwrites it).
CREATE TABLE notification_worker_leader (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    instance_id text        NOT NULL,
    host        text        NOT NULL,
    pid         integer     NOT NULL,
    backend_pid integer     NOT NULL,
    since       timestamptz NOT NULL DEFAULT now()
);

-- The instance that holds the current lease; a lease_expired attempt names it.
ALTER TABLE email_notification_log ADD COLUMN sending_instance_id text;

-- POST .../retry gives a failed notification a fresh round of the retry schedule
-- without renumbering its attempts: the round counts attempts after this one.
ALTER TABLE email_notification_log ADD COLUMN requeued_at_attempt integer NOT NULL DEFAULT 0;

-- The worker sleeps until the earliest due row; leases are part of "due".
CREATE INDEX email_notification_log_lease_idx
    ON email_notification_log (lease_expires_at) WHERE status = 'sending';
