"""Promotion: the ConfigMap against the Kubernetes schema, deploy/ files, an unreachable registry, and end to end
against the shared MLflow server (train twice, promote, refuse, roll back), with a running service that follows them."""
import json, os, re, shutil, subprocess, sys, threading, time, uuid
from pathlib import Path
import pytest, yaml
from conftest import ROOT, BIN, free_port, run
from mirador_churn.promote import CONFIGMAP_NAME, configmap_manifest, promotion_record, write_promotion

def command(name, module, main):
    "The console script `name` if installed, else the same entry point through the interpreter"
    p = BIN / name
    return [str(p)] if p.exists() else [sys.executable, '-c', f"from mirador_churn.{module} import {main}; {main}()"]

PROMOTE = command('churn_promote', 'promote', 'promote_main')
TRAIN, SERVE = command('churn_train', 'cli', 'train_main'), command('churn_serve', 'serve', 'serve_main')
FEATURES = ['days_since_last_order', 'total_revenue_30d', 'total_revenue_90d', 'total_revenue_365d', 'order_frequency',
            'cart_diversity', 'email_domain_class', 'customer_lifetime_days']
DNS_1123 = re.compile(r'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')
DATA_KEY = re.compile(r'[-._a-zA-Z0-9]+')

def k8s_validate(doc):
    "Validate `doc` against the Kubernetes API schema bundled with kubernetes-validate (offline), strictly"
    import kubernetes_validate as kv
    return kv.validate(doc, kv.latest_version(), strict=True)

def check_configmap(cm:dict, version:str):
    "The ConfigMap is valid for the API server and carries the promotion of `version`"
    k8s_validate(cm)
    assert (cm['kind'], cm['metadata']['name']) == ('ConfigMap', CONFIGMAP_NAME) and DNS_1123.fullmatch(CONFIGMAP_NAME)
    assert all(DATA_KEY.fullmatch(k) for k in cm['data']), list(cm['data'])
    assert sum(len(k) + len(v) for k, v in cm['data'].items()) < 1 << 20   # a ConfigMap holds at most 1 MiB
    p = json.loads(cm['data']['promotion.json'])
    assert p['version'] == cm['data']['version'] == version and p['artifact_uri'].endswith(f'/{version}')
    assert (p['input'], p['output'], p['features']) == ('features', 'churn_probability', FEATURES)
    assert re.fullmatch(r'[0-9a-f]{64}', p['onnx_sha256']) and p['onnx_sha256'] == cm['data']['onnx_sha256']
    return p

FACTS = dict(features=FEATURES, inputs=[('features', 'tensor(float)', 2)], onnx_sha256='ab' * 32)

def test_configmap_matches_the_kubernetes_schema(tmp_path):
    files = write_promotion(promotion_record('mirador-churn', 3, FACTS, previous_version=2), tmp_path)
    assert [f.name for f in files] == ['promotion.json', 'configmap.yaml']
    cm = yaml.safe_load(files[1].read_text())
    p = check_configmap(cm, '3')
    assert p == json.loads(files[0].read_text()) and p['previous_version'] == '2' and p['alias'] == 'champion'
    assert sorted(tmp_path.iterdir()) == sorted(files)                        # atomic writes leave no temporary file
    bad = configmap_manifest(p); bad['data']['version'] = 3   # negative controls: schema and key check bite
    with pytest.raises(Exception, match="is not of type 'string'"): k8s_validate(bad)
    bad = configmap_manifest(p); bad['data']['bad key'] = 'x'
    with pytest.raises(AssertionError): check_configmap(bad, '3')
    bad = configmap_manifest(p); bad['metadata']['nam'] = bad['metadata'].pop('name')
    with pytest.raises(Exception): k8s_validate(bad)

