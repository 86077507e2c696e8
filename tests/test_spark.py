"""Spark for real, in local mode: parity with build_training_table, spark:PATH sources, outputs written by the
executors, the bounded sample, scoring on the executors (a standalone cluster and Spark Connect: test_spark_cluster.py)."""
import os, shutil
from pathlib import Path
import numpy as np, pandas as pd, pytest
from mirador_churn.data import generate_synthetic, save_dataset
from mirador_churn.features import ChurnConfig, build_features, build_training_table, default_cutoffs, tiny_shop, time_split
from mirador_churn.testing import assert_same_table

if not shutil.which('java'):
    if os.environ.get('CI'): pytest.fail('java is missing: .ci/system.sh must install a JRE for the Spark tests', pytrace=False)
    pytest.skip('no Java: install a JRE (e.g. openjdk-17-jre-headless) to run the Spark tests', allow_module_level=True)
pytest.importorskip('pyspark') if not os.environ.get('CI') else None

from mirador_churn.spark import (_categories, _collect, is_spark_url, plan_outline, read_parquet_tables, spark_facts,
                                 spark_feature_frame, spark_features, spark_scores, spark_session, spark_table_sql,
                                 spark_training_frame, spark_training_sample, spark_training_table, spark_write_scores,
                                 spark_write_table)
from mirador_churn.sql import DatabaseError

@pytest.fixture(scope='module')
def spark():
    "One local session for the whole module (JVM start-up is the slow part)"
    s = spark_session('local[2]', shuffle_partitions=4)
    yield s
    s.stop()

@pytest.fixture(scope='module')
def shop(tmp_path_factory):
    "The seed-42 shop, written as Parquet by pandas"
    d = tmp_path_factory.mktemp('shop')
    ds = generate_synthetic()
    save_dataset(ds, d)
    return ds, d

def test_is_spark_url():
    assert [is_spark_url(s) for s in ('spark:/x', 'spark:', 'duckdb:///x', 'data', None)] == [True, False, False, False, False]

def test_parity_on_the_seed_42_shop(spark, shop):
    ds, d = shop
    cutoffs = default_cutoffs(ds.orders, n=4)
    got = spark_training_table(f'spark:{d}', ChurnConfig(), cutoffs)
    want = build_training_table(*ds[:2], ChurnConfig(), cutoffs, ds.order_items)
    assert_same_table(got, want)
    assert got.dtypes.to_dict() == want.dtypes.to_dict() and len(got) == len(want) > 2000
    assert_same_table(spark_features(spark), build_features(*ds[:2], order_items=ds.order_items))
    cfg = ChurnConfig(gap_days=14, horizon_days=60, active_days=180)
    cuts = default_cutoffs(ds.orders, cfg, n=2)
    assert_same_table(spark_training_table(spark, cfg, cuts), build_training_table(*ds[:2], cfg, cuts, ds.order_items))
    facts = spark_facts(spark)
    assert facts == dict(customers=len(ds.customers), orders=len(ds.orders),
                         first_order=ds.orders.order_date.min(), end=ds.orders.order_date.max().normalize() + pd.Timedelta(days=1))

def test_parity_on_the_tiny_shop(spark, tmp_path):
    hand = tiny_shop()
    save_dataset(hand, tmp_path)
    for cfg in (ChurnConfig(cutoff='2024-07-01'), ChurnConfig(cutoff='2024-07-01', gap_days=14, horizon_days=60, active_days=500)):
        got = spark_training_table(f'spark:{tmp_path}', cfg)
        assert_same_table(got, build_training_table(*hand[:2], cfg, order_items=hand.order_items))
    assert spark_training_table(spark, ChurnConfig(cutoff='2024-07-01')).churned.tolist() == [0, 1, 0, 1]
    with pytest.raises(Exception, match='so its customers are censored, not churned'):
        spark_training_table(spark, ChurnConfig(cutoff='2024-10-01'))
    # the check can fail: the one-pass plan with a 30-day window one day short differs on this shop
    from mirador_churn.sql import training_dtypes
    read_parquet_tables(spark, str(tmp_path))
    sql = spark_table_sql(ChurnConfig(), ['2024-07-01'], _categories(spark, 't'))
    assert '<= 30 THEN' in sql
    off = training_dtypes(_collect(spark, sql.replace('<= 30 THEN', '< 30 THEN'), 't'), True)
    with pytest.raises(AssertionError, match='total_revenue_30d'):
        assert_same_table(off, build_training_table(*hand[:2], ChurnConfig(cutoff='2024-07-01'), order_items=hand.order_items))

