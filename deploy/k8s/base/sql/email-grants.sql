-- The rights of the email-service in the email database. Run by the owner (email_owner) after the
-- email-service's migrations, every time they run. Idempotent:
--
--   psql -v ON_ERROR_STOP=1 -v email_service=email_service -f email-grants.sql

BEGIN;
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"DBNAME" TO :"email_service";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"email_service";
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM :"email_service";
GRANT SELECT, INSERT, UPDATE, DELETE ON deliveries, mailbox_messages TO :"email_service";
GRANT SELECT ON __diesel_schema_migrations TO :"email_service";
COMMIT;
