"""Spark beyond one JVM, for real, on loopback: a standalone master and two workers started from pyspark's own
launcher, and a Spark Connect server started from pyspark's own sbin script; the same parity on each as on local[2]."""
import json, os, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import numpy as np, pandas as pd, pytest
from mirador_churn.data import generate_synthetic, save_dataset
from mirador_churn.features import ChurnConfig, build_features, build_training_table, default_cutoffs
from mirador_churn.testing import assert_same_table, small_model

if not shutil.which('java'):
    if os.environ.get('CI'): pytest.fail('java is missing: .ci/system.sh must install a JRE for the Spark tests', pytrace=False)
    pytest.skip('no Java: install a JRE (e.g. openjdk-17-jre-headless) to run the Spark tests', allow_module_level=True)
pytest.importorskip('pyspark') if not os.environ.get('CI') else None

from mirador_churn.spark import spark_session, spark_training_sample, spark_training_table, spark_write_scores

@pytest.fixture(scope='module')
def shop(tmp_path_factory):
    "The seed-42 shop, written as Parquet by pandas, with its training table (4 cutoffs) and a small model"
    d = tmp_path_factory.mktemp('shop')
    ds = generate_synthetic()
    save_dataset(ds, d / 'data')
    cutoffs = default_cutoffs(ds.orders, n=4)
    want = build_training_table(*ds[:2], ChurnConfig(), cutoffs, ds.order_items)
    return ds, d / 'data', cutoffs, want, small_model(42, d / 'model.onnx', ds, max_epochs=3)

def _free_ports(n:int)->list[int]:
    "`n` free loopback ports in this project's range 18400-18499"
    held = []
    try:
        for port in range(18400, 18500):
            s = socket.socket()
            try: s.bind(('127.0.0.1', port)); held.append(s)
            except OSError: s.close()
            if len(held) == n: return [h.getsockname()[1] for h in held]
        pytest.skip(f'fewer than {n} free ports in 18400-18499')
    finally:
        for h in held: h.close()

def _cluster_status(ui_port:int)->dict:
    with urllib.request.urlopen(f'http://127.0.0.1:{ui_port}/json/', timeout=5) as r: return json.load(r)

