#!/bin/sh
# The postgres image runs this once, on an empty data volume: the roles of
# deploy/postgres/roles.sql, with their passwords read from the compose secrets. psql reads
# the files itself (backticks in \set), so no password is ever on a command line.
set -eu
psql --username "$POSTGRES_USER" --dbname postgres <<'SQL'
\set owner_password `cat /run/secrets/pg_owner_password`
\set worker_password `cat /run/secrets/pg_worker_password`
\i /etc/filerelay/roles.sql
SQL
