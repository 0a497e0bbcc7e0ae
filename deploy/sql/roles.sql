-- The databases and roles of the platform, least privilege (deploy/README.md, "Database roles").
-- Run once by a superuser, connected to the `postgres` database, with psql variables naming each
-- database and role and giving each login password:
--
--   psql -v ON_ERROR_STOP=1 -v auth_db=auth -v email_db=email \
--        -v auth_owner=auth_owner -v auth_service=auth_service -v jobs_service=jobs_service \
--        -v email_owner=email_owner -v email_service=email_service \
--        -v auth_owner_password=... (one *_password per role) -f roles.sql
--
-- Owners run the migrations and own every table; services get rights on tables only (granted
-- after the migrations by auth-grants.sql and email-grants.sql) and can create nothing.
--   auth_owner     owns the auth database: the auth-server's and the jobs-service's migrations
--   auth_service   the auth-server: reads and writes the auth-server's tables
--   jobs_service   the jobs-service: its own tables, inserts into the outbox, reads and deletes
--                  what it purges
--   email_owner    owns the email database: the email-service's migrations
--   email_service  the email-service: its own tables, and nothing in the auth database

CREATE ROLE :"auth_owner" LOGIN PASSWORD :'auth_owner_password';
CREATE ROLE :"auth_service" LOGIN PASSWORD :'auth_service_password';
CREATE ROLE :"jobs_service" LOGIN PASSWORD :'jobs_service_password';
CREATE ROLE :"email_owner" LOGIN PASSWORD :'email_owner_password';
CREATE ROLE :"email_service" LOGIN PASSWORD :'email_service_password';

CREATE DATABASE :"auth_db" OWNER :"auth_owner";
CREATE DATABASE :"email_db" OWNER :"email_owner";

-- Only the platform's roles may connect, each to its own database.
REVOKE ALL ON DATABASE :"auth_db" FROM PUBLIC;
REVOKE ALL ON DATABASE :"email_db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"auth_db" TO :"auth_service", :"jobs_service";
GRANT CONNECT ON DATABASE :"email_db" TO :"email_service";

-- In each database the owner owns the public schema (the tables go there); services may use it
-- but not create in it.
\connect :"auth_db"
ALTER SCHEMA public OWNER TO :"auth_owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"auth_service", :"jobs_service";

\connect :"email_db"
ALTER SCHEMA public OWNER TO :"email_owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"email_service";