def test_deploy_files():
    "deploy/: compose runs the server of .ci/mlflow.sh on PostgreSQL; the Kubernetes manifest mounts the ConfigMap"
    compose = yaml.safe_load((ROOT / 'deploy/compose.yaml').read_text())
    pg, server = compose['services']['postgres'], compose['services']['mlflow']
    cmd = server['command']
    assert cmd[:2] == ['mlflow', 'server']
    flag = lambda f: cmd[cmd.index(f) + 1]
    assert re.fullmatch(r'postgresql\+psycopg://mlflow@postgres:5432/mlflow', flag('--backend-store-uri'))
    assert '--serve-artifacts' in cmd and flag('--artifacts-destination') == '/mlflow/artifacts'
    assert server['depends_on']['postgres']['condition'] == 'service_healthy' and 'healthcheck' in pg
    assert server['environment']['PGPASSWORD'].startswith('${MLFLOW_DB_PASSWORD')
    assert pg['environment']['POSTGRES_PASSWORD'].startswith('${MLFLOW_DB_PASSWORD')
    mounts = {v.split(':')[0] for s in compose['services'].values() for v in s.get('volumes', [])}
    assert {m for m in mounts if not m.startswith(('.', '/'))} == set(compose['volumes'])   # named volumes, all declared
    for m in mounts - set(compose['volumes']): assert (ROOT / 'deploy' / m).exists(), f"compose mounts {m}, which is missing"
    assert (ROOT / 'deploy' / server['build']['dockerfile']).is_file()
    ci = (ROOT / '.ci/mlflow.sh').read_text()
    for f in ('--backend-store-uri', 'postgresql+psycopg://', '--artifacts-destination', '--serve-artifacts',
              'PGPASSWORD'):
        assert f in ci, f
    docs = list(yaml.safe_load_all((ROOT / 'deploy/k8s/serve.yaml').read_text()))
    for d in docs: k8s_validate(d)
    pod = docs[0]['spec']['template']['spec']
    vol = next(v for v in pod['volumes'] if v.get('configMap', {}).get('name') == CONFIGMAP_NAME)
    mount = next(m for m in pod['containers'][0]['volumeMounts'] if m['name'] == vol['name'])
    assert mount['mountPath'] == '/etc/mirador-churn' and 'subPath' not in mount   # subPath mounts never see updates
    assert pod['containers'][0]['command'][:3] == ['churn_serve', '--model', '/etc/mirador-churn/promotion.json']

def test_unreachable_registry_fails_in_one_line_and_changes_nothing(tmp_path):
    out = tmp_path / 'promotion'
    for args in (['--data', str(tmp_path)], ['--rollback']):
        t0 = time.perf_counter()
        dead = f'http://churn:s3cret@127.0.0.1:{free_port()}'   # nothing listens; a password to keep out of the output
        r = run([*PROMOTE, *args, '--tracking-uri', dead, '--output', str(out)],
                check=False, timeout=120)
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert r.stderr.count('\n') == 1 and 'the model registry cannot be reached' in r.stderr, r.stderr
        assert 's3cret' not in r.stdout + r.stderr and '***' in r.stderr
        assert time.perf_counter() - t0 < 60 and not out.exists()

# ---- end to end, against the shared MLflow server that .ci/run starts (.ci/mlflow.sh) ----
URL = os.environ.get('MIRADOR_MLFLOW_URL')
e2e = pytest.mark.skipif(not URL and not os.environ.get('CI'),
                         reason='no shared MLflow server: set MIRADOR_MLFLOW_URL (bash .ci/mlflow.sh prints it)')

