#!/usr/bin/env bash
# Start the shared MLflow tracking server natively, the same server as deploy/compose.yaml: backend store in a
# database `mlflow` on the PostgreSQL that .ci/postgres.sh starts, artifacts served by the server from a folder.
# Prints its URL (for MIRADOR_MLFLOW_URL) on stdout, everything else on stderr. Idempotent: a server already
# answering on the port is reused. Needs .venv (bash run.sh sets it up).
# The PostgreSQL password reaches the server through PGPASSWORD only: it is in no command line, URL, log or output.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${MIRADOR_MLFLOW_PORT:-5055}"
home="${MIRADOR_MLFLOW_HOME:-${TMPDIR:-/tmp}/mirador-mlflow}"
url="http://127.0.0.1:$port"
answers() { .venv/bin/python - "$url" <<'EOF'
import sys, urllib.request
try: sys.exit(0 if urllib.request.urlopen(sys.argv[1] + '/health', timeout=2).status == 200 else 1)
except Exception: sys.exit(1)
EOF
}
if answers; then echo "mlflow server already answering at $url" >&2; echo "$url"; exit 0; fi
[ -x .venv/bin/mlflow ] || { echo "no .venv/bin/mlflow: run 'bash run.sh bench' or 'bash run.sh test' first" >&2; exit 1; }

pg_url="$(bash .ci/postgres.sh)"
# user, password, host, port of the CI PostgreSQL, one per line (never echoed)
mapfile -t pg < <(.venv/bin/python -c 'import sys; from urllib.parse import urlsplit; u = urlsplit(sys.argv[1])
print(u.username, u.password or "", u.hostname, u.port or 5432, sep="\n")' "$pg_url")
su postgres -c "psql -qAt -c \"SELECT 1 FROM pg_database WHERE datname = 'mlflow'\"" | grep -q 1 \
  || su postgres -c "createdb -O ${pg[0]} mlflow" >&2

mkdir -p "$home/artifacts"
echo "starting mlflow server at $url (backend postgresql+psycopg://${pg[0]}@${pg[2]}:${pg[3]}/mlflow, artifacts $home/artifacts, log $home/server.log)" >&2
PGPASSWORD="${pg[1]}" MLFLOW_DISABLE_TELEMETRY=true setsid nohup .venv/bin/mlflow server \
  --backend-store-uri "postgresql+psycopg://${pg[0]}@${pg[2]}:${pg[3]}/mlflow" \
  --artifacts-destination "$home/artifacts" --serve-artifacts \
  --host 127.0.0.1 --port "$port" --workers 2 >"$home/server.log" 2>&1 </dev/null &
echo $! >"$home/server.pid"
for _ in $(seq 180); do
  if answers; then echo "$url"; exit 0; fi
  kill -0 "$(cat "$home/server.pid")" 2>/dev/null || break
  sleep 1
done
echo "mlflow server did not answer at $url; the end of $home/server.log:" >&2
tail -n 20 "$home/server.log" >&2
exit 1
