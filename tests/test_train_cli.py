"churn_train in a subprocess: against a real `mlflow server`, with no server, killed half-way, twice at once, with secrets."
import hashlib, json, os, signal, socket, subprocess, sys, threading, time, uuid
from pathlib import Path
import numpy as np, onnxruntime as ort, pytest
from conftest import free_port, run as _run, serve_mlflow, stop_group, tool

FILES = sorted(['calibration.png', 'metrics.json', 'model.onnx', 'model_card.md', 'roc.png', 'training_curves.png'])
FAST = ['--n-customers', '600', '--max-epochs', '40', '--quiet']   # a small shop: the whole command in seconds
ONE_THREAD = {'OMP_NUM_THREADS': '1'}   # small data on a shared machine: threads only add waiting

def run(args, **kw): return _run(args, env={**ONE_THREAD, **(kw.pop('env', None) or {})}, **kw)
def sha(p): return hashlib.sha256(Path(p).read_bytes()).hexdigest()
def listing(d): return sorted(p.name for p in Path(d).iterdir())
def leftovers(parent, name): return sorted(p.name for p in Path(parent).iterdir() if p.name.startswith(f'.{name}'))

@pytest.fixture(scope='module')
def mlflow_server(tmp_path_factory):
    with serve_mlflow(tmp_path_factory.mktemp('mlflow')) as (url, _): yield url

def client(url):
    from mlflow import MlflowClient
    return MlflowClient(url, url)

def score(path, X):
    return ort.InferenceSession(str(path), providers=['CPUExecutionProvider']).run(None, {'features': X})[0]

# --- the registry: a candidate, never a champion ----------------------------------------------------------------------

