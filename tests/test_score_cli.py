"churn_score in a subprocess, on real Parquet data and a real ONNX file (or the MLflow registry), against ChurnScorer and PyTorch."
import sys
import numpy as np, pandas as pd, pytest
from conftest import run, tool
from mirador_churn.data import generate_synthetic, save_dataset
from mirador_churn.export import export_onnx, onnx_metadata
from mirador_churn.features import FEATURES, ChurnConfig, build_features, build_training_table, default_cutoffs, time_split
from mirador_churn.model import TrainConfig, evaluate, predict_proba, train_model
from mirador_churn.scoring import ChurnScorer

COLUMNS = ['customer_id', 'email', 'cutoff', 'churn_probability', 'model_version', *FEATURES,   # PLAN.md interface 4
           'name', 'channel', 'city', 'revenue_365d', 'value_at_risk']                        # the working list's (issue 23)

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp('score')
    ds = generate_synthetic()
    save_dataset(ds, d / 'data')
    cfg, cutoffs = ChurnConfig(), default_cutoffs(ds.orders, n=4)
    train, valid, test = time_split(build_training_table(*ds[:2], cfg, cutoffs, ds.order_items), cfg)
    model, _ = train_model(train, valid, TrainConfig(max_epochs=40), progress=False)
    metrics = evaluate(test.churned, predict_proba(model, test))
    path = export_onnx(model, d / 'model.onnx', onnx_metadata(model, cfg, TrainConfig(), cutoffs, metrics))
    return d, ds, model, path

def score(path, data, output, *args, check=True):
    return run([tool('churn_score'), '--model', str(path), '--data', str(data), '--output', str(output), *args], check=check)

def test_churn_score_writes_the_scores_table(trained):
    d, ds, model, path = trained
    r = score(path, d / 'data', d / 'scores.parquet')
    scores = pd.read_parquet(d / 'scores.parquet')
    feats = build_features(ds.customers, ds.orders, None, ds.order_items)       # default cutoff: the end of the data
    assert list(scores.columns) == COLUMNS
    assert scores.customer_id.tolist() == feats.customer_id.tolist() and scores.customer_id.is_monotonic_increasing
    assert scores.customer_id.dtype == np.int64 and scores.churn_probability.dtype == np.float32
    assert str(scores.cutoff.dtype).startswith('datetime64') and (scores.cutoff == feats.cutoff.iloc[0]).all()
    assert (scores.model_version == ChurnScorer.load(path).metadata['model_version']).all()
    emails = ds.customers.set_index('customer_id').email.loc[scores.customer_id]
    assert scores.email.fillna('').tolist() == emails.fillna('').str.strip().tolist()
    np.testing.assert_array_equal(scores[list(FEATURES)].to_numpy(), feats[list(FEATURES)].to_numpy())
    assert len(scores) > 700
    assert np.abs(scores.churn_probability.to_numpy() - ChurnScorer.load(path).predict_proba(feats)).max() <= 1e-6
    assert np.abs(scores.churn_probability.to_numpy() - predict_proba(model, feats)).max() <= 1e-6
    # the summary: how many were scored, how many were not and why, adding up to all customers
    first, second = r.stdout.splitlines()[:2]
    assert first.startswith(f"scored {len(scores):,} of {len(ds.customers):,} customers at ")
    counts = [int(n.replace(',', '')) for n in __import__('re').findall(r'([\d,]+) (?:with no order|signed up)', second)]
    assert second.startswith('not eligible, not scored: ') and sum(counts) == len(ds.customers) - len(scores), second
    assert 'models:/mirador-churn@champion' in r.stdout, 'a local file must not be taken for the champion'
    # the working list's columns: the customer's own text, trailing revenue, and value at risk = probability x revenue
    known = ds.customers.set_index('customer_id').loc[scores.customer_id]
    for c in ('name', 'channel', 'city'): assert scores[c].fillna('').tolist() == known[c].fillna('').str.strip().tolist(), c
    assert (scores.revenue_365d == scores.total_revenue_365d).all()
    np.testing.assert_allclose(scores.value_at_risk, scores.churn_probability.astype(float) * scores.revenue_365d, rtol=1e-6)
    assert scores.value_at_risk.max() > 0 and not scores.value_at_risk.isna().any()

