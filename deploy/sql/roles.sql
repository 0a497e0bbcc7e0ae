-- The databases and roles of the platform, least privilege (deploy/README.md, "Database roles").
-- Run once by a superuser, connected to the `postgres` database, with psql variables naming each
-- database and role and giving each login password:
--
--   psql -v ON_ERROR_STOP=1 -v auth_db=auth -v email_db=email \
--        -v auth_owner=auth_owner -v auth_service=auth_service -v jobs_service=jobs_service \
--        -v email_owner=email_owner -v email_service=email_service \
--        -v auth_owner_password=... (one *_password per role) -f roles.sql
--
-- Owners run the migrations and own every table; services get their rights from the owners, after
-- the migrations (auth-grants.sql, email-grants.sql: who may connect, and to which tables), and can
-- create nothing. On Kubernetes, CloudNativePG makes these roles and databases instead
-- (deploy/k8s/base/database.yaml); the grants files are the same.
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
