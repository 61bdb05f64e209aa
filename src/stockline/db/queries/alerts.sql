-- name: claim_due_notifications
-- digest picks the queue: immediate notifications, or those waiting for a digest mail.
-- SKIP LOCKED + a lease: two would-be senders never take the same row (S-8). Only as
-- many rows as the sender starts sending now (a row waiting behind others would see its
-- lease run out while its sender lives), and only while the caller's leadership term is
-- the current one and its lock session still holds the lock. A row still 'sending' after
-- its lease belongs to a sender that died: its attempt is logged as lease_expired and the
-- row is sent again with the same Message-ID (S-7).
WITH due AS (
    SELECT id, status AS prior_status, attempt_count AS prior_attempts,
           last_attempt_at AS prior_started, sending_instance_id AS prior_instance
      FROM email_notification_log
     WHERE digest = %(digest)s
       AND ((status IN ('pending', 'retrying') AND next_attempt_at <= now())
            OR (status = 'sending' AND lease_expires_at <= now()))
       AND stockline_notification_worker_leader_current(%(generation)s, %(classid)s,
                                                        %(objid)s)
     ORDER BY COALESCE(next_attempt_at, lease_expires_at), id
     LIMIT %(limit)s
       FOR UPDATE OF email_notification_log SKIP LOCKED
), expired AS (
    INSERT INTO email_notification_attempts
           (notification_id, attempt_no, started_at, outcome, error, instance_id)
    SELECT id, prior_attempts, COALESCE(prior_started, now()), 'lease_expired',
           'the sender stopped before recording an outcome; its lease expired',
           prior_instance
      FROM due
     WHERE prior_status = 'sending' AND prior_attempts > 0
    ON CONFLICT (notification_id, channel, attempt_no) DO NOTHING
)
UPDATE email_notification_log n
   SET status = 'sending',
       attempt_count = n.attempt_count + 1,
       last_attempt_at = now(),
       next_attempt_at = NULL,
       lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
       lease_token = gen_random_uuid(),
       sending_instance_id = %(instance_id)s,
       updated_at = now()
  FROM due
 WHERE n.id = due.id
RETURNING n.id, n.type, n.payload, n.message_id, n.product_id, n.threshold,
          n.attempt_count, n.requeued_at_attempt, n.last_attempt_at, n.created_at,
          due.prior_status, n.lease_token, n.channel_states, n.digest_id;

-- name: update_lease_before_send
-- the fencing check, right before each send, in one statement: the claim is still this
-- sender's (its token), its lease has not run out, and the sender's leadership term is
-- current with its lock session alive. The lease restarts now, when the send starts.
UPDATE email_notification_log n
   SET lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
       updated_at = now()
 WHERE n.id = %(id)s AND n.status = 'sending' AND n.lease_token = %(lease_token)s
   AND n.lease_expires_at > now()
   AND stockline_notification_worker_leader_current(%(generation)s, %(classid)s, %(objid)s)
RETURNING n.id;

-- name: update_release_claim
-- a claim the fencing check refused, handed back untouched: no attempt happened, so the
-- attempt number goes back and nobody later logs a lease_expired for a live sender
UPDATE email_notification_log
   SET status = CASE WHEN %(prior_status)s = 'pending' THEN 'pending' ELSE 'retrying' END,
       attempt_count = attempt_count - 1,
       next_attempt_at = now(),
       lease_expires_at = NULL,
       lease_token = NULL,
       sending_instance_id = NULL,
       updated_at = now()
 WHERE id = %(id)s AND status = 'sending' AND lease_token = %(lease_token)s
RETURNING id;

-- name: select_product_now
-- the message shows the stock at send time too (a retry may go out minutes later); sales
-- per day and days of cover come from stockline.inventory.insight (SPEC §7.3)
SELECT p.id, p.sku, p.name, p.low_stock_threshold, s.current_stock
  FROM products p JOIN inventory_snapshot s ON s.product_id = p.id
 WHERE p.id = ANY(%(product_ids)s::bigint[]);

-- name: select_recent_movements
-- the last 5 ledger rows per product for the mail: who, when, how much
SELECT m.product_id, m.created_at, m.delta, m.source, m.reason,
       COALESCE(a.email, CASE WHEN k.name IS NOT NULL THEN 'kiosk ' || k.name END,
                m.source) AS actor
  FROM unnest(%(product_ids)s::bigint[]) AS want(product_id)
  CROSS JOIN LATERAL (
      SELECT l.* FROM inventory_ledger l
       WHERE l.product_id = want.product_id
       ORDER BY l.id DESC LIMIT 5) m
  LEFT JOIN admins a ON a.id = m.admin_id
  LEFT JOIN transactions t ON t.id = m.transaction_id
  LEFT JOIN kiosks k ON k.id = t.kiosk_id
 ORDER BY m.product_id, m.id DESC;

