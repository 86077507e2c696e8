"""churn_monitor in a subprocess: exit statuses on undrifted and drifted data, the files it writes, one-line errors,
its metrics on a real MLflow server, and the same report from DuckDB and PostgreSQL."""
import importlib.util, json, os
from pathlib import Path
import pytest
from conftest import free_port, run, serve_mlflow, tool

SHOP = dict(n_customers=1500, n_orders=15_000, seed=42)   # the shop churn_train --n-customers 1500 trains on
FILES = ['drift.png', 'health.png', 'monitor.json']

@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    "A real tracking server; a model trained and registered on it by churn_train; the undrifted and drifted shops"
    from mirador_churn.data import Drift, generate_synthetic, save_dataset
    d = tmp_path_factory.mktemp('monitor')
    save_dataset(generate_synthetic(**SHOP), d / 'shop')
    save_dataset(generate_synthetic(**SHOP, drift=Drift('2025-11-01', price_rise=0.3, churn_wave=0.35)), d / 'drifted')
    from mirador_churn.sql import Database, write_tables
    with Database(f"duckdb:///{d / 'shop.duckdb'}", create=True) as db: write_tables(db, generate_synthetic(**SHOP))
    with serve_mlflow(d) as (url, _):
        run([tool('churn_train'), '--n-customers', '1500', '--max-epochs', '60', '--quiet', '--output', str(d / 'out'),
             '--tracking-uri', url], cwd=d)
        yield d, url

def monitor(d, *args, check=False):
    return run([tool('churn_monitor'), *args], cwd=d, check=check)

def test_undrifted_exits_0_drifted_exits_1(setup):
    d, _ = setup
    r = monitor(d, '--model', 'out/model.onnx', '--data', 'shop', '--output', 'ok', '--no-track')
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (d / 'ok').iterdir()) == FILES
    report = json.loads((d / 'ok' / 'monitor.json').read_text())
    assert report['verdict'] == 'ok' and report['breaches'] == [] and 'verdict: ok' in r.stdout
    assert len(report['series']) == 30 and report['series'][-1]['date'] == report['generated_at'] == '2026-01-01'
    r = monitor(d, '--model', 'out/model.onnx', '--data', 'drifted', '--output', 'bad', '--no-track')
    assert r.returncode == 1, r.stderr
    report = json.loads((d / 'bad' / 'monitor.json').read_text())
    assert report['verdict'] == 'breached' and 'verdict: breached' in r.stdout
    assert any(b.startswith('days_since_last_order: PSI') for b in report['breaches']), report['breaches']
    assert sorted(p.name for p in (d / 'bad').iterdir()) == FILES   # nothing else, no temporary files left
    ok = json.loads((d / 'ok' / 'monitor.json').read_text())['accuracy_apdex']
    for a in ok, report['accuracy_apdex']:   # 30 daily cohorts, all matured: the key the service reads
        assert list(a) == ['value', 'satisfied', 'tolerating', 'frustrated', 'cohorts', 'basis', 'target', 'floor'], a
        assert (a['cohorts'], a['basis'], a['target'], a['floor']) == (30, 'realized', 0.85, 0.6), a
        assert a['satisfied'] + a['tolerating'] + a['frustrated'] == 30
        assert a['value'] == (a['satisfied'] + a['tolerating'] / 2) / 30, a
    assert report['accuracy_apdex']['value'] < ok['value'], (report['accuracy_apdex'], ok)
    assert 'accuracy Apdex' in r.stdout

def test_weekly_series(setup):
    d, _ = setup
    r = monitor(d, '--model', 'out/model.onnx', '--data', 'shop', '--output', 'weekly', '--days', '91', '--weekly',
                '--no-track')
    assert r.returncode == 0, r.stderr
    report = json.loads((d / 'weekly' / 'monitor.json').read_text())
    dates = [s['date'] for s in report['series']]
    assert report['frequency'] == 'weekly' and len(dates) == 13
    assert dates[-1] == '2026-01-01' and dates[0] == '2025-10-09'

def test_bad_input_one_line_exit_2(setup, tmp_path):
    d, _ = setup
    from mirador_churn.scoring import ChurnScorer
    import onnx
    proto = onnx.load(str(d / 'out' / 'model.onnx'))
    kept = [p for p in proto.metadata_props if p.key != 'reference_profile']
    del proto.metadata_props[:]; proto.metadata_props.extend(kept)
    onnx.save(proto, str(tmp_path / 'bare.onnx'))
    assert 'reference_profile' not in ChurnScorer.load(tmp_path / 'bare.onnx').metadata
    (tmp_path / 'monitor.json').write_text('{"verdict": "ok"}')   # an earlier report: must survive a failed run
    good, shop = str(d / 'out' / 'model.onnx'), str(d / 'shop')
    bare = str(tmp_path / 'bare.onnx')
    for args, message in [(['--model', bare, '--data', shop], 'no reference_profile in the model metadata'),
                          (['--model', good, '--data', str(tmp_path / 'nowhere')], 'no such folder'),
                          (['--model', str(tmp_path / 'missing.onnx'), '--data', shop], 'no such file'),
                          (['--model', good, '--data', shop, '--days', '0'], 'days must be at least 1'),
                          (['--model', good, '--data', shop, '--target_auc', '0.5'],
                           'need min_realized_auc <= target_auc, got 0.6 and 0.5')]:
        r = monitor(tmp_path, *args, '--output', str(tmp_path), '--no-track')
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
        assert (tmp_path / 'monitor.json').read_text() == '{"verdict": "ok"}'

