#!/bin/sh
# docker-compose.yml's PostgreSQL, first start only (the image runs /docker-entrypoint-initdb.d/ on an empty
# data volume): the same roles as devstack/postgres.py makes for the distributed stack.
#   airflow  owner of the metadata database `airflow`; no superuser, no role or database creation
#   celery   owner of `celery_results` (Celery's result backend, the one database URL the workers hold)
# The superuser (POSTGRES_USER, postgres) is for this step and for the operator; no Airflow service has it.
# No other role may connect to a database it does not own (CONNECT revoked from PUBLIC).
# Passwords are read from the environment by psql (\getenv), never put on a command line.
set -eu
: "${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD is not set: see .env.example}"
: "${CELERY_RESULTS_DB_PASSWORD:?CELERY_RESULTS_DB_PASSWORD is not set: see .env.example}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres <<'SQL'
\getenv airflow_password AIRFLOW_DB_PASSWORD
\getenv celery_password CELERY_RESULTS_DB_PASSWORD
CREATE ROLE airflow LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE airflow FROM PUBLIC;
CREATE ROLE celery LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'celery_password';
CREATE DATABASE celery_results OWNER celery ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE celery_results FROM PUBLIC;
SQL
echo "postgres-roles: roles airflow and celery, databases airflow and celery_results"
