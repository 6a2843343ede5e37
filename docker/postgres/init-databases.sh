#!/bin/sh
# PostgreSQL's first start (docker-entrypoint-initdb.d): two databases, each owned by its own role,
# and a read-only role for the lookup API. Passwords come from secret files, never from this script.
#   airflow        owns the `airflow` database (Airflow's metadata); nothing else
#   lienthong      owns the `lienthong` database (the sync tasks publish there)
#   lienthong_api  may connect to `lienthong` and read; it appends only to the audit tables
#                  (granted by `entrypoint.sh init-lienthong`, run as the owner)
set -eu

secret() { cat "$1"; }

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v airflow_pw="$(secret "$AIRFLOW_DB_PASSWORD_FILE")" \
    -v lienthong_pw="$(secret "$LIENTHONG_DB_PASSWORD_FILE")" \
    -v api_pw="$(secret "$LIENTHONG_API_DB_PASSWORD_FILE")" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'airflow_pw';
CREATE ROLE lienthong LOGIN PASSWORD :'lienthong_pw';
CREATE ROLE lienthong_api LOGIN PASSWORD :'api_pw';
CREATE DATABASE airflow OWNER airflow;
CREATE DATABASE lienthong OWNER lienthong;
REVOKE ALL ON DATABASE airflow FROM PUBLIC;
REVOKE ALL ON DATABASE lienthong FROM PUBLIC;
GRANT CONNECT ON DATABASE lienthong TO lienthong_api;
SQL

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname lienthong <<'SQL'
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO lienthong;
GRANT USAGE ON SCHEMA public TO lienthong_api;
-- every table the sync tasks create from now on is readable by the API, and only readable
ALTER DEFAULT PRIVILEGES FOR ROLE lienthong IN SCHEMA public GRANT SELECT ON TABLES TO lienthong_api;
SQL