@pytest.fixture(scope='module')
def shared():
    "A data folder, a fresh model name on the shared server, models trained a quarter ago (1) and on all the data (2)"
    if not URL:
        pytest.fail('MIRADOR_MLFLOW_URL is not set: .ci/run must start the MLflow server', pytrace=False)
    from mirador_churn.data import generate_synthetic, save_dataset
    from mirador_churn.features import default_cutoffs
    import tempfile
    tmp = Path(tempfile.mkdtemp(prefix='promote-e2e-'))
    ds = generate_synthetic(500, 5000, seed=11)
    data = save_dataset(ds, tmp / 'data')
    name = f"mirador-churn-e2e-{uuid.uuid4().hex[:8]}"
    env = dict(MLFLOW_TRACKING_URI=URL, MLFLOW_REGISTRY_URI=URL,   # not a registry that an earlier test pinned
               MIRADOR_CHURN_CACHE=str(tmp / 'cache'), MLFLOW_DISABLE_TELEMETRY='true')
    def train(out, *args):
        return run([*TRAIN, '--data-source', str(data), '--model-name', name, '--experiment', name,
                    '--max-epochs', '20',
                    '--output', str(tmp / out), '--quiet', *args], env=env, timeout=600)
    older = default_cutoffs(ds.orders)[-1] - __import__('pandas').Timedelta(days=90)
    train('v1', '--cutoff', str(older.date()))
    train('v2')
    yield dict(tmp=tmp, data=data, name=name, env=env, train=train, out=tmp / 'promotion')
    shutil.rmtree(tmp, ignore_errors=True)
    from mlflow import MlflowClient
    MlflowClient(URL, URL).delete_registered_model(name)   # the shared server keeps no test models

def promote(s, *args, code=0):
    r = run([*PROMOTE, '--data', str(s['data']), '--model-name', s['name'], '--output', str(s['out']), *args],
            env=s['env'], check=False, timeout=600)
    assert r.returncode == code, f"exit {r.returncode}, not {code}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr[-3000:]}"
    secret = _postgres_password()
    assert not secret or secret not in r.stdout + r.stderr
    return r

def _postgres_password():
    from urllib.parse import urlsplit
    return urlsplit(os.environ.get('MIRADOR_POSTGRES_URL', '')).password

def registry(s):
    from mlflow import MlflowClient
    c = MlflowClient(URL, URL)
    def alias(a):
        try: return c.get_model_version_by_alias(s['name'], a).version
        except Exception: return None
    return c, alias

def configmap(s, version):
    return check_configmap(yaml.safe_load((s['out'] / 'configmap.yaml').read_text()), version)

class Traffic:
    "A thread posting predictions to the service without pause, counting answers, failures and the versions seen"
    def __init__(self, base, key):
        import httpx
        self.client, self.base, self.key = httpx.Client(timeout=10), base, key
        self.ok, self.failures, self.stop = 0, [], threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
    def loop(self):
        row = dict(zip(FEATURES, [12, 40.0, 120.0, 600.0, 0.5, 3, 0, 400]))
        while not self.stop.is_set():
            try:
                r = self.client.post(f"{self.base}/v1/churn/predict", json={'rows': [row] * 5},
                                     headers={'X-API-Key': self.key})
                if r.status_code == 200 and len(r.json()['probabilities']) == 5: self.ok += 1
                else: self.failures.append(f"{r.status_code}: {r.text[:200]}")
            except Exception as e: self.failures.append(f"{type(e).__name__}: {e}")
    def version(self):
        r = self.client.get(f"{self.base}/v1/churn/model", headers={'X-API-Key': self.key})
        return r.json().get('registry_version')
    def wait_for(self, version, timeout=90):
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.version() == version: return time.perf_counter() - t0
            time.sleep(0.2)
        raise AssertionError(f"the service still serves version {self.version()} after {timeout} s, expected {version}")