def test_train_registers_candidates_and_never_moves_the_champion(mlflow_server, tmp_path):
    from mirador_churn.tracking import resolve_model
    out = tmp_path / 'outputs'
    r = run([tool('churn_train'), *FAST, '--output', str(out), '--tracking-uri', mlflow_server, '--experiment', 'ci'], cwd=tmp_path)
    assert listing(out) == FILES and out.is_symlink()
    assert 'mirador-churn version 1 is the new candidate' in r.stdout and 'There is no champion yet' in r.stdout, r.stdout
    # a server: its address, not `mlflow ui`
    assert f'mlflow ui' not in r.stdout and f'open {mlflow_server}' in r.stdout
    c = client(mlflow_server)
    [run1] = c.search_runs([c.get_experiment_by_name('ci').experiment_id])
    m = json.loads((out / 'metrics.json').read_text())
    # the run: real values, each once
    p = run1.data.params
    assert run1.info.status == 'FINISHED' and run1.info.run_name.startswith('synthetic shop (seed 42) to ')
    assert (p['seed'], p['label.horizon_days'], p['n_customers']) == ('42', '90', '600') and 'train.seed' not in p
    assert p['train.batch_size'] == str(m['training']['batch_size']) == str(max(64, m['data']['rows']['train'] // 200))
    assert p['label.test_cutoff'] == m['cutoffs']['test'] and 'None' not in p.values() and 'null' not in p.values()
    # run from a clone
    assert run1.data.tags['mirador_churn.version'] and len(run1.data.tags['mlflow.source.git.commit']) == 40
    assert run1.data.metrics['test_roc_auc'] == m['model']['roc_auc']
    assert {'baseline_gradient_boosting_roc_auc', 'test_precision_top_10', 'test_recall_top_5',
            'baseline_logistic_regression_mean_predicted'} <= set(run1.data.metrics)
    assert len(c.get_metric_history(run1.info.run_id, 'valid_auc')) >= 2
    assert {a.path for a in c.list_artifacts(run1.info.run_id)} == set(FILES) - {'model.onnx'}
    # metrics.json: no null, integers as integers, mean_predicted for every model with probabilities
    text = (out / 'metrics.json').read_text()
    assert 'null' not in text and 'NaN' not in text and isinstance(m['model']['n'], int)
    assert all('mean_predicted' in m['baselines'][k] for k in ('logistic regression', 'gradient boosting'))
    # days since the last order are not probabilities
    assert 'mean_predicted' not in m['baselines']['recency rule']
    # the field's baselines (issue 26), each with its paired interval against the ChurnMLP, on the compared test rows
    field = {'tuned gradient boosting', 'BG/NBD P(no order)', 'BG/NBD -E[orders]', 'Pareto/NBD P(no order)',
             'Pareto/NBD -E[orders]'}
    assert field <= set(m['baselines']) and m['comparison']['rows'] == m['data']['rows']['test'] == m['model']['n']
    assert all(m['baselines'][k]['auc_diff_low'] <= m['baselines'][k]['auc_diff_high'] for k in field)
    assert 'baseline_pareto_nbd_p_no_order_roc_auc' in run1.data.metrics
    assert {f'{k}_top_{p}' for k in ('precision', 'recall', 'threshold') for p in (5, 10, 20)} <= set(m['model'])
    assert m['files'] == {f: sha(out / f) for f in FILES if f != 'metrics.json'}
    # the version: tags at full precision, descriptions, candidate only
    v1 = c.get_model_version_by_alias('mirador-churn', 'candidate')
    assert str(v1.version) == '1' and float(v1.tags['test_roc_auc']) == m['model']['roc_auc']
    assert float(v1.tags['brier']) == m['model']['brier']
    assert v1.tags['onnx_sha256'] == sha(out / 'model.onnx') and v1.tags['data_checksum'] == m['data']['checksum']
    assert v1.description.startswith('Trained on synthetic shop') and c.get_registered_model('mirador-churn').description
    with pytest.raises(Exception, match='not found'): c.get_model_version_by_alias('mirador-churn', 'champion')
    # the registry's file is the local file
    X = np.random.default_rng(0).uniform(0, 300, (64, 8)).astype(np.float32)
    got = resolve_model('models:/mirador-churn@candidate', mlflow_server)
    assert sha(got) == sha(out / 'model.onnx') and np.array_equal(score(got, X), score(out / 'model.onnx', X))
    # promotion (churn_promote's job) makes v1 champion; a retrained model becomes candidate only, and the summary names both
    c.set_registered_model_alias('mirador-churn', 'champion', '1')
    r2 = run([tool('churn_train'), *FAST, '--seed', '7', '--output', str(out), '--tracking-uri', mlflow_server, '--experiment', 'ci'],
             cwd=tmp_path)
    assert 'mirador-churn version 2 is the new candidate' in r2.stdout and 'The champion is version 1 (test ROC AUC' in r2.stdout
    assert [str(c.get_model_version_by_alias('mirador-churn', a).version) for a in ('candidate', 'champion')] == ['2', '1']
    assert json.loads((out / 'metrics.json').read_text())['training']['seed'] == 7
    assert leftovers(tmp_path, 'outputs') == [os.readlink(out)]                # the first run's folder is gone

def test_a_failed_gate_exits_2_marks_the_run_failed_and_registers_nothing(mlflow_server, tmp_path):
    r = run([tool('churn_train'), *FAST, '--min-auc', '0.999', '--output', str(tmp_path / 'out'), '--tracking-uri', mlflow_server,
             '--experiment', 'gate', '--model-name', 'never-registered'], cwd=tmp_path, check=False)
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    assert r.stderr.strip().startswith('churn_train: error: gate failed: test roc_auc')
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / 'out').exists() and leftovers(tmp_path, 'out') == []
    c = client(mlflow_server)
    assert c.search_model_versions("name='never-registered'") == []
    assert [x.info.status for x in c.search_runs([c.get_experiment_by_name('gate').experiment_id])] == ['FAILED']

def test_bad_data_exits_2_with_the_validation_message(tmp_path):
    from mirador_churn.data import generate_synthetic, save_dataset
    ds = generate_synthetic(200, 2000)
    save_dataset(ds._replace(orders=ds.orders.assign(amount=ds.orders.amount.where(ds.orders.index != 5, -3.0))), tmp_path / 'bad')
    r = run([tool('churn_train'), '--data-source', str(tmp_path / 'bad'), '--no-track', '--output', str(tmp_path / 'out')],
            cwd=tmp_path, check=False)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert 'orders.amount' in r.stderr and 'row 5' in r.stderr, r.stderr
    assert not (tmp_path / 'out').exists()

# --- output paths that cannot be written: found before any work -------------------------------------------------------

@pytest.mark.parametrize('case', ['a file', 'a read-only file system', 'a read-only folder', 'a folder of other files'])
def test_unwritable_output_is_found_before_the_work(case, tmp_path):
    if case == 'a read-only folder' and os.geteuid() == 0: pytest.skip('running as root: permission bits do not stop root')
    out = {'a file': tmp_path / 'taken', 'a read-only file system': Path('/proc/churn-outputs'),
           'a read-only folder': tmp_path / 'ro' / 'outputs', 'a folder of other files': tmp_path / 'mine'}[case]
    if case == 'a file': out.write_text('not a folder')
    if case == 'a read-only folder': out.parent.mkdir(); out.parent.chmod(0o555)
    if case == 'a folder of other files': out.mkdir(); (out / 'thesis.tex').write_text('')
    store = f'sqlite:///{tmp_path}/mlflow.db'
    # a data folder that does not exist: an error about the data would mean the data was read first
    r = run([tool('churn_train'), '--data-source', str(tmp_path / 'no-data'), '--output', str(out), '--tracking-uri', store],
            cwd=tmp_path, check=False)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and f'--output {out}' in r.stderr, r.stderr
    assert 'no-data' not in r.stderr and not (tmp_path / 'mlflow.db').exists()   # before the data and before MLflow
    if case == 'a file': assert out.read_text() == 'not a folder'
    if case == 'a folder of other files': assert listing(out) == ['thesis.tex']

# --- all or nothing: a real kill between file writes, two runs at once ------------------------------------------------

KILL_AFTER = '''
import os, signal, sys
import mirador_churn.pipeline as p
real = p.atomic_write
def atomic_write(path, write):
    out = real(path, write)
    # a real kill, between two files
    if os.path.basename(str(path)) == sys.argv[1]: os.kill(os.getpid(), signal.SIGKILL)
    return out
p.atomic_write = atomic_write
from mirador_churn.cli import churn_train
from mirador_churn.core import run_cli
run_cli(churn_train, sys.argv[2:])
'''

@pytest.fixture(scope='module')
def first_set(tmp_path_factory):
    "A folder with a complete first set (seed 42), and the SHA-256 of each file"
    d = tmp_path_factory.mktemp('first')
    run([tool('churn_train'), *FAST, '--no-track', '--output', str(d / 'outputs')], cwd=d)
    return d / 'outputs', {f: sha(d / 'outputs' / f) for f in FILES}

def copy_set(src:Path, dst:Path):
    "The published folder `src` as a real folder at `dst` (a set from before, as a user would have it)"
    dst.mkdir()
    for f in FILES: (dst / f).write_bytes((src / f).read_bytes())

def assert_complete(out:Path):
    "`out` holds one complete set: every file is the one its metrics.json describes"
    m = json.loads((out / 'metrics.json').read_text())
    assert listing(out) == FILES and m['files'] == {f: sha(out / f) for f in FILES if f != 'metrics.json'}
    return m

def test_a_run_killed_between_file_writes_leaves_the_previous_set(first_set, tmp_path):
    src, hashes = first_set
    out = tmp_path / 'outputs'
    copy_set(src, out)
    for after in ('roc.png', 'model_card.md'):   # killed with model.onnx and some plots written, metrics.json not yet
        before = set(leftovers(tmp_path, 'outputs'))
        r = subprocess.run([sys.executable, '-c', KILL_AFTER, after, *FAST, '--seed', '3', '--no-track', '--output', str(out)],
                           cwd=tmp_path, capture_output=True, text=True, env={**os.environ, **ONE_THREAD}, timeout=600)
        assert r.returncode == -signal.SIGKILL, r.stderr
        assert {f: sha(out / f) for f in FILES} == hashes                       # the previous set, untouched
        [staged] = set(leftovers(tmp_path, 'outputs')) - before                 # the killed run's own folder, left behind
        assert after in listing(tmp_path / staged) and 'metrics.json' not in listing(tmp_path / staged)
    run([tool('churn_train'), *FAST, '--seed', '3', '--no-track', '--output', str(out)], cwd=tmp_path)
    assert assert_complete(out)['training']['seed'] == 3
    assert leftovers(tmp_path, 'outputs') == [os.readlink(out)]                # the killed runs' folders are gone

def test_an_external_sigkill_while_files_are_written(first_set, tmp_path):
    "Killed from outside, by the test, at the moment the run's folder holds model.onnx but not metrics.json"
    src, hashes = first_set
    out = tmp_path / 'outputs'
    copy_set(src, out)
    proc = subprocess.Popen([tool('churn_train'), *FAST, '--seed', '5', '--no-track', '--output', str(out)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **ONE_THREAD})
    deadline, seen = time.time() + 300, None
    while time.time() < deadline and proc.poll() is None:
        staged = [p for p in tmp_path.glob('.outputs-*') if (p / 'model.onnx').exists()]
        if staged:
            proc.send_signal(signal.SIGKILL); proc.wait(); seen = listing(staged[0]); break
        time.sleep(0.001)
    assert seen is not None, 'the run ended before it could be killed'
    assert 'metrics.json' not in seen, seen
    assert {f: sha(out / f) for f in FILES} == hashes

def test_two_concurrent_runs_into_one_folder_never_mix(first_set, tmp_path):
    src, _ = first_set
    out = tmp_path / 'outputs'
    copy_set(src, out)
    stop, reads, mixed = threading.Event(), [0], []
    def reader():
        "What a serving process does: open the folder once, read the set in it, check it against metrics.json"
        # A descriptor of the folder, not its path: the first publish swaps the real folder from before with a link,
        # and a reader that went back to the path between two files would read one file of each set.
        while not stop.is_set():
            try:
                fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    read = lambda f: Path(f'/proc/self/fd/{fd}/{f}').read_bytes()
                    m = json.loads(read('metrics.json'))
                    got = {f: hashlib.sha256(read(f)).hexdigest() for f in m['files']}
                finally: os.close(fd)
            # the folder was removed while read: read again
            except (FileNotFoundError, json.JSONDecodeError): continue
            reads[0] += 1
            if got != m['files']: mixed.append(m.get('training', {}).get('seed'))
            time.sleep(0.01)
    t = threading.Thread(target=reader); t.start()
    procs = [subprocess.Popen([tool('churn_train'), *FAST, '--seed', str(s), '--no-track', '--output', str(out)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **ONE_THREAD})
             for s in (11, 12)]
    results = [p.communicate(timeout=600) for p in procs]
    stop.set(); t.join()
    assert [p.returncode for p in procs] == [0, 0], results
    assert mixed == [] and reads[0] > 10
    assert assert_complete(out)['training']['seed'] in (11, 12)
    assert leftovers(tmp_path, 'outputs') == [os.readlink(out)]

# --- no tracking server -----------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def untracked_seconds(tmp_path_factory):
    "Wall time of the command with tracking off: the baseline of the extra time"
    d = tmp_path_factory.mktemp('untracked')
    t0 = time.perf_counter()
    run([tool('churn_train'), *FAST, '--no-track', '--output', str(d / 'out')], cwd=d)
    return time.perf_counter() - t0

@pytest.mark.parametrize('case', ['closed port', 'unknown host', 'server that never answers'])
def test_unreachable_tracking_server_is_one_line_at_once(case, untracked_seconds, tmp_path):
    silent = None
    if case == 'closed port': uri = f'http://ana:s3cret-pw@127.0.0.1:{free_port()}'
    elif case == 'unknown host': uri = 'http://mlflow.invalid:5000'
    else:
        silent = socket.socket(); silent.bind(('127.0.0.1', 0)); silent.listen(16)
        uri = f'http://127.0.0.1:{silent.getsockname()[1]}'
    try:
        t0 = time.perf_counter()
        proc = subprocess.run([tool('churn_train'), *FAST[:-1], '--output', str(tmp_path / 'out'), '--tracking-uri', uri],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, **ONE_THREAD}, timeout=600)
        extra = time.perf_counter() - t0 - untracked_seconds
    finally:
        if silent: silent.close()
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.splitlines()
    notes = [i for i, l in enumerate(lines) if 'churn_train:' in l]
    assert len(notes) == 1 and 'is unreachable' in lines[notes[0]], proc.stdout
    first_step = next(i for i, l in enumerate(lines) if 'fit and compare' in l)
    assert notes[0] < first_step                                                 # reported at once, before training
    assert 'Warning' not in proc.stdout and 'warnings.warn' not in proc.stdout and 's3cret-pw' not in proc.stdout
    assert uri.replace('ana:s3cret-pw', 'ana:***') in lines[notes[0]]             # the whole URL, never cut in half
    assert listing(tmp_path / 'out') == FILES and 'is the new candidate' not in proc.stdout
    print(f"{case}: {extra:+.1f} s against the untracked run ({untracked_seconds:.1f} s)")
    assert extra <= 10, f"{case}: {extra:.1f} s more than with tracking off"

