-- The rights of the services in the auth database (deploy/README.md, "Database roles"). Run by the
-- owner (auth_owner) after the auth-server's and the jobs-service's migrations, every time they
-- run: a new table gets its rights here, in the same change as its migration. Idempotent:
--
--   psql -v ON_ERROR_STOP=1 -v auth_service=auth_service -v jobs_service=jobs_service -f auth-grants.sql
--
-- The tests apply this file to a migrated database and check that every table the auth-server
-- declares is granted to it, and that the jobs-service can do what its jobs do and nothing more
-- (e2e/tests/database_roles.rs).

BEGIN;

-- Only the two services may connect (the owner may, as owner), and they may use the schema but not
-- create in it.
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"DBNAME" TO :"auth_service", :"jobs_service";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"auth_service", :"jobs_service";

-- Start from nothing, so a right removed here is removed from the database too.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM :"auth_service", :"jobs_service";

-- The auth-server reads and writes its own tables, and reads the migrations' record (`migrate
-- --wait`). It has no right on the jobs-service's tables and cannot create, alter or drop.
GRANT SELECT, INSERT, UPDATE, DELETE ON
    scopes, users, user_scopes, user_claims, clients, client_scopes, login_sessions,
    authorization_requests, grants, authorization_codes, access_tokens, refresh_tokens, consents,
    account_links, outbox_messages, account_events, signing_keys, username_reservations
TO :"auth_service";

-- The jobs-service's own tables.
GRANT SELECT, INSERT, UPDATE, DELETE ON job_runs, jobs_unverified_reminders TO :"jobs_service";
-- What purge-tokens and unverified-accounts delete, and report counts.
GRANT SELECT, DELETE ON
    access_tokens, refresh_tokens, authorization_codes, authorization_requests, login_sessions,
    account_links, account_events, grants, users, username_reservations
TO :"jobs_service";
-- Reminders and reports are emails: rows in the outbox, which the auth-server's relay publishes;
-- purge-tokens deletes published rows past their retention.
GRANT SELECT, INSERT, DELETE ON outbox_messages TO :"jobs_service";
-- Row locks only: `SELECT ... FOR UPDATE` needs UPDATE on one column of the table. The columns
-- granted change no decision (a revocation's reason text, an account's last-change time).
GRANT UPDATE (revoked_reason) ON grants TO :"jobs_service";
GRANT UPDATE (updated_at) ON users TO :"jobs_service";

GRANT SELECT ON __diesel_schema_migrations TO :"auth_service", :"jobs_service";

COMMIT;
