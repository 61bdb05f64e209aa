-- name: select_admins
SELECT id, email, created_at, disabled FROM admins ORDER BY id;

-- name: insert_admin_account
-- unlike the CLI's insert_admin, an existing email is a conflict, never a reset
INSERT INTO admins (email, password_hash) VALUES (%(email)s, %(password_hash)s)
ON CONFLICT ((lower(email))) DO NOTHING
RETURNING id, email, created_at, disabled;

-- name: update_admin_account
UPDATE admins
   SET disabled = COALESCE(%(disabled)s, disabled),
       password_hash = COALESCE(%(password_hash)s, password_hash)
 WHERE id = %(admin_id)s
RETURNING id, email, created_at, disabled;

-- name: delete_sessions_of_admin
-- a disabled admin or a reset password ends every session at once (S-7.1 streams too)
DELETE FROM admin_sessions WHERE admin_id = %(admin_id)s;

-- name: select_kiosk_accounts
SELECT id, name, created_at, disabled FROM kiosks ORDER BY id;

-- name: insert_kiosk_account
INSERT INTO kiosks (name, token_hash) VALUES (%(name)s, %(token_hash)s)
RETURNING id, name, created_at, disabled;

-- name: update_kiosk_account
-- the token is looked up on every request, so a disabled kiosk gets 401 at once
UPDATE kiosks
   SET disabled = COALESCE(%(disabled)s, disabled),
       name = COALESCE(%(name)s, name)
 WHERE id = %(kiosk_id)s
RETURNING id, name, created_at, disabled;