def test_server_that_dies_mid_run_is_marked_failed_when_it_can_be(tmp_path):
    "The run starts on a live server, which then goes away: the next call fails once, tracking stops, nothing hangs"
    from mirador_churn.tracking import Tracker
    with serve_mlflow(tmp_path) as (url, proc):
        t = Tracker(url, 'mid-run')
        assert t.start({'a': 1}) is not None and t.active
        t.log_metrics({'m': 1.0}, step=0)
        assert t.problem is None
        stop_group(proc, signal.SIGKILL)                 # the server dies: no goodbye
        t0 = time.perf_counter()
        t.log_metrics({'m': 2.0}, step=1)
        assert not t.active and t.problem.startswith('logging metrics failed')
        t.log_artifacts([__file__]); t.end()          # skipped, and one bounded attempt to mark the run FAILED
        assert time.perf_counter() - t0 < 15

# --- secrets: every form, every place ---------------------------------------------------------------------------------

PG = os.environ.get('MIRADOR_POSTGRES_URL')

@pytest.fixture(scope='module')
def pg_shop():
    "A fresh PostgreSQL database holding a 600-customer shop; dropped at the end"
    if not PG:
        if os.environ.get('CI'): pytest.fail('MIRADOR_POSTGRES_URL is not set: .ci/run must start PostgreSQL', pytrace=False)
        pytest.skip('no PostgreSQL: set MIRADOR_POSTGRES_URL=postgresql://user:password@127.0.0.1:5432/db')
    from mirador_churn.data import generate_synthetic
    from mirador_churn.sql import Database, write_tables
    name = f"churn_secret_{uuid.uuid4().hex[:8]}"
    with Database(PG) as admin: admin.con.execute(f'CREATE DATABASE {name}')
    with Database(PG.rsplit('/', 1)[0] + '/' + name) as db: write_tables(db, generate_synthetic(600, 6000, 42))
    yield name
    with Database(PG) as admin: admin.con.execute(f'DROP DATABASE {name} WITH (FORCE)')