def test_churn_score_keeps_a_bounded_history(trained, tmp_path):
    "Each run lands in NAME.history beside the output, newest --history runs kept; --history 0 keeps none"
    d, ds, model, path = trained
    for at in ('2025-06-30', '2025-09-30', '2025-12-31'): score(path, d / 'data', tmp_path / 'scores.parquet', '--cutoff', at, '--history', '2')
    kept = sorted(p.name for p in (tmp_path / 'scores.history').iterdir())
    assert [k[:10] for k in kept] == ['2025-09-30', '2025-12-31'], kept          # the oldest run is gone
    last = pd.read_parquet(tmp_path / 'scores.history' / kept[-1])
    now = pd.read_parquet(tmp_path / 'scores.parquet')
    assert list(last.columns) == ['customer_id', 'cutoff', 'churn_probability', 'value_at_risk', 'days_since_last_order', 'model_version']
    assert last.customer_id.tolist() == now.customer_id.tolist() and (last.churn_probability == now.churn_probability).all()
    score(path, d / 'data', tmp_path / 'none.parquet', '--history', '0')
    assert not (tmp_path / 'none.history').exists()
    r = score(path, d / 'data', tmp_path / 'bad.parquet', '--history', '-1', check=False)
    assert r.returncode == 2 and r.stderr.strip() == 'churn_score: error: --history -1: expected 0 (no history) or more runs to keep', r.stderr
    assert not (tmp_path / 'bad.parquet').exists()

def test_churn_score_at_a_cutoff_and_as_csv(trained):
    d, ds, model, path = trained
    score(path, d / 'data', d / 'at.parquet', '--cutoff', '2025-06-30')
    expected = build_features(ds.customers, ds.orders, '2025-06-30', ds.order_items).customer_id.tolist()
    assert pd.read_parquet(d / 'at.parquet').customer_id.tolist() == expected
    score(path, d / 'data', d / 'at.csv', '--cutoff', '2025-06-30')
    csv, parquet = pd.read_csv(d / 'at.csv'), pd.read_parquet(d / 'at.parquet')
    assert list(csv.columns) == COLUMNS and csv.customer_id.tolist() == expected
    assert np.abs(csv.churn_probability.to_numpy() - parquet.churn_probability.to_numpy()).max() <= 1e-6
    assert pd.to_datetime(csv.cutoff).eq(pd.Timestamp('2025-06-30')).all()

@pytest.mark.parametrize('args, message', [
    (['--cutoff', '1999-01-01'], 'cutoff 1999-01-01 is not after the first order'),
    (['--cutoff', 'tomorrow'], "got 'tomorrow'"),
    (['--cutoff', '3000-01-01'], "cutoff '3000-01-01' is outside the years"),   # beyond what a timestamp holds
], ids=['before-the-data', 'garbage', 'year-3000'])
def test_a_bad_cutoff_is_one_line_and_exit_2(trained, tmp_path, args, message):
    d, ds, model, path = trained
    (tmp_path / 'out.parquet').write_bytes(b'previous scores')
    r = score(path, d / 'data', tmp_path / 'out.parquet', *args, check=False)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith('churn_score: error: ') and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (tmp_path / 'out.parquet').read_bytes() == b'previous scores', 'a failed run must leave the previous file alone'

def test_a_cutoff_with_a_time_zone_is_the_same_instant_in_utc(trained, tmp_path):
    "The data's times are naive UTC: 2025-06-30T00:00+02:00 is 2025-06-29 22:00 there"
    d, ds, model, path = trained
    r = score(path, d / 'data', tmp_path / 'tz.parquet', '--cutoff', '2025-06-30T00:00+02:00')
    scores = pd.read_parquet(tmp_path / 'tz.parquet')
    assert (scores.cutoff == pd.Timestamp('2025-06-29 22:00')).all() and 'at 2025-06-29 22:00:00' in r.stdout
    expected = build_features(ds.customers, ds.orders, '2025-06-29 22:00', ds.order_items)
    assert scores.customer_id.tolist() == expected.customer_id.tolist()

def test_churn_score_errors_are_one_line_and_write_nothing(trained, tmp_path):
    d, ds, model, path = trained
    (tmp_path / 'bad.onnx').write_bytes(b'\x00garbage')
    cases = [(['--model', str(tmp_path / 'bad.onnx'), '--data', str(d / 'data')], 'bad.onnx: not a loadable ONNX model'),
             (['--model', str(path), '--data', str(tmp_path / 'nowhere')], 'nowhere: no such folder'),
             # the output format is checked before anything else: the model here does not even exist
             (['--model', str(tmp_path / 'missing.onnx'), '--data', str(d / 'data'), '--output', str(tmp_path / 'out.xlsx')],
              'unknown format .xlsx; name a .parquet or .csv file')]
    for args, message in cases:
        if '--output' not in args: args = [*args, '--output', str(tmp_path / 'out.parquet')]
        r = run([tool('churn_score'), *args], check=False)
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith('churn_score: error: ') and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ['bad.onnx'], 'nothing may be written on an error'

