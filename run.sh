#!/usr/bin/env bash
# The project's two commands, each one step on a fresh machine with Python 3.11 and pip:
#   bash run.sh train   set up .venv, then train a churn model on the synthetic default
#   bash run.sh test    set up .venv, then run the whole test suite
# and, for the scale figures (not a test): bash run.sh bench [--customers N --orders N]
set -euo pipefail
cd "$(dirname "$0")"

setup() {
  local py="${PYTHON:-}"
  if [ -z "$py" ]; then py=$(command -v python3.11 || command -v python3); fi
  [ -x .venv/bin/python ] || "$py" -m venv .venv
  # The package is installed editable: code changes need no reinstall, only a change of its settings does.
  # The stamp holds a hash of the files that decide what gets installed (and of this Python).
  local stamp=.venv/.mirador_churn-installed key
  key=$(cat settings.ini setup.py pyproject.toml 2>/dev/null | cat - <(.venv/bin/python -VV) | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$key" ]; then
    echo "== setting up .venv: installing mirador_churn and its dependencies (the first time takes minutes)" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
    echo "$key" > "$stamp"
  fi
}

js_setup() {
  # The npm packages of the cross-language and MCP checks (tests/js), when npm is here; skipped tests say so otherwise.
  [ -f tests/js/package-lock.json ] || return 0
  command -v npm >/dev/null 2>&1 || { echo "== npm not found: the Node.js checks will be skipped (pytest says which)"; return 0; }
  local stamp=tests/js/node_modules/.mirador-installed key
  key=$(cat tests/js/package-lock.json <(node --version) | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$key" ]; then
    echo "== installing tests/js (npm ci)" >&2
    npm ci --prefix tests/js --no-audit --no-fund --loglevel=error >&2
    echo "$key" > "$stamp"
  fi
}

java_test() {
  # The Java service's own tests (JUnit 5 under Maven Surefire), when a JDK and Maven are here.
  [ -f java/pom.xml ] || return 0
  if command -v mvn >/dev/null 2>&1 && command -v javac >/dev/null 2>&1; then
    echo "== java: the Java service's tests (mvn verify), which also builds the jar the cross-language test runs"
    mvn -q -B -f java/pom.xml verify
  else
    echo "== java: SKIPPED, no JDK or Maven here (javac, mvn): the Java service is not built or tested"
  fi
}

train() {
  setup
  .venv/bin/churn_train "$@"
}

run_test() {
  setup
  js_setup
  export MPLBACKEND=Agg MLFLOW_DISABLE_TELEMETRY=true
  # One thread per process: nbdev_test runs two notebooks at once, and two-thread kernels beside them oversubscribe the
  # cores (training the seed-42 model took 33 s of CPU time with two threads on a busy 2-core machine, 3 s with one).
  # The weights are the same bits with one or two threads (measured: 02_model's "What the same seed promises").
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
  echo "== notebooks: the asserts of every notebook (nbdev_test; each line says which notebook starts or completes)"
  local log status=0
  log=$(mktemp)
  # Unbuffered, so that each notebook's `Starting`/`Completed` line shows while the others still run.
  PYTHONUNBUFFERED=1 .venv/bin/nbdev_test --do_print --n_workers 2 2>&1 | tee "$log" || status=$?
  [ "$status" -eq 0 ] || { rm -f "$log"; echo "nbdev_test failed"; exit 1; }
  # nbdev_test exits 0 when a notebook is skipped: every notebook must have started and completed.
  for nb in nbs/*.ipynb; do
    grep -qF -- "- Completed $PWD/$nb" "$log" || { rm -f "$log"; echo "notebook $nb did not run under nbdev_test"; exit 1; }
  done
  rm -f "$log"
  java_test
  echo "== pytest: notebook/package sync, notebooks in a Jupyter kernel, command-line tools, docs config"
  # -rs: say why each skipped test was skipped; pytest's summary line stays the last line of the output.
  .venv/bin/python -m pytest -rs tests "$@"
}

bench() {
  setup
  MLFLOW_DISABLE_TELEMETRY=true .venv/bin/python bench/run.py "$@"
}

case "${1:-}" in
  train) shift; train "$@" ;;
  test)  shift; run_test "$@" ;;
  bench) shift; bench "$@" ;;
  *) echo "usage: bash run.sh train|test|bench" >&2; exit 2 ;;
esac