def places(out:Path, url:str, run_ids:list, tmp:Path)->dict:
    "Every place a run records: the files, the run's params and tags, its artifacts, the registry"
    import mlflow.artifacts
    c, found = client(url), {}
    if out.exists():
        for f in out.iterdir(): found[f'file {f.name}'] = f.read_bytes().decode('latin-1')
    for rid in run_ids:
        r = c.get_run(rid)
        found['params'], found['tags'] = json.dumps(r.data.params), json.dumps(r.data.tags)
        found['run name'] = r.info.run_name
        d = mlflow.artifacts.download_artifacts(run_id=rid, artifact_path='', dst_path=str(tmp / f'dl-{rid}'), tracking_uri=url)
        for f in Path(d).rglob('*'):
            if f.is_file(): found[f'artifact {f.relative_to(d)}'] = f.read_bytes().decode('latin-1')
    for v in c.search_model_versions("name='secret-model'"):
        found[f'version {v.version}'] = json.dumps(dict(v.tags)) + (v.description or '') + (v.source or '')
    return found

@pytest.mark.parametrize('form', ['user info', 'query string', 'psycopg scheme', 'unreachable database'])
def test_no_password_anywhere(form, pg_shop, mlflow_server, tmp_path):
    user_pw, host_db = PG.split('://', 1)[1].split('@', 1)
    user, password = user_pw.split(':', 1)
    host = host_db.split('/')[0]
    source = {'user info': f'postgresql://{user}:{password}@{host}/{pg_shop}',
              'query string': f'postgresql://{user}@{host}/{pg_shop}?password={password}',
              'psycopg scheme': f'postgresql+psycopg://{user}:{password}@{host}/{pg_shop}',
              'unreachable database': f'postgresql://{user}:{password}@127.0.0.1:1/{pg_shop}'}[form]
    track_pw = f'track-{uuid.uuid4().hex[:8]}'                                 # a password in the tracking URI too
    uri = mlflow_server.replace('http://', f'http://mlflow-user:{track_pw}@')
    exp = f'secrets-{form.replace(" ", "-")}'
    out = tmp_path / 'out'
    r = run([tool('churn_train'), '--data-source', source, *FAST[2:], '--output', str(out), '--tracking-uri', uri,
             '--experiment', exp, '--model-name', 'secret-model'], cwd=tmp_path, check=False)
    c = client(mlflow_server)
    e = c.get_experiment_by_name(exp)
    run_ids = [x.info.run_id for x in c.search_runs([e.experiment_id])] if e else []
    if form == 'unreachable database': assert r.returncode == 2 and 'cannot connect' in r.stderr, r.stderr
    if form in ('user info', 'query string'): assert r.returncode == 0 and len(run_ids) == 1, r.stderr
    found = {'stdout': r.stdout, 'stderr': r.stderr, **places(out, mlflow_server, run_ids, tmp_path)}
    if r.returncode == 0: assert {'file metrics.json', 'file model_card.md', 'params', 'artifact model_card.md'} <= set(found)
    leaks = [k for k, v in found.items() if password in v or track_pw in v]
    assert leaks == [], f"{form}: the password is in {leaks}"
    if r.returncode == 0: assert '***' in json.loads((out / 'metrics.json').read_text())['data']['source']