@e2e
def test_promote_refuse_rollback_on_the_shared_server(shared):
    s, (c, alias) = shared, registry(shared)
    assert (alias('candidate'), alias('champion')) == ('2', None)             # churn_train never moves champion
    r = promote(s, '--candidate', '1')                                  # no champion yet: the floor, contract and SLO
    assert 'no champion' in r.stdout and 'promoted: version 1 is champion' in r.stdout, r.stdout
    assert (alias('champion'), alias('previous'), alias('candidate')) == ('1', None, '2')
    p = configmap(s, '1')
    assert p['previous_version'] is None
    before = {v.version: dict(v.tags) for v in c.search_model_versions(f"name = '{s['name']}'")}
    r = run([*PROMOTE, '--data', str(s['data']), '--model-name', s['name'], '--output', str(s['out']), '--dry-run'],
            env=s['env'], check=False)
    assert r.returncode == (1 if 'refused' in r.stdout else 0), (r.returncode, r.stdout, r.stderr)
    assert 'dry run, nothing changed' in r.stdout and 'candidate version 2 against champion version 1' in r.stdout
    print('\n' + r.stdout)
    assert {v.version: dict(v.tags) for v in c.search_model_versions(f"name = '{s['name']}'")} == before
    assert alias('champion') == '1'
    assert configmap(s, '1')['version'] == '1'
    r = promote(s, '--min-auc', '0.999', code=1)                        # a refusal: exit 1, the check and both figures
    assert re.search(r'refused: version 2 is not promoted: gate floor: candidate ROC AUC 0\.\d{4}, floor 0\.9990',
                     r.stdout), r.stdout
    assert alias('champion') == '1' and c.get_model_version(s['name'], '2').tags['promotion.decision'] == 'refused'
    assert configmap(s, '1')['version'] == '1'

@e2e
def test_a_promotion_reaches_a_running_service_without_a_failed_request(shared):
    s, (c, alias) = shared, registry(shared)
    if alias('champion') is None: promote(s, '--candidate', '1')
    start = alias('champion')
    port, key = free_port(), uuid.uuid4().hex
    log = open(s['tmp'] / 'serve.log', 'w')
    proc = subprocess.Popen([*SERVE, '--model', str(s['out'] / 'promotion.json'), '--port', str(port),
                             '--poll-every', '0.2'], env={**os.environ, **s['env'], 'MIRADOR_API_KEYS': key},
                            stdout=log, stderr=subprocess.STDOUT)
    traffic = None
    try:
        import httpx
        for _ in range(120):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200: break
            except httpx.HTTPError: pass
            assert proc.poll() is None, (s['tmp'] / 'serve.log').read_text()[-3000:]
            time.sleep(0.5)
        traffic = Traffic(f"http://127.0.0.1:{port}", key)
        assert traffic.version() == start
        traffic.thread.start()
        r = promote(s, '--auc-tolerance', '0.05', '--brier-tolerance', '0.09')   # the mechanics, whatever the figures
        assert 'promoted: version 2 is champion, version 1 is previous' in r.stdout, r.stdout
        assert (alias('champion'), alias('previous')) == ('2', '1')
        tags = c.get_model_version(s['name'], '2').tags
        ev = json.loads(tags['promotion.evidence'])
        assert tags['promotion.decision'] == 'promoted' and tags['promotion.against'] == '1'
        assert ev['candidate']['version'] == '2' and ev['champion']['version'] == '1' and ev['slo']['verdict'] == 'ok'
        assert {k['name'] for k in ev['checks']} == {'gate floor', 'ROC AUC', 'Brier', 'contract', 'SLO'}
        assert all(k['passed'] for k in ev['checks'])
        assert float(tags['promotion.cohort_roc_auc']) == ev['candidate']['roc_auc']
        assert configmap(s, '2')['previous_version'] == '1'
        seconds = traffic.wait_for('2')
        r = promote(s, '--rollback')
        assert 'rolled back: version 1 is champion again, version 2 is retired' in r.stdout
        assert (alias('champion'), alias('previous')) == ('1', None)
        assert c.get_model_version(s['name'], '2').tags['promotion.rolled_back'] == 'true'
        assert c.get_model_version(s['name'], '1').tags['promotion.restored_from'] == '2'
        assert configmap(s, '1')['previous_version'] is None
        seconds_back = traffic.wait_for('1')
        time.sleep(1)
        traffic.stop.set(); traffic.thread.join(30)
        print(f"\nservice: {traffic.ok} prediction requests, {len(traffic.failures)} failed; "
              f"promotion seen {seconds:.1f} s and rollback {seconds_back:.1f} s after the command returned")
        assert traffic.failures == [] and traffic.ok > 20
        r = promote(s, '--rollback', code=2)
        assert 'nothing to roll back to' in r.stderr
        r = promote(s, code=1)                                # the retired version is not promoted by accident
        assert 'not rolled back: version 2 was rolled back from champion' in r.stdout
    finally:
        if traffic: traffic.stop.set()
        proc.terminate(); proc.wait(30); log.close()
    secret = _postgres_password()
    if secret:
        assert secret not in (s['tmp'] / 'serve.log').read_text()
        for v in c.search_model_versions(f"name = '{s['name']}'"): assert secret not in json.dumps(dict(v.tags))

