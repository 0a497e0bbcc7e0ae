#!/bin/sh
# Runs once, when the PostgreSQL container starts on an empty volume (docker-entrypoint-initdb.d):
# creates the platform's databases and least-privilege roles (deploy/sql/roles.sql) with the
# passwords of .env. Role and database names can be changed with the *_ROLE and *_DB variables.
set -eu

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v auth_db="${AUTH_DB:-auth}" \
    -v email_db="${EMAIL_DB:-email}" \
    -v auth_owner="${AUTH_OWNER_ROLE:-auth_owner}" \
    -v auth_service="${AUTH_SERVICE_ROLE:-auth_service}" \
    -v jobs_service="${JOBS_SERVICE_ROLE:-jobs_service}" \
    -v email_owner="${EMAIL_OWNER_ROLE:-email_owner}" \
    -v email_service="${EMAIL_SERVICE_ROLE:-email_service}" \
    -v auth_owner_password="${AUTH_OWNER_PASSWORD:?}" \
    -v auth_service_password="${AUTH_SERVICE_PASSWORD:?}" \
    -v jobs_service_password="${JOBS_SERVICE_PASSWORD:?}" \
    -v email_owner_password="${EMAIL_OWNER_PASSWORD:?}" \
    -v email_service_password="${EMAIL_SERVICE_PASSWORD:?}" \
    -f /platform-sql/roles.sql
