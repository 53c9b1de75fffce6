#!/bin/sh
# Create the secret files docker-compose.yml reads, in deploy/secrets/ (or the folder given).
#
#   sh deploy/generate-secrets.sh            # once, before the first `docker compose up`
#
# Random passwords and keys; the URLs that embed them (broker, store) are derived from the same
# values, so they always agree. A file that exists is kept: running this again never changes a
# credential in use (delete a file to make a new one, then see docs/security.md#rotation).
#
# The folder is 0700, so no other user of this host can read the files; the files themselves
# are 0644 because each container reads its secrets as its own user (filerelay 10001, postgres,
# grafana, prometheus) and a bind-mounted secret keeps the host file's mode.
set -eu

dir="${1:-$(dirname "$0")/secrets}"
mkdir -p "$dir"
chmod 0700 "$dir"

rand() { LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c "$1"; }

put() { # put NAME VALUE: write the secret NAME once
    if [ ! -e "$dir/$1" ]; then
        (umask 022 && printf '%s\n' "$2" >"$dir/$1")
        chmod 0644 "$dir/$1"
    fi
}

get() { sed -n '1p' "$dir/$1"; }

# --- base secrets --------------------------------------------------------------------------
put redis_password "$(rand 40)"
put postgres_password "$(rand 40)"      # the PostgreSQL superuser: only the init scripts use it
put pg_owner_password "$(rand 40)"      # owns the schema: `filerelay db upgrade` (migrate)
put pg_worker_password "$(rand 40)"     # no DDL: watcher, workers, reconciler, alerts
put minio_root_user "admin-$(rand 12)"  # MinIO's root: only the s3-init job uses it
put minio_root_password "$(rand 40)"
put s3_access_key "filerelay-$(rand 12)"  # filerelay's own MinIO user, least privilege
put s3_secret_key "$(rand 40)"
put flower_basic_auth "admin:$(rand 24)"
put grafana_admin_password "$(rand 24)"
put alert_webhook_secret "whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
# Where alerts are POSTed: replace with your receiver's URL (it may carry a token).
put alert_webhook_url "https://alerts.example.invalid/filerelay"

# --- derived from the base secrets ---------------------------------------------------------
put redis_conf "requirepass $(get redis_password)"
put broker_url "redis://:$(get redis_password)@redis:6379/0"
put database_url_owner \
    "postgresql://filerelay_owner:$(get pg_owner_password)@postgres:5432/filerelay"
put database_url_worker \
    "postgresql://filerelay_worker:$(get pg_worker_password)@postgres:5432/filerelay"

echo "secrets in $dir"