def test_the_scoring_modules_do_not_import_torch():
    "A scoring host needs no PyTorch, MLflow, Spark or SQL driver: the command's module, ChurnScorer's and the top level"
    for code in ["import mirador_churn.cli", "import mirador_churn.scoring",
                 "import mirador_churn as m; m.ChurnScorer, m.build_features, m.load_dataset, m.generate_synthetic"]:
        heavy = ('torch', 'mlflow', 'pyspark', 'duckdb', 'psycopg')
        check = f"{code}; import sys; print(sorted(n for n in {heavy} if n in sys.modules))"
        assert run([sys.executable, '-c', check]).stdout == '[]\n', code

def test_the_top_level_api_is_lazy():
    code = ("import sys, mirador_churn as m; assert m.__doc__ and 'torch' not in sys.modules; "
            "from mirador_churn.scoring import ChurnScorer; from mirador_churn.features import build_features; "
            "assert m.ChurnScorer is ChurnScorer and m.build_features is build_features and 'torch' not in sys.modules; "
            "t = m.train; assert 'torch' in sys.modules and callable(t) and 'train' in dir(m); print(m.__doc__.splitlines()[0])")
    assert 'churn' in run([sys.executable, '-c', code]).stdout
    r = run([sys.executable, '-c', 'import mirador_churn as m; m.no_such_name'], check=False)
    assert r.returncode == 1 and "has no attribute 'no_such_name'" in r.stderr

def test_every_top_level_name_resolves():
    "Each name of __all__ comes from the module the table names, so `from mirador_churn import *` works"
    code = ("import mirador_churn as m, importlib; from mirador_churn import *; "
            "bad = [n for n in m.__all__ if getattr(m, n) is not getattr(importlib.import_module('mirador_churn.' + m._LAZY[n]), n, None)]; "
            "print(bad)")
    assert run([sys.executable, '-c', code]).stdout == '[]\n'

@pytest.fixture(scope='module')
def registry(trained, tmp_path_factory):
    "A local MLflow store with two registered versions: 1 is @champion, 2 is @candidate"
    import mlflow
    from mlflow import MlflowClient
    d, ds, model, path = trained
    store = tmp_path_factory.mktemp('registry')
    uri = f"sqlite:///{store}/mlflow.db"
    # this store for tracking and registry alike: an earlier test's MLflow calls may have pinned another registry
    mlflow.set_tracking_uri(uri); mlflow.set_registry_uri(uri)
    mlflow.set_experiment('score-cli')
    client, versions = MlflowClient(uri, registry_uri=uri), []
    client.create_registered_model('mirador-churn')
    for i in range(2):
        with mlflow.start_run() as r:
            mlflow.log_artifact(str(path), artifact_path='model')
            source = mlflow.get_artifact_uri('model')
        versions.append(client.create_model_version('mirador-churn', source, run_id=r.info.run_id).version)
    client.set_registered_model_alias('mirador-churn', 'champion', versions[0])
    client.set_registered_model_alias('mirador-churn', 'candidate', versions[1])
    mlflow.set_tracking_uri(None); mlflow.set_registry_uri(None)
    return uri

@pytest.mark.parametrize('uri', ['models:/mirador-churn@champion', 'models:/mirador-churn@candidate', 'models:/mirador-churn/2'])
def test_churn_score_with_a_registry_model(trained, registry, tmp_path, uri):
    d, ds, model, path = trained
    r = score(uri, d / 'data', tmp_path / 'scores.parquet', '--tracking-uri', registry)
    scores = pd.read_parquet(tmp_path / 'scores.parquet')
    feats = build_features(ds.customers, ds.orders, None, ds.order_items)
    assert np.abs(scores.churn_probability.to_numpy() - ChurnScorer.load(path).predict_proba(feats)).max() <= 1e-6
    assert f"({uri})" in r.stdout and 'local file' not in r.stdout