# --- Spark as a data source -------------------------------------------------------------------------------------------

def test_train_from_spark_matches_the_folder(tmp_path):
    import shutil
    if not shutil.which('java'):
        if os.environ.get('CI'): pytest.fail('no Java: .ci/system.sh must install a JRE for Spark', pytrace=False)
        pytest.skip('no Java: Spark cannot start')
    from mirador_churn.data import generate_synthetic, save_dataset
    save_dataset(generate_synthetic(600, 6000, 42), tmp_path / 'data')
    fast = [*FAST[2:], '--no-track']
    r = run([tool('churn_train'), '--data-source', f'spark:{tmp_path / "data"}', '--output', str(tmp_path / 'spark'), *fast],
            cwd=tmp_path, env={'PYSPARK_PYTHON': sys.executable})
    run([tool('churn_train'), '--data-source', str(tmp_path / 'data'), '--output', str(tmp_path / 'pandas'), *fast], cwd=tmp_path)
    m_spark, m_pandas = (assert_complete(tmp_path / d) for d in ('spark', 'pandas'))
    assert m_spark['data']['source'] == f'Spark spark:{tmp_path / "data"}' and m_spark['data']['customers'] == 600
    assert m_spark['data']['rows'] == m_pandas['data']['rows'] and m_spark['cutoffs'] == m_pandas['cutoffs']
    assert m_spark['model']['roc_auc'] == m_pandas['model']['roc_auc']   # the same table, the same seed: the same model

