"""Benchmark of the training table on local Spark against DuckDB and the in-memory path, on the same Parquet files, in one run.

    python bench/spark.py                                     # 1,000,000 customers, 10,000,000 orders
    python bench/spark.py --customers 20000 --orders 200000   # the quick check: 2-5 minutes (mostly Spark's fixed costs)

The shop is generated once (seed 42) and written once as Parquet (save_dataset) to a temporary folder. Then the same
training table (`--cutoffs` rolling-origin cutoffs, `default_cutoffs`) is computed by
  (a) the in-memory path: load_dataset + build_training_table,
  (b) DuckDB over the same Parquet files (views on read_parquet) + sql_training_table,
  (c) local Spark (`--master`, default local[2]): session start, read_parquet_tables, spark_training_table,
and the three tables must be equal (mirador_churn.testing.assert_same_table). Spark's time is broken down by its own
stages (the Spark UI's REST API on the driver, enabled for this session only): per stage the wall time, tasks, executor
time and shuffle bytes read/written (input bytes are not reported for these scans: the Parquet sizes are given). Then batch scoring of the feature rows at the data end: spark_scores (the ONNX
model broadcast, ChurnScorer on the executors) against ChurnScorer on the driver, on the same cached rows; the
probabilities must agree to 1e-6. The model is a quick one (train_model, 5 epochs on a 2,000-customer shop, export_onnx).
OMP_NUM_THREADS is not set (bench/run.py does not set it either): every path may use both cores.
Prints a table and writes JSON (default: bench/results/spark-<customers>.json).

Measured (2 cores shared with another engineer's test suite, load average 6-7.5), `python bench/spark.py`
(1,000,000 customers, 10,000,000 orders, 4 cutoffs; 302 MB of Parquet): the same 2,836,778-row table in 14.8 s in
memory (load_dataset 10.3 s + build_training_table 4.5 s), 20.4 s in DuckDB over the Parquet files, 348 s on local[2]
Spark (13.1 s session start, 8.2 s reading Parquet schemas, 323 s for the query: 40 stages run, 89 skipped as reused
exchanges, 605 s of executor time, 835 MB of shuffle written; the largest stage writes 141 MB / 16.4 M raw rows for
the orders-order_items join, the four per-cutoff aggregation stages read ~180 MB and write 35-60 MB each).
Input: 2 partitions per table (one 28-172 MB file each). Shuffle: 200 partitions set, AQE coalesced to 2-4 tasks.
Scoring 822,582 rows: spark_scores 29.9 s on the 200-partition cached feature frame (one Python task per partition),
3.8 s after frame.coalesce(2); ChurnScorer on the driver 0.45 s. The 300,000 / 3,000,000 run: 4.3 s / 7.9 s / 128 s.
Spark loses on one machine: fixed overhead (session, planning, ~130 stages, Python workers) and serialization.

Scale-out (reasoning from these measurements; a cluster was not measured):
- Input partitions follow the bytes: `spark.sql.files.maxPartitionBytes` (128 MB), so more data gives more scan
  tasks without a setting; write the history as many Parquet files (or partitioned by month) so the scan spreads.
- Shuffle: feature_sql joins order_items to orders (a shuffle of raw rows, which grows with orders) and aggregates per
  customer and cutoff (grows with customers x cutoffs). Measured: ~88 bytes of shuffle per order for 4 cutoffs.
  Set `spark.sql.shuffle.partitions` to about shuffle bytes / 128 MB (AQE coalesces small ones; the default 200 is
  too many for small data: the cached feature frame keeps 200 partitions and scoring it pays 200 Python tasks).
- Executors: every stage is a scan, hash aggregate or hash join, parallel by customer/order; wall time ~ executor
  time / cores + a fixed ~20-30 s. The collect of the training table into the driver (toArrow) does not scale out:
  at 1B orders write the table to Parquet from spark_feature_frame instead of spark_training_table's pandas result.
- 1,000,000,000 orders (x100 the measured run; ESTIMATED by linear extrapolation of MEASURED throughput, which was
  taken under load): executor time ~17 core-hours (66,000 order-cutoffs per core-second measured), so ~5 min on
  200 cores (e.g. 50 executors x 4 cores, 8-16 GB each) plus overhead; ~82 GB of shuffle written (-> ~650
  shuffle partitions of 128 MB); ~30 GB of Parquet input (-> ~235 scan tasks). The in-memory path would need ~100x
  its measured peak memory (~325 GB) and DuckDB one machine with fast disks for an ~80 GB spill; Spark spreads it.
"""
import argparse, gc, json, os, platform, resource, sys, tempfile, threading, time, urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from mirador_churn.data import generate_synthetic, load_dataset, save_dataset
from mirador_churn.features import FEATURES, ChurnConfig, build_training_table, default_cutoffs
from mirador_churn.scoring import ChurnScorer
from mirador_churn.sql import Database, sql_training_table
from mirador_churn.testing import assert_same_table
from mirador_churn import spark as S