def test_categories_quoted_missing_and_many(spark, tmp_path):
    "Categories with quotes and backslashes, missing ones, and more than one 64-bit word of them"
    hand = tiny_shop()
    items = hand.order_items.copy()
    names = [f"cat {i}" for i in range(70)] + ["it's", 'back\\slash', None]
    items['category'] = pd.array([names[i % len(names)] for i in range(len(items))], dtype='string')
    more = items.sample(n=200, replace=True, random_state=0).assign(category=pd.array([names[i % 73] for i in range(200)], dtype='string'))
    shop = hand._replace(order_items=pd.concat([items, more], ignore_index=True))
    save_dataset(shop, tmp_path)
    read_parquet_tables(spark, str(tmp_path))
    assert len(_categories(spark, 't')) == 72
    cfg = ChurnConfig(cutoff='2024-07-01')
    got = spark_training_table(spark, cfg)
    want = build_training_table(*shop[:2], cfg, order_items=shop.order_items)
    assert_same_table(got, want)
    assert want.cart_diversity.max() > 1   # distinct counts above one: the masks are exercised

def test_tables_written_by_spark_and_without_items(spark, tmp_path):
    "NAME/ folders of part files with microsecond timestamps (as Spark writes them); no order_items table"
    hand = tiny_shop()
    save_dataset(hand, tmp_path / 'pandas')
    read_parquet_tables(spark, str(tmp_path / 'pandas'))
    for name in ('customers', 'orders'): spark.table(name).repartition(2).write.parquet(str(tmp_path / 'spark' / name))
    assert sorted(os.listdir(tmp_path / 'spark')) == ['customers', 'orders']
    cfg = ChurnConfig(cutoff='2024-07-01')
    got = spark_training_table(f'spark:{tmp_path}/spark', cfg)
    assert_same_table(got, build_training_table(*hand[:2], cfg))
    assert (got.cart_diversity == 0).all()

def test_scores_on_the_executors_equal_churn_scorer(spark, shop, tmp_path):
    from mirador_churn.export import export_onnx
    from mirador_churn.model import TrainConfig, train_model
    from mirador_churn.scoring import ChurnScorer
    ds, d = shop
    table = spark_training_table(f'spark:{d}', ChurnConfig(), default_cutoffs(ds.orders, n=4))
    train, valid, _ = time_split(table)
    model, _ = train_model(train, valid, TrainConfig(max_epochs=3), progress=False)
    export_onnx(model, tmp_path / 'model.onnx')
    frame = spark_feature_frame(spark).repartition(3)   # several partitions: several batches and tasks
    got = spark_scores(frame, tmp_path / 'model.onnx', keep=['customer_id']).toArrow().to_pandas().sort_values('customer_id')
    feats = spark_features(spark)
    want = ChurnScorer.load(tmp_path / 'model.onnx').predict_proba(feats)
    assert got.customer_id.tolist() == feats.customer_id.tolist() and len(got) > 500
    assert got.churn_probability.dtype == np.float32 and np.array_equal(got.churn_probability.to_numpy(), want)
    assert got.churn_probability.std() > 0   # not a constant: the check can fail
    with pytest.raises(DatabaseError, match='lacks the feature columns cart_diversity'):
        spark_scores(frame.drop('cart_diversity'), tmp_path / 'model.onnx')