-- name: update_notification_outcome
-- only the claim that is still current may record: a sender that lost its lease stays silent
UPDATE email_notification_log
   SET status = %(status)s,
       channel_states = %(channel_states)s,
       next_attempt_at = CASE WHEN %(delay_seconds)s::float8 IS NULL THEN NULL
                              ELSE now() + make_interval(secs => %(delay_seconds)s::float8) END,
       error_details = %(error_details)s,
       lease_expires_at = NULL,
       lease_token = NULL,
       sending_instance_id = NULL,
       updated_at = now()
 WHERE id = %(id)s AND status = 'sending' AND attempt_count = %(attempt_no)s
   AND lease_token = %(lease_token)s
RETURNING id;

-- name: insert_attempt
-- one row per channel tried in this attempt (email, or one webhook)
INSERT INTO email_notification_attempts
       (notification_id, attempt_no, channel, started_at, outcome, smtp_code, smtp_reply,
        http_status, error, instance_id)
VALUES (%(notification_id)s, %(attempt_no)s, %(channel)s, %(started_at)s, %(outcome)s,
        %(smtp_code)s, %(smtp_reply)s, %(http_status)s, %(error)s, %(instance_id)s);

-- name: select_next_due_seconds
-- how long the worker may sleep before the earliest retry or lease expiry is due
-- (NULL when nothing is queued: GREATEST(0, NULL) would be 0 and the worker would spin)
SELECT CASE WHEN MIN(due) IS NULL THEN NULL
            ELSE GREATEST(0, EXTRACT(EPOCH FROM MIN(due) - now()))::float8 END AS seconds
  FROM (SELECT MIN(next_attempt_at) AS due FROM email_notification_log
         WHERE status IN ('pending', 'retrying')
        UNION ALL
        SELECT MIN(lease_expires_at) FROM email_notification_log WHERE status = 'sending') d;

-- name: insert_captured_mail
-- S-10: with no SMTP_HOST the message is kept here and shown in the portal
INSERT INTO captured_mail
       (notification_id, message_id, recipients, subject, body_text, body_html)
VALUES (%(notification_id)s, %(message_id)s, %(recipients)s, %(subject)s, %(body_text)s,
        %(body_html)s)
RETURNING id;

-- name: select_queue_depth
SELECT status, count(*)::bigint AS n FROM email_notification_log GROUP BY status;

