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
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
}

train() {
  setup
  .venv/bin/churn_train "$@"
}

run_test() {
  setup
  export MPLBACKEND=Agg MLFLOW_DISABLE_TELEMETRY=true
  echo "== notebooks: the asserts of every notebook (nbdev_test)"
  local out
  out=$(.venv/bin/nbdev_test --do_print --n_workers 2 2>&1) || { echo "$out"; exit 1; }
  echo "$out"
  # nbdev_test exits 0 when a notebook is skipped: every notebook must have started and completed.
  for nb in nbs/*.ipynb; do
    grep -qF -- "- Completed $PWD/$nb" <<<"$out" || { echo "notebook $nb did not run under nbdev_test"; exit 1; }
  done
  echo "== pytest: notebook/package sync, notebooks in a Jupyter kernel, command-line tools, docs config"
  .venv/bin/python -m pytest tests "$@"
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
