#!/usr/bin/env bash
# Start Debian's PostgreSQL on 127.0.0.1:5432 (installing it if needed) with a role and database for the tests,
# and print the URL for MIRADOR_POSTGRES_URL. No server runs on a fresh machine.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
pg_lsclusters -h | grep -q "^$ver main" || pg_createcluster "$ver" main >&2
pg_ctlcluster "$ver" main start >&2 2>/dev/null || pg_ctlcluster "$ver" main status >/dev/null
for _ in $(seq 30); do su postgres -c "pg_isready -q -h 127.0.0.1 -p 5432" && break; sleep 1; done
su postgres -c "psql -qAt -c \"SELECT 1 FROM pg_roles WHERE rolname = 'churn'\"" | grep -q 1 \
  || su postgres -c "psql -q -c \"CREATE ROLE churn LOGIN SUPERUSER PASSWORD 'churn-ci-only'\"" >&2
su postgres -c "psql -qAt -c \"SELECT 1 FROM pg_database WHERE datname = 'churn'\"" | grep -q 1 \
  || su postgres -c "createdb -O churn churn" >&2
echo "postgresql://churn:churn-ci-only@127.0.0.1:5432/churn"