def test_an_unknown_registry_alias_is_one_line(trained, registry, tmp_path):
    d, ds, model, path = trained
    r = score('models:/mirador-churn@nonesuch', d / 'data', tmp_path / 'scores.parquet', '--tracking-uri', registry, check=False)
    assert r.returncode == 2 and r.stderr.startswith('churn_score: error: ') and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / 'scores.parquet').exists()

def test_churn_score_on_spark(trained, tmp_path):
    "`--data spark:DIR`: the same scores table, the features computed by Spark SQL (local mode)"
    import os, shutil
    if not shutil.which('java'):
        if os.environ.get('CI'): pytest.fail('java is missing: .ci/system.sh must install a JRE', pytrace=False)
        pytest.skip('no Java: install a JRE (e.g. openjdk-17-jre-headless) to score on Spark')
    d, ds, model, path = trained
    env = {'PYSPARK_PYTHON': sys.executable, 'MIRADOR_SPARK_MASTER': 'local[2]'}
    r = run([tool('churn_score'), '--model', str(path), '--data', f'spark:{d / "data"}', '--output', str(tmp_path / 's.parquet'),
             '--cutoff', '2025-06-30'], env=env)
    score(path, d / 'data', tmp_path / 'p.parquet', '--cutoff', '2025-06-30')
    on_spark, local = pd.read_parquet(tmp_path / 's.parquet'), pd.read_parquet(tmp_path / 'p.parquet')
    assert list(on_spark.columns) == COLUMNS and on_spark.customer_id.tolist() == local.customer_id.tolist()
    assert on_spark.email.fillna('').tolist() == local.email.fillna('').tolist()
    assert np.abs(on_spark.churn_probability.to_numpy() - local.churn_probability.to_numpy()).max() <= 1e-5
    assert r.stdout.splitlines()[0].startswith(f"scored {len(local):,} of {len(ds.customers):,} customers at 2025-06-30")

def test_churn_score_writes_the_lake_on_spark(trained, tmp_path):
    """`--output spark:DIR`: the executors write the scores table as Parquet, the same as the file path's first columns;
    a spark: output needs a spark: source and a local folder (exit 2, one line each)"""
    import os, shutil
    if not shutil.which('java'):
        if os.environ.get('CI'): pytest.fail('java is missing: .ci/system.sh must install a JRE', pytrace=False)
        pytest.skip('no Java: install a JRE (e.g. openjdk-17-jre-headless) to score on Spark')
    d, ds, model, path = trained
    env = {'PYSPARK_PYTHON': sys.executable, 'MIRADOR_SPARK_MASTER': 'local[2]'}
    r = run([tool('churn_score'), '--model', str(path), '--data', f'spark:{d / "data"}', '--output', f'spark:{tmp_path / "lake"}',
             '--cutoff', '2025-06-30'], env=env)
    score(path, d / 'data', tmp_path / 'p.parquet', '--cutoff', '2025-06-30')
    lake = pd.read_parquet(tmp_path / 'lake').sort_values('customer_id', ignore_index=True)
    local = pd.read_parquet(tmp_path / 'p.parquet')
    assert lake.customer_id.tolist() == local.customer_id.tolist()
    assert [c for c in lake.columns if c != 'cutoff_date'] == COLUMNS[:len(lake.columns) - 1]   # SCORE_COLUMNS, in order
    assert (lake.model_version == local.model_version).all() and (lake.email.fillna('') == local.email.fillna('')).all()
    assert np.abs(lake.churn_probability.to_numpy() - local.churn_probability.to_numpy()).max() <= 1e-5
    feats = [c for c in lake.columns if c in FEATURES]
    assert len(feats) == 8 and np.abs(lake[feats].to_numpy() - local[feats].to_numpy()).max() <= 1e-3
    assert 'written by the executors' in r.stdout and f"scored {len(local):,} of {len(ds.customers):,}" in r.stdout
    bad = run([tool('churn_score'), '--model', str(path), '--data', str(d / 'data'), '--output', f'spark:{tmp_path / "x"}'],
              check=False)
    assert bad.returncode == 2 and bad.stderr == f"churn_score: error: --output spark:{tmp_path / 'x'}: a spark: output needs --data spark:DIR\n"
    for out in ('spark:', 'spark:s3a://bucket/scores/'):   # no folder; a remote folder, which could hold anything
        bad = run([tool('churn_score'), '--model', str(path), '--data', f'spark:{d / "data"}', '--output', out], check=False)
        assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and bad.stderr.startswith('churn_score: error: --output'), bad.stderr