def test_metrics_on_a_real_tracking_server(setup):
    from mlflow import MlflowClient
    d, url = setup
    r = monitor(d, '--model', 'models:/mirador-churn@candidate', '--data', 'drifted', '--output', 'tracked',
                '--tracking-uri', url)
    assert r.returncode == 1, r.stderr
    report = json.loads((d / 'tracked' / 'monitor.json').read_text())
    c = MlflowClient(url, url)
    exp = c.get_experiment_by_name('mirador-churn-monitoring')
    [mon] = c.search_runs([exp.experiment_id])
    assert mon.info.status == 'FINISHED'
    assert mon.data.tags['verdict'] == 'breached' and mon.data.tags['registered_model_version'] == '1'
    assert mon.data.tags['model_version'] == report['model_version']
    assert mon.data.params['model'] == 'models:/mirador-churn@candidate'
    import pandas as pd
    history = sorted(c.get_metric_history(mon.info.run_id, 'score_psi'), key=lambda m: m.step)
    assert [m.step for m in history] == list(range(30))
    assert [round(m.value, 12) for m in history] == [round(s['score_psi'], 12) for s in report['series']]
    assert [m.timestamp for m in history] == [pd.Timestamp(s['date']).value // 10**6 for s in report['series']]
    assert mon.data.metrics['breached'] == 1.0 and 'psi_days_since_last_order' in mon.data.metrics
    assert mon.data.metrics['accuracy_apdex'] == report['accuracy_apdex']['value']
    assert mon.data.params['target_auc'] == '0.85'
    assert len(c.get_metric_history(mon.info.run_id, 'cohort_realized_auc')) == 30
    assert sorted(a.path for a in c.list_artifacts(mon.info.run_id)) == FILES
    assert c.get_model_version('mirador-churn', '1').tags['monitor_verdict'] == 'breached 2026-01-01'

def test_unreachable_tracking_server_degrades(setup, tmp_path):
    d, _ = setup
    r = monitor(tmp_path, '--model', str(d / 'out' / 'model.onnx'), '--data', str(d / 'shop'), '--output', 'out',
                '--tracking-uri', f'http://127.0.0.1:{free_port()}')
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == FILES
    warnings = [l for l in r.stderr.splitlines() if 'MLflow tracking' in l]
    assert len(warnings) == 1 and 'unreachable' in warnings[0], r.stderr

def test_database_url_gives_the_folder_report(setup):
    d, _ = setup
    for data, out in (('shop', 'from_folder'), (f"duckdb:///{d / 'shop.duckdb'}", 'from_duckdb')):
        r = monitor(d, '--model', 'out/model.onnx', '--data', data, '--output', out, '--days', '3', '--no-track')
        assert r.returncode == 0, r.stderr
    a, b = (json.loads((d / o / 'monitor.json').read_text()) for o in ('from_folder', 'from_duckdb'))
    assert a['current']['quality'] == b['current']['quality'] and a['verdict'] == b['verdict']
    for x, y in zip(a['series'] + a['cohorts'], b['series'] + b['cohorts']):
        assert x['date'] == y['date'] and x['n_customers'] == y['n_customers'], (x, y)
        for k in ('score_psi', 'estimated_auc', 'estimated_churn_rate', 'max_feature_psi'):
            assert abs(x[k] - y[k]) < 1e-9, (k, x, y)

def test_postgresql_url_gives_the_folder_report(setup):
    "The monitor inside PostgreSQL (features, labels and input quality in SQL) matches the folder's report"
    url = os.environ.get('MIRADOR_POSTGRES_URL')   # .ci/run starts PostgreSQL and sets it
    if not url:
        if os.environ.get('CI'): pytest.fail('MIRADOR_POSTGRES_URL is not set: .ci/run must start PostgreSQL')
        pytest.skip('no PostgreSQL: set MIRADOR_POSTGRES_URL=postgresql://user:password@127.0.0.1:5432/db')
    import uuid
    from mirador_churn.data import generate_synthetic
    from mirador_churn.sql import Database, write_tables
    d, _ = setup
    name = f"monitor_{uuid.uuid4().hex[:8]}"
    with Database(url) as admin: admin.con.execute(f'CREATE DATABASE {name}')
    try:
        db_url = url.rsplit('/', 1)[0] + '/' + name
        with Database(db_url) as db: write_tables(db, generate_synthetic(**SHOP))
        args = ['--model', 'out/model.onnx', '--days', '3', '--no-track']
        r = monitor(d, *args, '--data', db_url, '--output', 'from_pg')
        assert r.returncode == 0, r.stderr
        assert url.split('@')[0].split(':')[-1] not in r.stdout + r.stderr   # the password is never printed
        r = monitor(d, *args, '--data', 'shop', '--output', 'from_folder3')
        assert r.returncode == 0, r.stderr
        a, b = (json.loads((d / o / 'monitor.json').read_text()) for o in ('from_folder3', 'from_pg'))
        assert a['current']['quality'] == b['current']['quality'] and a['verdict'] == b['verdict']
        for x, y in zip(a['series'] + a['cohorts'], b['series'] + b['cohorts']):
            assert x['date'] == y['date'] and x['n_customers'] == y['n_customers'], (x, y)
            for k in ('score_psi', 'estimated_auc', 'estimated_churn_rate', 'max_feature_psi'):
                assert abs(x[k] - y[k]) < 1e-9, (k, x, y)
    finally:
        with Database(url) as admin: admin.con.execute(f'DROP DATABASE {name} WITH (FORCE)')

def test_fresh_model_not_breached_on_its_own_test_period(setup):
    "The model churn_train just wrote: its reference is its test cutoff, and the current data does not breach its SLO"
    d, _ = setup
    test_cutoff = json.loads((d / 'out' / 'metrics.json').read_text())['cutoffs']['test']
    r = monitor(d, '--model', 'out/model.onnx', '--data', 'shop', '--days', '1', '--output', 'fresh', '--no-track')
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads((d / 'fresh' / 'monitor.json').read_text())
    assert report['verdict'] == 'ok' and report['reference']['cutoffs'] == [test_cutoff], report['reference']
    cohort = report['cohorts'][-1]   # the latest labelled cohort is the test cutoff itself
    assert cohort['date'] == test_cutoff
    assert abs(cohort['estimated_churn_rate'] - cohort['realized_churn_rate']) < 1e-6, cohort
    assert abs(cohort['estimated_auc'] - cohort['realized_auc']) < 0.03, cohort
    assert report['slo']['diagnostic_features'] == ['customer_lifetime_days', 'order_frequency']
    # the check can fail: the same model and data under a churn-rate band no model can meet
    r = monitor(d, '--model', 'out/model.onnx', '--data', 'shop', '--days', '1', '--output', 'strict',
                '--max_churn_rate_shift', '0', '--no-track')
    assert r.returncode == 1 and 'estimated churn rate' in r.stdout, r.stdout + r.stderr

needs_cdnow = pytest.mark.skipif(importlib.util.find_spec('lifetimes') is None,
                                 reason="CDNOW ships in the lifetimes package, which is not installed")

def cdnow_folder(d:Path)->Path:
    "CDNOW's customers.csv and orders.csv as a user would write them (the log from the lifetimes package)"
    from mirador_churn.data import read_cdnow
    (d / 'cdnow').mkdir(parents=True, exist_ok=True)
    for name, table in zip(('customers', 'orders'), read_cdnow()): table.to_csv(d / 'cdnow' / f'{name}.csv', index=False)
    return d / 'cdnow'

@needs_cdnow
def test_cdnow_fresh_model_not_breached_and_an_old_one_is(tmp_path):
    "CDNOW through churn_train: the fresh model passes its SLO on the current data; one trained 9 months earlier fails"
    data = cdnow_folder(tmp_path)
    for name, extra in (('fresh', []), ('old', ['--cutoff', '1997-10-04'])):
        run([tool('churn_train'), '--data-source', str(data), '--max-epochs', '12', '--quiet', '--no-track',
             '--output', str(tmp_path / name), *extra], cwd=tmp_path)
    r = monitor(tmp_path, '--model', 'fresh/model.onnx', '--data', str(data), '--days', '1', '--output', 'm_fresh',
                '--no-track')
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads((tmp_path / 'm_fresh' / 'monitor.json').read_text())
    cohort = report['cohorts'][-1]
    assert cohort['date'] == '1998-04-02' and report['reference']['cutoffs'] == ['1998-04-02'], cohort
    assert abs(cohort['estimated_auc'] - cohort['realized_auc']) < 0.03, cohort
    assert abs(cohort['estimated_churn_rate'] - cohort['realized_churn_rate']) < 0.03, cohort
    r = monitor(tmp_path, '--model', 'old/model.onnx', '--data', str(data), '--days', '1', '--output', 'm_old',
                '--no-track')
    assert r.returncode == 1, r.stdout + r.stderr
    assert 'days_since_last_order: PSI' in r.stdout, r.stdout
