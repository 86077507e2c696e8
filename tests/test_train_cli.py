"churn_train in a subprocess against a real `mlflow server`, and when no tracking server answers."
import contextlib, json, os, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import numpy as np, onnxruntime as ort, pytest
from conftest import run, tool

FILES = ['calibration.png', 'metrics.json', 'model.onnx', 'model_card.md', 'roc.png', 'training_curves.png']
FAST = ['--n-customers', '600', '--max-epochs', '60', '--quiet']   # a small shop: the whole command in seconds

def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@contextlib.contextmanager
def serve_mlflow(d:Path):
    "A real MLflow tracking server on 127.0.0.1: SQLite backend and artifact folder in `d`; stopped on exit"
    port = free_port()
    log = open(d / 'server.log', 'w')
    proc = subprocess.Popen([tool('mlflow'), 'server', '--host', '127.0.0.1', '--port', str(port), '--workers', '1',
                             '--backend-store-uri', f"sqlite:///{d}/mlflow.db", '--artifacts-destination', str(d / 'artifacts')],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, 'MLFLOW_DISABLE_TELEMETRY': 'true'})
    url, deadline = f'http://127.0.0.1:{port}', time.time() + 120
    try:
        while True:
            try:
                if urllib.request.urlopen(f'{url}/health', timeout=2).status == 200: break
            except OSError: pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"mlflow server did not start:\n{(d / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url, proc
    finally:
        proc.terminate()
        try: proc.wait(20)
        except subprocess.TimeoutExpired: proc.kill()
        log.close()

@pytest.fixture(scope='module')
def mlflow_server(tmp_path_factory):
    with serve_mlflow(tmp_path_factory.mktemp('mlflow')) as (url, _): yield url

def score(path, X): return ort.InferenceSession(str(path), providers=['CPUExecutionProvider']).run(None, {'features': X})[0]

def test_train_against_a_real_server_then_a_worse_model(mlflow_server, tmp_path):
    import mlflow
    from mlflow import MlflowClient
    out1, out2 = tmp_path / 'first', tmp_path / 'second'
    r = run([tool('churn_train'), *FAST, '--output', str(out1), '--tracking-uri', mlflow_server, '--experiment', 'ci'], cwd=tmp_path)
    assert sorted(p.name for p in out1.iterdir()) == FILES
    assert 'registered mirador-churn version 1 as candidate and champion' in r.stdout
    client = MlflowClient(mlflow_server, mlflow_server)
    exp = client.get_experiment_by_name('ci')
    [run1] = client.search_runs([exp.experiment_id])
    metrics = json.loads((out1 / 'metrics.json').read_text())
    assert run1.info.status == 'FINISHED'
    assert run1.data.params['label.horizon_days'] == '90' and run1.data.params['seed'] == '42' and run1.data.params['n_customers'] == '600'
    assert run1.data.params['data_checksum'] == metrics['data']['checksum']
    assert abs(run1.data.metrics['test_roc_auc'] - metrics['model']['roc_auc']) < 1e-12
    assert {'baseline_gradient_boosting_roc_auc', 'baseline_logistic_regression_roc_auc', 'baseline_recency_rule_roc_auc'} <= set(run1.data.metrics)
    assert len(client.get_metric_history(run1.info.run_id, 'valid_auc')) >= 2
    assert {a.path for a in client.list_artifacts(run1.info.run_id)} == set(FILES) - {'model.onnx'}
    v1 = client.get_model_version_by_alias('mirador-churn', 'champion')
    assert str(v1.version) == '1' and str(client.get_model_version_by_alias('mirador-churn', 'candidate').version) == '1'
    mlflow.set_tracking_uri(mlflow_server)
    dl = Path(mlflow.artifacts.download_artifacts(artifact_uri=v1.source, dst_path=str(tmp_path / 'dl')))
    assert [p.name for p in dl.glob('*.onnx')] == ['model.onnx'] and not list(dl.glob('*.data'))
    X = np.random.default_rng(0).uniform(0, 300, (64, 8)).astype(np.float32)
    assert np.array_equal(score(dl / 'model.onnx', X), score(out1 / 'model.onnx', X))
    # a worse model (one epoch) passes the gate, becomes candidate, not champion
    r2 = run([tool('churn_train'), '--n-customers', '600', '--max-epochs', '1', '--quiet', '--output', str(out2),
              '--tracking-uri', mlflow_server, '--experiment', 'ci'], cwd=tmp_path)
    assert json.loads((out2 / 'metrics.json').read_text())['model']['roc_auc'] < metrics['model']['roc_auc']
    assert 'registered mirador-churn version 2 as candidate;' in r2.stdout or r2.stdout.rstrip().endswith('version 2 as candidate')
    assert str(client.get_model_version_by_alias('mirador-churn', 'candidate').version) == '2'
    assert str(client.get_model_version_by_alias('mirador-churn', 'champion').version) == '1'