@e2e
def test_the_same_decision_from_a_database(shared):
    "The cohort and the SLO read from DuckDB and PostgreSQL (SQL features) give the decision the data folder gives"
    from mirador_churn.data import load_dataset
    from mirador_churn.sql import Database, write_tables
    s, ds = shared, load_dataset(shared['data'])
    urls = [f"duckdb:///{s['tmp']}/shop.duckdb"]
    with Database(urls[0], create=True) as db: write_tables(db, ds)
    pg, name = os.environ.get('MIRADOR_POSTGRES_URL'), f"promote_{uuid.uuid4().hex[:8]}"
    if pg:
        with Database(pg) as admin: admin.con.execute(f'CREATE DATABASE {name}')
        urls.append(pg.rsplit('/', 1)[0] + '/' + name)
    try:
        if pg:
            with Database(urls[1]) as db: write_tables(db, ds)
        args = ['--model-name', s['name'], '--candidate', '2', '--dry-run', '--output', str(s['tmp'] / 'unused')]
        want = run([*PROMOTE, '--data', str(s['data']), *args], env=s['env'], check=False)
        assert want.returncode in (0, 1) and 'on the cohort at' in want.stdout, want.stdout + want.stderr
        for url in urls:
            got = run([*PROMOTE, '--data', url, *args], env=s['env'], check=False)
            assert (got.returncode, got.stdout) == (want.returncode, want.stdout), \
                f"{url.split(':')[0]}:\n{got.stdout}{got.stderr}\nfolder:\n{want.stdout}"
            secret = _postgres_password()
            assert not secret or secret not in got.stdout + got.stderr
        assert not (s['tmp'] / 'unused').exists()                              # a dry run writes nothing
    finally:
        if pg:
            with Database(pg) as admin: admin.con.execute(f'DROP DATABASE {name} WITH (FORCE)')

@pytest.mark.skipif(__import__('importlib.util').util.find_spec('lifetimes') is None,
                    reason="CDNOW ships in the lifetimes package, which is not installed")