# --- a real log (CDNOW, issue 26): a too-short history and the data problems, said in one line each ------------------

@pytest.fixture(scope='module')
def cdnow_folder(tmp_path_factory):
    "A seeded sample of CDNOW's customers (all their orders) written as the two CSV files a user would write"
    from mirador_churn.data import read_cdnow
    customers, orders = read_cdnow()
    keep = np.random.default_rng(0).choice(customers.customer_id.to_numpy(), 3000, replace=False)
    d = tmp_path_factory.mktemp('cdnow')
    customers[customers.customer_id.isin(keep)].to_csv(d / 'customers.csv', index=False)
    orders[orders.customer_id.isin(keep)].assign(order_date=lambda o: o.order_date.dt.strftime('%Y-%m-%d')).to_csv(
        d / 'orders.csv', index=False)
    return d

@pytest.mark.parametrize('args,says', [
    (['--n_cutoffs', '7'], "--horizon_days 90 with --n_cutoffs 7 needs history from 1996-10-09 on; this log (1997-01-01 "
                           "to 1998-07-01) allows --horizon_days at most 77 with 7 cutoffs, or at most --n_cutoffs 6"),
    (['--horizon_days', '200'], "allows --horizon_days at most 136 with 4 cutoffs, or at most --n_cutoffs 2 with "
                                "--horizon_days 200")])
