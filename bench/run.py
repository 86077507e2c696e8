"""Benchmark of the churn pipeline at scale: wall time and peak memory (RSS) of each stage, in one run on the same data.

The data take the user's path: generated, written as Parquet (save_dataset), read back and validated (load_dataset), and
churn_train is given that folder (--data-source), so Arrow's multi-chunk columns and the validation are measured too.

    python bench/run.py                                   # 1,000,000 customers, 10,000,000 orders
    python bench/run.py --customers 2000 --orders 20000   # the few-second run .ci/run makes, so that this script cannot rot

    python bench/run.py --threads 1 --profile prof.txt    # churn_train with one thread per pool, under pyinstrument

Prints one table and writes it as JSON (default: bench/results/<customers>.json). The targets are those of the scale issue;
each row says whether it was met on this machine. churn_train's own seconds per step (its summary's 'Time:' line) are
stages too. With committed figures for this size in bench/baseline.json (bench/_common.py), a stage more than 2x its
figure fails the run with exit status 1; `--write-baseline` makes this run's figures the baseline (deliberately).
The load average is printed beside the figures: the machine is shared, and a loaded one is not the quiet one the
targets assume.
"""
import argparse, atexit, gc, json, os, platform, re, shutil, sys, tempfile, time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from mirador_churn.data import generate_synthetic, load_dataset, save_dataset
from mirador_churn.features import FEATURES, ChurnConfig, build_training_table, default_cutoffs
from mirador_churn.model import TrainConfig, predict_proba, train_model
from mirador_churn.export import export_onnx
from mirador_churn.scoring import ChurnScorer
from mirador_churn.sql import Database, feature_sql, training_dtypes
from mirador_churn.testing import assert_same_table

