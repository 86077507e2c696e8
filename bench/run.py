"""Benchmark of the churn pipeline at scale: wall time and peak memory (RSS) of each stage, in one run on the same data.

The data take the user's path: generated, written as Parquet (save_dataset), read back and validated (load_dataset), and
churn_train is given that folder (--data-source), so Arrow's multi-chunk columns and the validation are measured too.

    python bench/run.py                                   # 1,000,000 customers, 10,000,000 orders
    python bench/run.py --customers 2000 --orders 20000   # the few-second run .ci/run makes, so that this script cannot rot

Prints one table and writes it as JSON (default: bench/results/<customers>.json). The targets are those of the scale issue;
each row says whether it was met on this machine.
"""
import argparse, gc, json, os, platform, resource, subprocess, sys, tempfile, threading, time
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
from mirador_churn.sql import Database, _typed, feature_sql
from mirador_churn.testing import assert_same_table

def rss_bytes():
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

class Stage:
    "Wall time and peak RSS of a block, the RSS sampled every 2 ms by a thread"
    def __init__(self, results, name, **extra): self.results, self.name, self.extra = results, name, extra
    def __enter__(self):
        self.peak, self.stop = rss_bytes(), threading.Event()
        def sample():
            while not self.stop.wait(0.002): self.peak = max(self.peak, rss_bytes())
        self.thread = threading.Thread(target=sample, daemon=True); self.thread.start()
        self.t0 = time.perf_counter()
        return self
    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.stop.set(); self.thread.join()
        self.peak = max(self.peak, rss_bytes())
        self.results.append(dict(stage=self.name, seconds=round(self.seconds, 3), peak_rss_gb=round(self.peak / 2**30, 3), **self.extra))

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--customers', type=int, default=1_000_000)
    ap.add_argument('--orders', type=int, default=10_000_000)
    ap.add_argument('--epochs', type=int, default=3, help='training epochs to time')
    ap.add_argument('--latency-calls', type=int, default=20_000)
    ap.add_argument('--train-max-epochs', type=int, default=None, help="churn_train's --max-epochs (default: its own)")
    ap.add_argument('--output', default=None)
    a = ap.parse_args()
    out = Path(a.output or Path(__file__).parent / 'results' / f'{a.customers}.json')
    results, figures = [], {}

    tmp = Path(tempfile.mkdtemp())
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
            in_db = _typed(db.query(feature_sql(ChurnConfig(), cutoff)), True)
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
    cmd = [str(Path(sys.executable).parent / 'churn_train'), '--data-source', str(tmp / 'data'), '--output', str(tmp / 'train'),
           '--tracking-uri', f'sqlite:///{tmp}/mlflow.db', '--quiet'] + (['--max-epochs', str(a.train_max_epochs)] if a.train_max_epochs else [])
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, env=env)
    train_s = time.perf_counter() - t0
    if r.returncode: sys.exit(f"churn_train failed:\n{r.stderr[-3000:]}")
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024   # kB on Linux
    results.append(dict(stage=f'churn_train --data-source (Parquet), {a.customers:,} customers, {a.orders:,} orders', seconds=round(train_s, 3),
                        peak_rss_gb=round(child_peak / 2**30, 3), note=r.stdout.strip().splitlines()[-1][:120]))

    gen, whole = results[0], results[-1]
    targets = [('features no slower than DuckDB (ratio <= 1.0)', figures['features_vs_duckdb_ratio'], figures['features_vs_duckdb_ratio'] <= 1.0),
               ('generation under 30 s', gen['seconds'], gen['seconds'] < 30),
               ('peak memory of churn_train under 4 GB', whole['peak_rss_gb'], whole['peak_rss_gb'] < 4),
               ('onnxruntime >= 2x eager PyTorch throughput', figures['onnxruntime_vs_torch_throughput'], figures['onnxruntime_vs_torch_throughput'] >= 2),
               ('single-row median latency under 30 us', figures['single_row_median_us'], figures['single_row_median_us'] < 30),
               ('churn_train under 5 minutes', whole['seconds'], whole['seconds'] < 300)]
    full_size = a.customers >= 1_000_000 and a.orders >= 10_000_000
    report = dict(customers=a.customers, orders=a.orders, machine=dict(cpus=os.cpu_count(), python=platform.python_version(), torch=torch.__version__),
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
    print(f"\nwrote {out}")

if __name__ == '__main__': main()