class _Procs:
    "Child processes, each in its own session and with its own log; all stopped by `stop`"
    def __init__(self, tmp_path:Path, env:dict): self.tmp, self.env, self.procs = tmp_path, env, []
    def start(self, name:str, *cmd):
        with open(self.tmp / f'{name}.log', 'wb') as log:   # the child writes to its own copy of the descriptor
            self.procs.append(subprocess.Popen([str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT,
                                               env=self.env, start_new_session=True))
    def alive(self)->bool: return all(p.poll() is None for p in self.procs)
    def log(self, name:str)->str: return (self.tmp / f'{name}.log').read_text(errors='replace')[-2000:]
    def stop(self):
        for p in self.procs:
            try: os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError: pass
        for p in self.procs:
            try: p.wait(timeout=30)
            except subprocess.TimeoutExpired: os.killpg(p.pid, signal.SIGKILL); p.wait(timeout=10)

def _spark_env(tmp_path:Path)->tuple[Path, dict]:
    import pyspark
    home = Path(pyspark.__file__).parent
    return home, {**os.environ, 'SPARK_HOME': str(home), 'SPARK_LOCAL_IP': '127.0.0.1', 'SPARK_LOG_DIR': str(tmp_path),
                  'SPARK_PID_DIR': str(tmp_path), 'PYSPARK_PYTHON': sys.executable}

@pytest.fixture
def standalone(tmp_path):
    "A Spark master and two one-core workers, started with pyspark's own spark-class on loopback; stopped after"
    home, env = _spark_env(tmp_path)
    procs = _Procs(tmp_path, env)
    try:
        port, ui, *worker_ui = _free_ports(4)
        procs.start('master', home / 'bin' / 'spark-class', 'org.apache.spark.deploy.master.Master', '--host', '127.0.0.1',
                    '--port', port, '--webui-port', ui)
        for i in range(2):
            procs.start(f'worker{i}', home / 'bin' / 'spark-class', 'org.apache.spark.deploy.worker.Worker',
                        f"spark://127.0.0.1:{port}", '--host', '127.0.0.1', '--cores', '1', '--memory', '1g',
                        '--webui-port', worker_ui[i], '--work-dir', tmp_path / f'work{i}')
        deadline, alive = time.monotonic() + 120, 0
        while time.monotonic() < deadline:
            try: alive = sum(w['state'] == 'ALIVE' for w in _cluster_status(ui)['workers'])
            except OSError: pass
            if alive == 2: break
            assert procs.alive(), procs.log('master')
            time.sleep(1)
        assert alive == 2, f"{alive} of 2 workers registered in 120 s: {procs.log('worker0')}"
        yield f"spark://127.0.0.1:{port}", ui
    finally: procs.stop()

def test_parity_on_a_standalone_cluster(shop, standalone, tmp_path):
    "The same parity on spark://127.0.0.1 with two worker processes: the table, the sample, the lake, the scores"
    from mirador_churn.scoring import ChurnScorer
    master, ui = standalone
    ds, d, cutoffs, want, model = shop
    cluster = spark_session(master, shuffle_partitions=4, app_name='mirador-churn-cluster-test')
    try:
        assert cluster.sparkContext.master == master
        assert_same_table(spark_training_table(f'spark:{d}', ChurnConfig(), cutoffs), want)
        apps = _cluster_status(ui)['activeapps']
        assert [a['name'] for a in apps] == ['mirador-churn-cluster-test'] and apps[0]['cores'] == 2
        part, info = spark_training_sample(cluster, ChurnConfig(), cutoffs, max_rows=800, seed=1)
        assert_same_table(part, want.merge(part[['customer_id', 'cutoff']]))
        assert info['sampled'] <= 800 < info['rows']
        counts = spark_write_scores(cluster, model, f'spark:{tmp_path}/scores')
        lake = pd.read_parquet(counts['output']).sort_values('customer_id', ignore_index=True)
        feats = build_features(*ds[:2], order_items=ds.order_items)
        assert lake.customer_id.tolist() == feats.customer_id.tolist() and counts['scored'] == len(feats)
        want_p = ChurnScorer.load(model).predict_proba(feats)
        assert np.array_equal(lake.churn_probability.to_numpy(), want_p) and lake.churn_probability.std() > 0
    finally: cluster.stop()

def _wait_for_port(port:int, procs:_Procs, name:str, seconds:float=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(('127.0.0.1', port)) == 0: return
        assert procs.alive(), procs.log(name)
        time.sleep(1)
    pytest.fail(f"{name} did not listen on 127.0.0.1:{port} in {seconds:.0f} s: {procs.log(name)}")

@pytest.fixture
def connect_server(tmp_path):
    "A Spark Connect server (local[2]) from pyspark's own sbin/start-connect-server.sh, in the foreground, on loopback"
    pytest.importorskip('grpc', reason='the Spark Connect client needs pyspark[connect] (grpcio, grpcio-status, zstandard)')
    home, env = _spark_env(tmp_path)
    script = home / 'sbin' / 'start-connect-server.sh'
    assert script.is_file(), f'this pyspark does not ship {script}'
    procs, (port,) = _Procs(tmp_path, env), _free_ports(1)
    conf = [f'--conf={k}={v}' for k, v in (('spark.connect.grpc.binding.address', '127.0.0.1'),
            ('spark.connect.grpc.binding.port', port), ('spark.driver.host', '127.0.0.1'),
            ('spark.driver.bindAddress', '127.0.0.1'), ('spark.ui.enabled', 'false'),
            ('spark.sql.shuffle.partitions', 4))]
    try:
        procs.start('connect', 'bash', script, '--wait', '--master', 'local[2]', *conf)
        _wait_for_port(port, procs, 'connect')
        yield f'sc://127.0.0.1:{port}'
    finally: procs.stop()

def test_parity_through_spark_connect(shop, connect_server, tmp_path, monkeypatch):
    "SPARK_REMOTE=sc://127.0.0.1:PORT: the same table and scores, the model bytes travelling with the function"
    from mirador_churn.scoring import ChurnScorer
    ds, d, cutoffs, want, model = shop
    monkeypatch.setenv('SPARK_REMOTE', connect_server)
    mode = os.environ.get('SPARK_CONNECT_MODE_ENABLED')   # pyspark sets it for the process on a remote session
    remote = spark_session()
    try:
        assert type(remote).__module__.startswith('pyspark.sql.connect'), type(remote)
        assert_same_table(spark_training_table(f'spark:{d}', ChurnConfig(), cutoffs), want)
        counts = spark_write_scores(remote, model, f'spark:{tmp_path}/scores')
        lake = pd.read_parquet(counts['output']).sort_values('customer_id', ignore_index=True)
        feats = build_features(*ds[:2], order_items=ds.order_items)
        assert lake.customer_id.tolist() == feats.customer_id.tolist() and counts['scored'] == len(feats)
        assert np.array_equal(lake.churn_probability.to_numpy(), ChurnScorer.load(model).predict_proba(feats))
    finally:
        remote.stop()
        if mode is None: os.environ.pop('SPARK_CONNECT_MODE_ENABLED', None)