sys.path.insert(0, str(Path(__file__).parent))
from _common import Stage, check_baseline, fail_if_slow, load_average, run_peak, size_key, write_baseline

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--customers', type=int, default=1_000_000)
    ap.add_argument('--orders', type=int, default=10_000_000)
    ap.add_argument('--epochs', type=int, default=3, help='training epochs to time')
    ap.add_argument('--latency-calls', type=int, default=20_000)
    ap.add_argument('--train-max-epochs', type=int, default=None, help="churn_train's --max-epochs (default: its own)")
    ap.add_argument('--output', default=None)
    ap.add_argument('--write-baseline', action='store_true', help='commit-ready: make these figures bench/baseline.json')
    ap.add_argument('--threads', type=int, default=None,
                    help="OMP/OpenBLAS/MKL_NUM_THREADS for churn_train's process (default: the environment's)")
    ap.add_argument('--profile', default=None, help='run churn_train under pyinstrument and write its text report here')
    a = ap.parse_args()
    out = Path(a.output or Path(__file__).parent / 'results' / f'{a.customers}.json')
    results, figures = [], {}
    load_at_start = load_average()
    print(f"load average (1, 5, 15 min) at the start: {load_at_start} on {os.cpu_count()} cores", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix='mirador-bench-'))
    atexit.register(shutil.rmtree, tmp, True)   # the shop's Parquet files (300 MB at 1M), whatever the exit
    with Stage(results, 'generate synthetic data', rows=a.orders):
        ds = generate_synthetic(a.customers, a.orders, seed=42)
    with Stage(results, 'save_dataset (Parquet)'):
        save_dataset(ds, tmp / 'data')
    del ds; gc.collect()
    with Stage(results, 'load_dataset (Parquet, validation)'):
        ds = load_dataset(tmp / 'data')
    category = pa.array(ds.order_items.category)   # several chunks at scale: the multi-chunk path is measured
    figures['text_column_chunks'] = category.num_chunks if isinstance(category, pa.ChunkedArray) else 1
    del category
    cutoff = default_cutoffs(ds.orders, n=1)[0]

    with Stage(results, 'build_training_table, one cutoff') as s_py:
        table = build_training_table(*ds[:2], ChurnConfig(), [cutoff], ds.order_items)
    results[-1]['rows'] = len(table)
    with Stage(results, 'same features in DuckDB (feature_sql)') as s_db:
        with Database('duckdb:///:memory:') as db:
            for name, df in zip(ds._fields, ds): db.con.register(name, df)   # the same in-memory tables, no copy
            in_db = training_dtypes(db.query(feature_sql(ChurnConfig(), cutoff)), True)
    assert_same_table(in_db, table)   # equal to float32 precision, labels exactly
    figures['features_vs_duckdb_ratio'] = s_py.seconds / s_db.seconds
    del in_db

    rng = np.random.default_rng(0)
    is_valid = rng.random(len(table)) < 0.2
    train, valid = table[~is_valid], table[is_valid]
    with Stage(results, f'training, {a.epochs} epochs') as s_tr:
        model, history = train_model(train, valid, TrainConfig(max_epochs=a.epochs), progress=False)
    results[-1].update(rows=len(train), seconds_per_epoch=round(s_tr.seconds / a.epochs, 3))

    with Stage(results, 'ONNX export'):
        onnx_path = export_onnx(model, tmp / 'model.onnx')
    X = table[list(FEATURES)].to_numpy(np.float32)
    scorer = ChurnScorer.load(onnx_path, threads=os.cpu_count())
    def batched(f, bs=65_536): return np.concatenate([f(X[i:i + bs]) for i in range(0, len(X), bs)])
    batched(scorer.predict_proba)   # warm-up
    with Stage(results, 'score all rows, ChurnScorer (onnxruntime)') as s_ort:
        p_ort = batched(scorer.predict_proba)
    model.eval()
    with Stage(results, 'score all rows, PyTorch eager') as s_pt:
        with torch.inference_mode(): p_pt = batched(lambda x: torch.sigmoid(model(torch.from_numpy(x))).numpy())
    assert np.abs(p_ort - p_pt).max() <= 1e-6
    results[-2]['rows_per_second'] = round(len(X) / s_ort.seconds)
    results[-1]['rows_per_second'] = round(len(X) / s_pt.seconds)
    figures['onnxruntime_vs_torch_throughput'] = s_pt.seconds / s_ort.seconds

    single = ChurnScorer.load(onnx_path, threads=1)
    row = X[:1].copy()
    for _ in range(1000): single.predict_proba(row)   # warm-up
    times = np.empty(a.latency_calls)
    for i in range(a.latency_calls):
        t0 = time.perf_counter_ns(); single.predict_proba(row); times[i] = time.perf_counter_ns() - t0
    figures['single_row_median_us'], figures['single_row_p99_us'] = np.median(times) / 1e3, np.percentile(times, 99) / 1e3
    del ds, table, train, valid, X

    env = {**os.environ, 'MLFLOW_DISABLE_TELEMETRY': 'true'}
    if a.threads: env |= {k: str(a.threads) for k in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')}
    figures_threads = {k: env.get(k, '(unset)') for k in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')}
    profiler = [str(Path(sys.executable).parent / 'pyinstrument'), '-o', str(a.profile)] if a.profile else []
    cmd = [*profiler, str(Path(sys.executable).parent / 'churn_train'), '--data-source', str(tmp / 'data'), '--output', str(tmp / 'train'),
           '--tracking-uri', f'sqlite:///{tmp}/mlflow.db', '--quiet'] + (['--max-epochs', str(a.train_max_epochs)] if a.train_max_epochs else [])
    t0 = time.perf_counter()
    r, child_peak = run_peak(cmd, cwd=tmp, env=env)   # the peak of churn_train's own process
    train_s = time.perf_counter() - t0
    if r.returncode: sys.exit(f"churn_train failed:\n{r.stderr[-3000:]}")
    results.append(dict(stage=f'churn_train --data-source (Parquet), {a.customers:,} customers, {a.orders:,} orders', seconds=round(train_s, 3),
                        peak_rss_gb=round(child_peak / 2**30, 3), note=r.stdout.strip().splitlines()[-1][:120]))
    whole = results[-1]
    steps = re.search(r'^Time: (.*); total ([\d.]+) s\.$', r.stdout, re.M)   # the summary's seconds per step
    if steps is None: sys.exit(f"churn_train printed no 'Time:' line:\n{r.stdout[-2000:]}")
    for part in steps.group(1).split(', '):
        name, sec = part.rsplit(' ', 2)[0], float(part.rsplit(' ', 2)[1])
        results.append(dict(stage=f'  churn_train step: {name}', seconds=sec))

    gen = results[0]
    targets = [('features no slower than DuckDB (ratio <= 1.0)', figures['features_vs_duckdb_ratio'], figures['features_vs_duckdb_ratio'] <= 1.0),
               ('generation under 30 s', gen['seconds'], gen['seconds'] < 30),
               ('onnxruntime >= 2x eager PyTorch throughput', figures['onnxruntime_vs_torch_throughput'], figures['onnxruntime_vs_torch_throughput'] >= 2),
               ('single-row median latency under 30 us', figures['single_row_median_us'], figures['single_row_median_us'] < 30),
               ('churn_train under 120 s', whole['seconds'], whole['seconds'] <= 120),
               ('peak memory of churn_train under 3 GB', whole['peak_rss_gb'], whole['peak_rss_gb'] < 3)]
    full_size = a.customers >= 1_000_000 and a.orders >= 10_000_000
    report = dict(customers=a.customers, orders=a.orders, load_average_at_start=load_at_start,
                  load_average_at_end=load_average(), churn_train_threads=figures_threads,
                  profile=str(a.profile) if a.profile else None,
                  machine=dict(cpus=os.cpu_count(), python=platform.python_version(), torch=torch.__version__),
                  stages=results, figures={k: round(v, 3) for k, v in figures.items()},
                  targets=[dict(target=t, value=round(v, 3), met=bool(ok)) for t, v, ok in targets], targets_apply=full_size)

    table_out = pd.DataFrame(results).drop(columns=['note'], errors='ignore').astype(object)
    print(table_out.where(table_out.notna(), '').to_string(index=False))
    print()
    for k, v in figures.items(): print(f"{k}: {v:.3f}")
    print()
    for t, v, ok in targets: print(f"{'met   ' if ok else 'MISSED'} {t}: {v:.3f}" + ('' if full_size else '   (targets are for 1M/10M; this is a small run)'))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out}\nload average (1, 5, 15 min) at the end: {load_average()} on {os.cpu_count()} cores")
    key = size_key(a.customers, a.orders)
    if a.write_baseline: write_baseline('run', key, results, f"python bench/run.py{' --threads %d' % a.threads if a.threads else ''} "
                                        f"--write-baseline; load average {load_at_start} at the start, {load_average()} at the end")
    else: fail_if_slow(check_baseline('run', key, results))

if __name__ == '__main__': main()