def test_bad_sources(spark, tmp_path):
    with pytest.raises(DatabaseError, match=f'spark:{tmp_path}/nowhere: no such folder'):
        spark_training_table(f'spark:{tmp_path}/nowhere')
    save_dataset(tiny_shop(), tmp_path / 'shop')
    (tmp_path / 'shop' / 'orders.parquet').unlink()
    with pytest.raises(DatabaseError, match=r'table orders is missing in spark:.* \(tables found: customers, order_items\)'):
        spark_features(f'spark:{tmp_path}/shop')
    save_dataset(tiny_shop(), tmp_path / 'shop')
    read_parquet_tables(spark, str(tmp_path / 'shop'))
    spark.table('orders').drop('amount').createOrReplaceTempView('orders')
    with pytest.raises(DatabaseError, match="orders: missing required column 'amount' in the Spark session"):
        spark_features(spark)
    with pytest.raises(DatabaseError, match='expected a spark:PATH URL or a SparkSession'):
        spark_features('not a source')

def test_one_pass_plan(spark, shop):
    "Shuffles of narrow rows only, no Python on the hot path; the plan holds one aggregate per customer"
    ds, d = shop
    read_parquet_tables(spark, str(d))
    spark.conf.set('spark.sql.autoBroadcastJoinThreshold', '-1')
    try: plan = plan_outline(spark_training_frame(spark, ChurnConfig(), default_cutoffs(ds.orders, n=4)), width=400)
    finally: spark.conf.unset('spark.sql.autoBroadcastJoinThreshold')
    exchanges = [l for l in plan.splitlines() if 'Exchange hashpartitioning' in l]
    assert len(exchanges) == 4, plan
    assert not any(k in plan for k in ('PythonUDF', 'BatchEvalPython', 'ArrowEvalPython')), plan
    assert plan.count('Scan parquet') == 3 and plan.count('HashAggregate(keys=[customer_id') == 1, plan

def test_outputs_in_the_lake_and_the_sample(spark, shop, tmp_path):
    ds, d = shop
    cutoffs = default_cutoffs(ds.orders, n=4)
    want = build_training_table(*ds[:2], ChurnConfig(), cutoffs, ds.order_items)
    path = spark_write_table(spark_training_frame(f'spark:{d}', ChurnConfig(), cutoffs), f'spark:{tmp_path}/table')
    back = pd.read_parquet(path)
    from mirador_churn.sql import training_dtypes
    assert_same_table(training_dtypes(back.drop(columns='cutoff_date'), True), want)
    assert len(list(Path(path).glob('cutoff_date=*/*.parquet'))) >= 4
    with pytest.raises(Exception, match='exists; pass replace=True'):
        spark_write_table(spark_training_frame(spark, ChurnConfig(), cutoffs), path)
    (tmp_path / 'mine').mkdir(); (tmp_path / 'mine' / 'notes.txt').write_text('keep me')
    with pytest.raises(Exception, match='not written by Spark'):
        spark_write_table(spark_training_frame(spark, ChurnConfig(), cutoffs), tmp_path / 'mine', replace=True)
    assert (tmp_path / 'mine' / 'notes.txt').read_text() == 'keep me'
    whole, info = spark_training_sample(spark, ChurnConfig(), cutoffs)
    assert_same_table(whole, want)
    assert info == dict(rows=len(want), sampled=len(want), rate=1.0)
    part, info = spark_training_sample(spark, ChurnConfig(), cutoffs, max_rows=800, seed=1)
    assert 600 < info['sampled'] <= 800 < info['rows'] == len(want)
    assert_same_table(part, want.merge(part[['customer_id', 'cutoff']]))
    rate = part.groupby('cutoff').size() / want.groupby('cutoff').size()
    assert ((rate - info['rate']).abs() < 0.1).all(), rate   # every cutoff at about the same rate
    other, _ = spark_training_sample(spark, ChurnConfig(), cutoffs, max_rows=800, seed=2)
    assert not other[['customer_id', 'cutoff']].equals(part[['customer_id', 'cutoff']])   # the seed decides the rows
    with pytest.raises(Exception, match='max_rows must be positive'):
        spark_training_sample(spark, ChurnConfig(), cutoffs, max_rows=0)