def rss_bytes():
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

class Stage:
    "Wall time and peak RSS (this Python process only; the JVM is not counted) of a block"
    def __init__(self, results, path, name, **extra): self.results, self.path, self.name, self.extra = results, path, name, extra
    def __enter__(self):
        self.peak, self.stop = rss_bytes(), threading.Event()
        def sample():
            while not self.stop.wait(0.005): self.peak = max(self.peak, rss_bytes())
        self.thread = threading.Thread(target=sample, daemon=True); self.thread.start()
        self.t0 = time.perf_counter()
        return self
    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.stop.set(); self.thread.join()
        self.results.append(dict(path=self.path, stage=self.name, seconds=round(self.seconds, 3),
                                 python_peak_rss_gb=round(max(self.peak, rss_bytes()) / 2**30, 3), **self.extra))

def bench_session(master:str, driver_memory:str):
    "A quiet local session like spark_session's, but with the UI (and its REST API) on, for the stage metrics"
    with S._quiet(): from pyspark.sql import SparkSession
    os.environ['PYSPARK_PYTHON'] = sys.executable
    conf = Path(tempfile.gettempdir()) / 'mirador-churn-log4j2.properties'
    if not conf.is_file() or conf.read_text() != S._LOG4J: conf.write_text(S._LOG4J)
    b = (SparkSession.builder.appName('mirador-churn-bench').master(master)
         .config('spark.driver.extraJavaOptions', f'-Dlog4j2.configurationFile=file:{conf}')
         .config('spark.driver.memory', driver_memory)
         .config('spark.ui.enabled', 'true').config('spark.ui.port', '0').config('spark.ui.showConsoleProgress', 'false')
         .config('spark.sql.warehouse.dir', str(Path(tempfile.gettempdir()) / 'mirador-churn-spark-warehouse')))
    with S._quiet(), S._stderr_to(S.SPARK_LOG): return b.getOrCreate()

