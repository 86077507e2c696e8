#!/usr/bin/env bash
# Install from Debian's packages what the tests need and a fresh machine may lack:
# PostgreSQL (tests/test_postgres.py, the shared MLflow server), a JDK and Maven (PySpark, the Java service),
# Chromium (the browser tests), Prometheus and promtool (the alerting rules), Node.js and npm (the cross-language check).
set -euo pipefail
need=()
{ command -v pg_ctlcluster >/dev/null 2>&1 && [ -n "$(ls /usr/lib/postgresql 2>/dev/null)" ]; } || need+=(postgresql)
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing from Debian: ${need[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