-- name: select_notifications_page
-- newest first; before_id pages backwards (the ledger page's shape)
SELECT id, type, payload, status, attempt_count, last_attempt_at, next_attempt_at,
       error_details, message_id, product_id, threshold, breach_open, created_at, updated_at,
       digest, digest_id, channel_states
  FROM email_notification_log
 WHERE (%(status)s::text IS NULL OR status = %(status)s::text)
   AND (%(type)s::text IS NULL OR type = %(type)s::text)
   AND (%(before_id)s::bigint IS NULL OR id < %(before_id)s::bigint)
 ORDER BY id DESC
 LIMIT %(limit)s;

-- name: select_notification
SELECT id, type, payload, status, attempt_count, last_attempt_at, next_attempt_at,
       error_details, message_id, product_id, threshold, breach_open, created_at, updated_at,
       digest, digest_id, channel_states
  FROM email_notification_log
 WHERE id = %(id)s;

-- name: select_attempts
SELECT id, attempt_no, channel, started_at, finished_at, outcome, smtp_code, smtp_reply,
       http_status, error, instance_id
  FROM email_notification_attempts
 WHERE notification_id = %(id)s
 ORDER BY attempt_no, id;

-- name: update_requeue_failed
-- a fresh retry round; the status change rings stockline_notifications (0001 trigger).
-- Channels that failed are tried again, delivered ones are not; a digest member leaves
-- its old unit (whose Message-ID names other content) and goes out on its own.
UPDATE email_notification_log
   SET status = 'pending', next_attempt_at = now(), error_details = NULL,
       requeued_at_attempt = attempt_count, updated_at = now(),
       channel_states = COALESCE((SELECT jsonb_object_agg(key, value)
                                    FROM jsonb_each(channel_states) WHERE value = '"sent"'),
                                 '{}'::jsonb),
       digest_id = NULL
 WHERE id = %(id)s AND status = 'failed'
RETURNING id;

-- name: select_notification_stats
SELECT
    (SELECT count(*) FROM email_notification_log)::bigint AS total,
    (SELECT count(*) FROM email_notification_attempts)::bigint AS attempts,
    (SELECT count(*) FROM email_notification_attempts WHERE attempt_no > 1)::bigint AS retries,
    (SELECT EXTRACT(EPOCH FROM now() - MIN(created_at)) FROM email_notification_log
      WHERE status IN ('pending', 'retrying', 'sending'))::float8 AS oldest_pending_age_seconds;

-- name: select_attempts_by_outcome
SELECT outcome, count(*)::bigint AS n FROM email_notification_attempts GROUP BY outcome;

-- name: select_leader
-- believed only while its backend still holds the advisory lock
SELECT l.instance_id, l.host, l.pid, l.since, l.backend_pid,
       EXISTS (SELECT 1 FROM pg_locks k
                WHERE k.locktype = 'advisory' AND k.granted AND k.pid = l.backend_pid
                  AND k.database = (SELECT oid FROM pg_database
                                     WHERE datname = current_database())
                  AND k.classid = %(classid)s::bigint::oid
                  AND k.objid = %(objid)s::bigint::oid
                  AND k.objsubid = 1) AS holding
  FROM notification_worker_leader l;

-- name: select_lock_held
-- the leader's check before each batch, on its own lock connection
SELECT EXISTS (SELECT 1 FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
                  AND classid = %(classid)s::bigint::oid
                  AND objid = %(objid)s::bigint::oid
                  AND objsubid = 1) AS held;

-- name: lock_try_worker
SELECT pg_try_advisory_lock(%(key)s) AS acquired;

-- name: lock_release_worker
SELECT pg_advisory_unlock(%(key)s) AS released;

-- name: upsert_leader
-- a new term gets a new generation: the fencing token every claim and send checks
INSERT INTO notification_worker_leader (instance_id, host, pid, backend_pid, since, generation)
VALUES (%(instance_id)s, %(host)s, %(pid)s, pg_backend_pid(), now(),
        nextval('notification_worker_leader_generation_seq'))
ON CONFLICT (singleton) DO UPDATE
   SET instance_id = EXCLUDED.instance_id, host = EXCLUDED.host, pid = EXCLUDED.pid,
       backend_pid = EXCLUDED.backend_pid, since = EXCLUDED.since,
       generation = EXCLUDED.generation
RETURNING since, generation;

-- name: delete_leader
DELETE FROM notification_worker_leader WHERE backend_pid = pg_backend_pid();

-- name: select_captured_mail_page
SELECT id, notification_id, message_id, recipients, subject, body_text, body_html, created_at
  FROM captured_mail
 WHERE (%(before_id)s::bigint IS NULL OR id < %(before_id)s::bigint)
 ORDER BY id DESC
 LIMIT %(limit)s;

-- ---------------------------------------------------------------- digests (SPEC §7.4)

-- name: insert_digest
INSERT INTO notification_digests (message_id) VALUES (%(message_id)s) RETURNING id;

-- name: update_digest_members
-- the newly due rows of this claim become one digest unit; its retries keep the unit
UPDATE email_notification_log SET digest_id = %(digest_id)s
 WHERE id = ANY(%(ids)s::bigint[]) AND digest_id IS NULL;

-- name: select_digest_message_ids
SELECT id, message_id FROM notification_digests WHERE id = ANY(%(ids)s::bigint[]);

-- name: lock_digest_slots
-- serialises two rewrites of the slot table (a PUT and the leader's top-up)
LOCK TABLE notification_digest_slots IN SHARE ROW EXCLUSIVE MODE;

-- name: delete_digest_slots
DELETE FROM notification_digest_slots;

-- name: insert_digest_slots
INSERT INTO notification_digest_slots (at)
SELECT DISTINCT unnest(%(slots)s::timestamptz[]) ON CONFLICT DO NOTHING;

-- name: delete_past_digest_slots
-- slots only matter ahead of now; the breach trigger reads the first one after now()
DELETE FROM notification_digest_slots WHERE at < now() - interval '1 day';

-- name: select_digest_horizon
-- how far ahead the stored slots reach (the leader tops them up when it is near)
SELECT max(at) AS horizon FROM notification_digest_slots;

-- name: update_digest_waiting
-- a changed schedule moves what waits for a digest to the new next time
UPDATE email_notification_log
   SET next_attempt_at = %(next_at)s, updated_at = now()
 WHERE digest AND status = 'pending' AND digest_id IS NULL;

-- name: update_digest_released
-- the digest was turned off: what waited for it goes out now, one mail each
UPDATE email_notification_log
   SET digest = false, next_attempt_at = now(), updated_at = now()
 WHERE digest AND status = 'pending' AND digest_id IS NULL;

-- ---------------------------------------------------------------- snoozes (SPEC §7.4)

-- name: upsert_snooze
INSERT INTO product_snoozes (product_id, until, until_restocked, created_by)
VALUES (%(product_id)s, %(until)s, %(until_restocked)s, %(admin_id)s)
ON CONFLICT (product_id) DO UPDATE
   SET until = EXCLUDED.until, until_restocked = EXCLUDED.until_restocked,
       created_at = now(), created_by = EXCLUDED.created_by
RETURNING product_id, until, until_restocked, created_at;

-- name: delete_snooze
DELETE FROM product_snoozes WHERE product_id = %(product_id)s RETURNING product_id;

-- name: update_suppress_waiting
-- a snooze also silences what this product still has waiting (e.g. for the digest)
UPDATE email_notification_log
   SET status = 'suppressed', next_attempt_at = NULL, updated_at = now(),
       error_details = 'suppressed: the product was snoozed before it was delivered'
 WHERE product_id = %(product_id)s AND status IN ('pending', 'retrying');

-- name: lock_product
SELECT id FROM products WHERE id = %(product_id)s FOR UPDATE;
