-- name: insert_admin
INSERT INTO admins (email, password_hash) VALUES (%(email)s, %(password_hash)s)
ON CONFLICT ((lower(email))) DO UPDATE SET password_hash = EXCLUDED.password_hash, disabled = false
RETURNING id;

-- name: delete_admin_sessions
-- a password reset ends every session of that admin (a stolen token stops working)
DELETE FROM admin_sessions WHERE admin_id = %(admin_id)s;

-- name: select_admin_by_email
SELECT id, email, password_hash, disabled FROM admins WHERE lower(email) = lower(%(email)s);

-- name: update_admin_password_hash
-- argon2 parameters moved on: store the rehash
UPDATE admins SET password_hash = %(password_hash)s WHERE id = %(admin_id)s;

-- name: insert_kiosk
INSERT INTO kiosks (name, token_hash) VALUES (%(name)s, %(token_hash)s) RETURNING id;

-- name: select_kiosks
SELECT id, name, created_at, disabled FROM kiosks ORDER BY id;

-- name: disable_kiosk
UPDATE kiosks SET disabled = true WHERE id = %(kiosk_id)s RETURNING id, name;

-- name: select_kiosk_by_token
SELECT id, name FROM kiosks WHERE token_hash = %(token_hash)s AND NOT disabled;

-- name: insert_session
INSERT INTO admin_sessions (token_hash, admin_id, csrf_token, expires_at)
VALUES (%(token_hash)s, %(admin_id)s, %(csrf_token)s, now() + make_interval(hours => %(hours)s));

-- name: select_session
SELECT s.admin_id, s.csrf_token, a.email
  FROM admin_sessions s JOIN admins a ON a.id = s.admin_id
 WHERE s.token_hash = %(token_hash)s AND s.expires_at > now() AND NOT a.disabled;

-- name: delete_session
DELETE FROM admin_sessions WHERE token_hash = %(token_hash)s;

-- name: delete_expired_sessions
DELETE FROM admin_sessions WHERE expires_at < now();

-- name: select_recent_failures
SELECT count(*) AS n, min(created_at) AS oldest FROM login_failures
 WHERE address = %(address)s AND created_at > now() - make_interval(secs => %(window)s);

-- name: lock_login_address
-- serialises the count-then-record of one client address (the two-int key space does
-- not overlap the single-bigint locks of migrations and the mail worker)
SELECT pg_advisory_xact_lock(1937, hashtext(%(address)s));

-- name: insert_failure
INSERT INTO login_failures (address) VALUES (%(address)s);

-- name: delete_failures
DELETE FROM login_failures
 WHERE address = %(address)s OR created_at < now() - make_interval(secs => %(window)s);

-- name: select_signing_key
SELECT secret FROM stockline_signing_keys WHERE name = %(name)s;

-- name: insert_signing_key
-- racing processes: the first insert wins and everyone reads it back
INSERT INTO stockline_signing_keys (name, secret) VALUES (%(name)s, %(secret)s)
ON CONFLICT (name) DO NOTHING;

-- name: select_admin_session_by_ref
-- the session a stream token was issued for, if it and its admin are still valid
SELECT a.id, a.email AS name FROM admin_sessions s JOIN admins a ON a.id = s.admin_id
 WHERE s.admin_id = %(id)s AND substring(s.token_hash FOR 8) = %(ref)s
   AND s.expires_at > now() AND NOT a.disabled;

-- name: select_active_kiosk
SELECT id, name FROM kiosks WHERE id = %(id)s AND NOT disabled;

-- name: select_valid_stream_owners
-- which credentials of open streams still hold (the rest get their streams ended):
-- kiosks not revoked; admin sessions not logged out, expired or reset, admins enabled
SELECT o.kind, o.id, o.ref
  FROM unnest(%(kinds)s::text[], %(ids)s::bigint[], %(refs)s::bytea[]) AS o(kind, id, ref)
 WHERE (o.kind = 'kiosk' AND EXISTS (
            SELECT 1 FROM kiosks k WHERE k.id = o.id AND NOT k.disabled))
    OR (o.kind = 'admin' AND EXISTS (
            SELECT 1 FROM admin_sessions s JOIN admins a ON a.id = s.admin_id
             WHERE s.admin_id = o.id AND substring(s.token_hash FOR 8) = o.ref
               AND s.expires_at > now() AND NOT a.disabled));