# --- the Source contract (05b_source) on Spark, and the commands that take spark:DIR through it ---------------------

def test_source_contract_on_spark(spark, shop):
    "SparkSource answers what the in-memory engine answers on the seed-42 shop; a sample past its bound says so"
    from mirador_churn.source import FrameSource, check_source, open_source, source_problems
    ds, d = shop
    with open_source(f'spark:{d}') as src:
        check_source(src, FrameSource(ds))
        check_source(src, FrameSource(ds), ChurnConfig(gap_days=14, horizon_days=60, active_days=180))
        assert src.description == f'Spark spark:{d}' and src.sample['rate'] == 1
    small = open_source(f'spark:{d}')
    small.max_rows = 500
    table = small.training_table(ChurnConfig(), default_cutoffs(ds.orders, n=2))
    assert len(table) <= 500 and small.sample['rate'] < 1 and 'a sample of' in small.description
    assert source_problems(small, FrameSource(ds))[0].startswith('training table: other customers')   # the check can fail

def _small_spark_shop(tmp_path):
    "A 600-customer shop as Parquet, a model trained on it and registered in a local SQLite store"
    from conftest import run, tool
    save_dataset(generate_synthetic(600, 6000, 42), tmp_path / 'data')
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run([tool('churn_train'), '--data-source', str(tmp_path / 'data'), '--output', str(tmp_path / 'out'), '--quiet',
         '--max-epochs', '30', '--tracking-uri', store], cwd=tmp_path)
    return store, {'PYSPARK_PYTHON': os.sys.executable, 'MIRADOR_SPARK_MASTER': 'local[2]'}

def test_churn_monitor_and_churn_promote_take_spark(tmp_path):
    "churn_monitor and churn_promote on --data spark:DIR: the folder's report and the folder's decision"
    import json
    from conftest import run, tool
    store, env = _small_spark_shop(tmp_path)
    reports = {}
    for name, data in (('folder', str(tmp_path / 'data')), ('spark', f'spark:{tmp_path / "data"}')):
        r = run([tool('churn_monitor'), '--model', 'out/model.onnx', '--data', data, '--days', '3', '--no-track',
                 '--output', f'mon_{name}'], cwd=tmp_path, env=env, check=False)
        assert r.returncode in (0, 1) and 'Traceback' not in r.stderr, r.stderr[-3000:]
        reports[name] = json.loads((tmp_path / f'mon_{name}' / 'monitor.json').read_text())
    a, b = reports['folder'], reports['spark']
    assert a['current']['quality'] == b['current']['quality'] and a['verdict'] == b['verdict'] and 'sample' not in b
    for x, y in zip(a['series'] + a['cohorts'], b['series'] + b['cohorts']):
        assert x['date'] == y['date'] and x['n_customers'] == y['n_customers'], (x, y)
        for k in ('score_psi', 'estimated_auc', 'estimated_churn_rate', 'max_feature_psi'):
            assert abs(x[k] - y[k]) < 1e-6, (k, x, y)
    decisions = {}
    for name, data in (('folder', str(tmp_path / 'data')), ('spark', f'spark:{tmp_path / "data"}')):
        r = run([tool('churn_promote'), '--data', data, '--tracking-uri', store, '--dry-run', '--output', 'promo'],
                cwd=tmp_path, env=env, check=False)
        assert r.returncode in (0, 1) and 'Traceback' not in r.stderr, r.stderr[-3000:]
        decisions[name] = r.stdout
    assert 'contract' in decisions['spark'] and decisions['spark'] == decisions['folder']