def test_a_failed_gate_exits_non_zero_and_registers_nothing(mlflow_server, tmp_path):
    from mlflow import MlflowClient
    r = run([tool('churn_train'), *FAST, '--min-auc', '0.999', '--output', str(tmp_path / 'out'), '--tracking-uri', mlflow_server,
             '--model-name', 'never-registered'], cwd=tmp_path, check=False)
    assert r.returncode == 2 and r.stderr.strip().startswith('churn_train: error: gate failed: test roc_auc') and 'Traceback' not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / 'out').exists()
    assert MlflowClient(mlflow_server, mlflow_server).search_model_versions("name='never-registered'") == []

def test_bad_data_exits_non_zero_with_the_validation_message(tmp_path):
    from mirador_churn.data import generate_synthetic, save_dataset
    ds = generate_synthetic(200, 2000)
    save_dataset(ds._replace(orders=ds.orders.assign(amount=ds.orders.amount.where(ds.orders.index != 5, -3.0))), tmp_path / 'bad')
    r = run([tool('churn_train'), '--data-source', str(tmp_path / 'bad'), '--no-track', '--output', str(tmp_path / 'out')], cwd=tmp_path, check=False)
    assert r.returncode == 2
    assert r.stderr.strip() == 'churn_train: error: orders.amount: 1 of 2,000 rows are negative, e.g. row 5 (order_id=6): amount=-3.0'
    assert not (tmp_path / 'out').exists()

def untracked_seconds(tmp_path):
    "Wall time of the same command with tracking off, measured just before, under the same load: the baseline of the extra time"
    t0 = time.perf_counter()
    run([tool('churn_train'), *FAST, '--no-track', '--output', str(tmp_path / 'untracked')], cwd=tmp_path)
    return time.perf_counter() - t0

@pytest.mark.parametrize('case', ['closed port', 'unknown host', 'server that never answers'])
def test_unreachable_tracking_server(case, tmp_path):
    baseline, silent = untracked_seconds(tmp_path), None
    if case == 'closed port': uri = f'http://127.0.0.1:{free_port()}'
    elif case == 'unknown host': uri = 'http://mlflow.invalid:5000'
    else:
        silent = socket.socket(); silent.bind(('127.0.0.1', 0)); silent.listen(16)
        uri = f'http://127.0.0.1:{silent.getsockname()[1]}'
    try:
        t0 = time.perf_counter()
        r = run([tool('churn_train'), *FAST, '--output', str(tmp_path / 'out'), '--tracking-uri', uri], cwd=tmp_path)
        extra = time.perf_counter() - t0 - baseline
    finally:
        if silent: silent.close()
    assert r.returncode == 0
    warnings = [l for l in r.stderr.splitlines() if 'MLflow tracking at' in l]
    assert len(warnings) == 1 and 'starting the MLflow run failed' in warnings[0] and 'local artifacts are complete' in warnings[0], r.stderr
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == FILES
    assert 'registered' not in r.stdout
    print(f"{case}: {extra:+.1f} s against the untracked run ({baseline:.1f} s)")
    assert extra <= 10, f"{case}: {extra:.1f} s more than with tracking off"

def test_server_that_dies_mid_run(tmp_path):
    "The run starts on a live server, which then goes away: the next call fails once, tracking stops, nothing hangs"
    from mirador_churn.tracking import Tracker
    with serve_mlflow(tmp_path) as (url, proc):
        t = Tracker(url, 'mid-run')
        assert t.start({'a': 1}) is not None and t.active
        t.log_metrics({'m': 1.0}, step=0)
        assert t.problem is None
        proc.terminate(); proc.wait(20)
        t0 = time.perf_counter()
        t.log_metrics({'m': 2.0}, step=1)
        assert not t.active and t.problem.startswith('logging metrics failed')
        t.log_artifacts([__file__]); t.end()          # skipped: no more calls to a dead server
        assert time.perf_counter() - t0 < 10