class StageLog:
    "The Spark stages that ran during a block, from the driver's REST API"
    def __init__(self, spark):
        sc = spark.sparkContext
        self.base = f"{sc.uiWebUrl.rstrip('/')}/api/v1/applications/{sc.applicationId}"
    def stages(self)->list[dict]:
        with urllib.request.urlopen(f"{self.base}/stages", timeout=30) as r: return json.load(r)
    def since(self, before:set)->list[dict]:
        time.sleep(1.0)   # the listener bus posts the last stage's metrics asynchronously
        rows = [s for s in self.stages() if (s['stageId'], s['attemptId']) not in before]
        def ms(a, b):
            if not (s.get(a) and s.get(b)): return None
            t = lambda v: pd.Timestamp(v.replace('GMT', '+00:00'))
            return (t(s[b]) - t(s[a])).total_seconds()
        out = []
        for s in sorted(rows, key=lambda s: s['stageId']):
            out.append(dict(stage_id=s['stageId'], status=s['status'], name=s['name'].split(' at ')[0][:40],
                            seconds=ms('submissionTime', 'completionTime'), tasks=s['numTasks'],
                            executor_run_s=round(s.get('executorRunTime', 0) / 1e3, 3),
                            shuffle_read_mb=round(s.get('shuffleReadBytes', 0) / 2**20, 2),
                            shuffle_write_mb=round(s.get('shuffleWriteBytes', 0) / 2**20, 2),
                            shuffle_write_records=s.get('shuffleWriteRecords', 0)))
        return out
    def snapshot(self)->set: return {(s['stageId'], s['attemptId']) for s in self.stages()}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--customers', type=int, default=1_000_000)
    ap.add_argument('--orders', type=int, default=10_000_000)
    ap.add_argument('--cutoffs', type=int, default=4, help='rolling-origin cutoffs in the training table')
    ap.add_argument('--master', default='local[2]')
    ap.add_argument('--driver-memory', default='4g', help='local mode: the driver is the executor')
    ap.add_argument('--output', default=None)
    a = ap.parse_args()
    out = Path(a.output or Path(__file__).parent / 'results' / f'spark-{a.customers}.json')
    results, figures, cfg = [], {}, ChurnConfig()
    tmp = Path(tempfile.mkdtemp(prefix='mirador-spark-bench-'))
    data = tmp / 'data'

    with Stage(results, 'setup', 'generate synthetic data (seed 42)', rows=a.orders): ds = generate_synthetic(a.customers, a.orders, seed=42)
    with Stage(results, 'setup', 'save_dataset (Parquet), once'): save_dataset(ds, data)
    cutoffs = default_cutoffs(ds.orders, cfg, n=a.cutoffs)
    del ds; gc.collect()
    figures['parquet_mb'] = {p.name: round(p.stat().st_size / 2**20, 2) for p in sorted(data.glob('*.parquet'))}

    # (a) the in-memory path
    t0 = time.perf_counter()
    with Stage(results, 'in-memory', 'load_dataset (Parquet, validation)'): ds = load_dataset(data)
    with Stage(results, 'in-memory', f'build_training_table, {len(cutoffs)} cutoffs'):
        t_mem = build_training_table(ds.customers, ds.orders, cfg, cutoffs, ds.order_items)
    figures['in_memory_seconds'] = time.perf_counter() - t0
    results[-1]['rows'] = len(t_mem)
    del ds; gc.collect()

    # (b) DuckDB over the same Parquet files
    t0 = time.perf_counter()
    with Stage(results, 'duckdb', f'views on read_parquet + sql_training_table, {len(cutoffs)} cutoffs'):
        with Database('duckdb:///:memory:') as db:
            for name in ('customers', 'orders', 'order_items'):
                db.con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{data / (name + '.parquet')}')")
            t_duck = sql_training_table(db, cfg, cutoffs)
    figures['duckdb_seconds'] = time.perf_counter() - t0
    assert_same_table(t_duck, t_mem)
    del t_duck; gc.collect()

    # (c) local Spark
    t0 = time.perf_counter()
    with Stage(results, 'spark', f'session start ({a.master})'): spark = bench_session(a.master, a.driver_memory)
    log = StageLog(spark)
    with Stage(results, 'spark', 'read_parquet_tables (lazy: listing + schemas)'): S.read_parquet_tables(spark, str(data))
    before = log.snapshot()
    with Stage(results, 'spark', f'spark_training_table, {len(cutoffs)} cutoffs (bounds + one job, collect)'):
        t_spark = S.spark_training_table(spark, cfg, cutoffs)
    figures['spark_seconds'] = time.perf_counter() - t0
    train_stages = log.since(before)
    assert_same_table(t_spark, t_mem)
    figures['tables_equal'] = f"in-memory == DuckDB == Spark ({len(t_mem):,} rows, {len(cutoffs)} cutoffs)"
    figures['input_partitions'] = {t: spark.table(t).rdd.getNumPartitions() for t in ('customers', 'orders', 'order_items')}
    figures['shuffle_partitions_setting'] = spark.conf.get('spark.sql.shuffle.partitions')
    figures['adaptive'] = spark.conf.get('spark.sql.adaptive.enabled')
    figures['training_shuffle_write_mb'] = round(sum(s['shuffle_write_mb'] for s in train_stages), 2)
    figures['training_executor_run_s'] = round(sum(s['executor_run_s'] for s in train_stages), 2)
    figures['training_stages_run'] = sum(s['status'] == 'COMPLETE' for s in train_stages)
    figures['training_stages_skipped'] = sum(s['status'] == 'SKIPPED' for s in train_stages)
    del t_spark; gc.collect()

    # batch scoring of the feature rows at the data end: Spark executors against ChurnScorer on the driver
    with Stage(results, 'model', 'quick model: 2,000-customer shop, 5 epochs, export_onnx'):
        from mirador_churn.model import TrainConfig, train_model
        from mirador_churn.export import export_onnx
        small = generate_synthetic(2000, 20_000, seed=42)
        tt = build_training_table(small.customers, small.orders, cfg, default_cutoffs(small.orders, cfg, n=2), small.order_items)
        last = tt.cutoff == tt.cutoff.max()
        net, _ = train_model(tt[~last], tt[last], TrainConfig(max_epochs=5), progress=False)
        model = export_onnx(net, tmp / 'model.onnx')
    with S._quiet(): end = pd.Timestamp(spark.sql("SELECT MAX(CAST(order_date AS TIMESTAMP_NTZ)) AS e FROM orders").toPandas().e[0])
    frame = S.spark_feature_frame(spark, end, cfg).cache()
    with Stage(results, 'spark', 'features at the data end, cached (count)'): n_rows = frame.count()
    with Stage(results, 'spark', 'features to the driver (toArrow)'), S._quiet():
        feats = frame.toArrow().to_pandas()
    before = log.snapshot()
    with Stage(results, 'spark', 'spark_scores on the executors (collect)', rows=n_rows) as s_sp, S._quiet():
        sp = S.spark_scores(frame, model, keep=['customer_id']).toArrow().to_pandas()
    score_stages = log.since(before)
    figures['feature_frame_partitions'] = frame.rdd.getNumPartitions()
    with Stage(results, 'spark', 'spark_scores on frame.coalesce(2) (collect)', rows=n_rows) as s_sp2, S._quiet():
        sp2 = S.spark_scores(frame.coalesce(2), model, keep=['customer_id']).toArrow().to_pandas()
    scorer = ChurnScorer.load(model)
    with Stage(results, 'driver', 'ChurnScorer.predict_proba on the driver', rows=n_rows) as s_dr:
        p = scorer.predict_proba(feats[list(FEATURES)])
    got = sp.set_index('customer_id').churn_probability.reindex(feats.customer_id).to_numpy()
    assert len(sp) == len(feats) == n_rows and np.abs(got - p).max() <= 1e-6, 'Spark scores differ from ChurnScorer'
    figures['scoring_rows'] = n_rows
    assert sp2.sort_values('customer_id', ignore_index=True).equals(sp.sort_values('customer_id', ignore_index=True))
    figures['spark_scores_rows_per_s'] = round(n_rows / s_sp.seconds)
    figures['spark_scores_coalesced_rows_per_s'] = round(n_rows / s_sp2.seconds)
    figures['driver_scorer_rows_per_s'] = round(n_rows / s_dr.seconds)
    spark.stop()

    per_core = a.orders * len(cutoffs) / max(figures['training_executor_run_s'], 1e-9)
    scale = 1e9 / a.orders
    figures['measured_order_cutoffs_per_core_second'] = round(per_core)
    figures['estimate_1B_orders'] = dict(
        basis=f"linear extrapolation x{scale:g} of this run's measured Spark stages ({len(cutoffs)} cutoffs)",
        core_hours=round(1e9 * len(cutoffs) / per_core / 3600, 2),
        shuffle_write_gb=round(figures['training_shuffle_write_mb'] * scale / 1024, 1),
        parquet_gb=round(sum(figures['parquet_mb'].values()) * scale / 1024, 1))

    report = dict(customers=a.customers, orders=a.orders, cutoffs=[str(c) for c in cutoffs], master=a.master,
                  machine=dict(cpus=os.cpu_count(), python=platform.python_version(), load_average=os.getloadavg()),
                  command=' '.join([Path(sys.executable).name, *sys.argv]),
                  stages=results, spark_training_stages=train_stages, spark_scoring_stages=score_stages, figures=figures)
    pd.set_option('display.width', 200)
    print(pd.DataFrame(results).astype(object).fillna('').to_string(index=False))
    print('\nSpark stages of spark_training_table:')
    print(pd.DataFrame([s for s in train_stages if s['status'] != 'SKIPPED']).to_string(index=False))
    print('\nSpark stages of spark_scores:')
    print(pd.DataFrame([s for s in score_stages if s['status'] != 'SKIPPED']).to_string(index=False))
    print()
    for k, v in figures.items(): print(f"{k}: {round(v, 3) if isinstance(v, float) else v}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwrote {out}")

if __name__ == '__main__': main()
