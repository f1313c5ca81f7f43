#!/usr/bin/env bash
# One role and two databases per service (the service's and its tests', `<name>_test`, as the
# native stack makes them), for the official postgres image: mounted into
# /docker-entrypoint-initdb.d, it runs once, when the data directory is first initialised
# (changing a password later means `ALTER ROLE` by hand or a fresh volume).
# The passwords come from the environment, with the same dev defaults as .env.example.
set -euo pipefail

create_service_database() {
    local name=$1 password=$2
    # psql variables (:'name') are quoted by psql itself; format() quotes the identifiers.
    psql --no-psqlrc -v ON_ERROR_STOP=1 \
        --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
        -v name="$name" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'name')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'name')\gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'name', :'password')\gexec
SELECT format('CREATE DATABASE %I OWNER %I', db, :'name')
FROM unnest(ARRAY[:'name', :'name' || '_test']) AS db
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = db)\gexec
-- One owner per database: other roles may not even connect.
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', db)
FROM unnest(ARRAY[:'name', :'name' || '_test']) AS db\gexec
SQL
    echo "init-databases: role and database ${name} ready"
}

create_service_database auth "${AUTH_DB_PASSWORD:-dev-only-auth}"
create_service_database orders "${ORDERS_DB_PASSWORD:-dev-only-orders}"
create_service_database processor "${PROCESSOR_DB_PASSWORD:-dev-only-processor}"