def test_cdnow_first_model_promoted_a_newer_one_over_it_an_older_one_refused(tmp_path):
    """CDNOW through churn_train and churn_promote on a local store, each decision on the data of its day: the model of
    24 June 1998 becomes the first champion; the model of the whole log is promoted over it with a paired bootstrap
    interval (called within noise when it holds zero); one trained on the log as it stood six months earlier is refused
    with its figures; the SLO thresholds are options"""
    from mirador_churn.data import read_cdnow
    customers, orders = read_cdnow()
    logs = {'cdnow_jun24': orders[orders.order_date < '1998-06-24'], 'cdnow': orders,
            'cdnow_jan98': orders[orders.order_date < '1998-01-01']}
    for name, o in logs.items():
        (tmp_path / name).mkdir()
        customers.to_csv(tmp_path / name / 'customers.csv', index=False)
        o.to_csv(tmp_path / name / 'orders.csv', index=False)
    store = f"sqlite:///{tmp_path}/mlflow.db"
    env = dict(MIRADOR_CHURN_CACHE=str(tmp_path / 'cache'), MLFLOW_DISABLE_TELEMETRY='true')
    for data in logs:   # versions 1 (the log to 24 June 1998), 2 (the whole log), 3 (the log to 1 January 1998)
        run([*TRAIN, '--data-source', str(tmp_path / data), '--tracking-uri', store, '--max-epochs', '12', '--quiet',
             '--output', str(tmp_path / f'out_{data}')], env=env, timeout=900)
    def promote_cdnow(data, *args, code):
        r = run([*PROMOTE, '--data', str(tmp_path / data), '--tracking-uri', store, '--output',
                 str(tmp_path / 'promotion'), *args], env=env, check=False, timeout=600)
        assert r.returncode == code, f"exit {r.returncode}, not {code}\n{r.stdout}\n{r.stderr[-3000:]}"
        return r.stdout
    out = promote_cdnow('cdnow_jun24', '--candidate', '1', code=0)
    assert 'promoted: version 1 is champion (first champion: ROC AUC' in out and 'pass  SLO: monitor verdict ok' in out
    out = promote_cdnow('cdnow', '--candidate', '2', code=0)
    line = next((l for l in out.splitlines() if l.startswith('promoted: ')), out)   # the files written follow it
    m = re.fullmatch(r"promoted: version 2 is champion, version 1 is previous \(ROC AUC ([-+]\d\.\d{4}) "
                     r"\[95% paired bootstrap ([-+]\d\.\d{4}), ([-+]\d\.\d{4})\](, within noise)?\)", line)
    assert m, out
    d, lo, hi = float(m[1]), float(m[2]), float(m[3])
    assert lo <= d <= hi and bool(m[4]) == (lo <= 0 <= hi), line
    assert json.loads((tmp_path / 'promotion' / 'promotion.json').read_text())['version'] == '2'
    out = promote_cdnow('cdnow', '--candidate', '3', code=1)
    line = out.strip().splitlines()[-1]
    assert line.startswith('refused: version 3 is not promoted: ') and 'SLO: monitor verdict breached' in line, out
    assert '95% paired bootstrap' in out, out
    relaxed = ['--psi_alert', '2', '--feature_psi_alert', '2', '--max_churn_rate_shift', '0.5', '--dry-run']
    out = promote_cdnow('cdnow', '--candidate', '3', *relaxed,
                        code=1 if 'FAIL  ROC AUC' in out or 'FAIL  Brier' in out else 0)
    assert 'pass  SLO: monitor verdict ok' in out, out   # the thresholds reach the monitor

def test_a_model_the_slo_check_cannot_score_is_bad_input(tmp_path):
    "A candidate that keeps its contract but cannot be scored by the monitor raises ScoringError (exit 2), not a refusal"
    from types import SimpleNamespace
    from mirador_churn.core import ChurnError
    from mirador_churn.data import generate_synthetic
    from mirador_churn.promote import PromotionPolicy, _evaluate
    from mirador_churn.scoring import ScoringError
    from mirador_churn.testing import small_model
    ds = generate_synthetic(400, 4000, seed=3)
    path = small_model(3, tmp_path / 'm.onnx', ds)
    reg, cand = SimpleNamespace(onnx=lambda v: path), SimpleNamespace(version='1')
    def broken(p, src): raise ScoringError('the model returned NaN for 3 rows')
    with pytest.raises(ScoringError, match='returned NaN'): _evaluate(reg, cand, None, ds, PromotionPolicy(), broken)
    def unreadable(p, src): raise ChurnError('orders: no such table')   # the data, not the model: the SLO check fails
    checks, evidence, _ = _evaluate(reg, cand, None, ds, PromotionPolicy(), unreadable)
    assert checks[-1].name == 'SLO' and not checks[-1].passed and 'cannot be checked' in checks[-1].detail
    assert evidence['cohort']['n_customers'] > 0