def test_a_too_short_history_exits_2_naming_the_options(cdnow_folder, args, says, tmp_path):
    r = run([tool('churn_train'), '--data_source', str(cdnow_folder), *args, '--no-track', '--quiet',
             '--output', str(tmp_path / 'out')], cwd=tmp_path, check=False)
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
    errors = [l for l in r.stderr.strip().splitlines() if not l.startswith('churn_train: warning: ')]
    assert len(errors) == 1 and errors[0].startswith('churn_train: error: ') and says in errors[0], r.stderr
    assert not (tmp_path / 'out').exists()

def test_data_problems_are_one_warning_line_each(cdnow_folder, tmp_path):
    r = run([tool('churn_train'), '--data_source', str(cdnow_folder), '--n_cutoffs', '6', '--max_epochs', '20',
             '--no-track', '--quiet', '--output', str(tmp_path / 'out')], cwd=tmp_path, check=False)
    warned = [l for l in r.stderr.splitlines() if l.startswith('churn_train: warning: ')]
    heads = sorted(l.split(': ', 2)[2].split(' ')[0] for l in warned)
    assert heads == ['cart_diversity', 'customer_lifetime_days', 'email_domain_class', 'no', 'the'], r.stderr
    assert any('the first cutoff 1997-01-07 has 6 days of history' in l for l in warned), r.stderr
    assert r.returncode == 0, r.stderr   # warnings, not refusals: the model is trained
    assert json.loads((tmp_path / 'out' / 'metrics.json').read_text())['cutoffs']['train'][0] == '1997-01-07'
    # the same folder at 4 cutoffs: the first cutoff has half a year of history, the other three remain
    r4 = run([tool('churn_train'), '--data_source', str(cdnow_folder), '--max_epochs', '20', '--no-track', '--quiet',
              '--output', str(tmp_path / 'out4')], cwd=tmp_path)
    assert not any('days of history' in l for l in r4.stderr.splitlines()), r4.stderr
    assert sum(l.startswith('churn_train: warning: ') for l in r4.stderr.splitlines()) == 4, r4.stderr
