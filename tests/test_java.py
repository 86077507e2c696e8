"""The Java service (java/, Spring Boot + onnxruntime-java) against the Python one (`churn_serve`), both real
processes on 127.0.0.1: the contract read from the live Python service (OpenAPI document, MCP tool list), the same
answers and errors to the same requests, keys, start-up refusals, a promotion.json served from a real MLflow server,
and the cross-language check: 100 vectors plus edge cases scored by ChurnScorer, both services over HTTP and
onnxruntime-node, within 1e-6."""

import json, os, re, shutil, subprocess, sys, threading, time
from pathlib import Path
import httpx, jsonschema, numpy as np, pytest
from conftest import ROOT, run
from mirador_churn.data import generate_synthetic
from mirador_churn.features import FEATURES, build_features
from mirador_churn.scoring import ChurnScorer
from mirador_churn.testing import ServiceProcess

KEY = 'java-test-key-0123456789abcdef'
JAR = ROOT / 'java' / 'target' / 'churn-java-0.1.0.jar'
MCP_HEADERS = {'Accept': 'application/json, text/event-stream', 'Content-Type': 'application/json'}
PYTHON_ONLY = {
    '/v1/churn/customers/{customer_id}',
    '/v1/churn/top',
    '/v1/churn/monitor',
}  # need the scores table / monitor.json


def _need_java():
    missing = [t for t in ('java', 'mvn') if not shutil.which(t)]
    if missing:
        if os.environ.get('CI'):
            pytest.fail(f"{' and '.join(missing)} missing: CI runs the Java service's tests", pytrace=False)
        pytest.skip(f"no {' and no '.join(missing)} on this machine: the Java service (java/) is not built")


@pytest.fixture(scope='module')
def jar():
    "The service's jar, built by Maven from java/ (tests skipped: `mvn verify` runs them)"
    _need_java()
    run(['mvn', '-q', '-B', '-f', str(ROOT / 'java' / 'pom.xml'), '-DskipTests', 'package'], timeout=900)
    assert JAR.is_file(), f"{JAR} not built"
    return JAR


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    "model.onnx, other.onnx, foreign.onnx, shifted.onnx made now by the project's code (java/tools/make_test_models.py)"
    d = tmp_path_factory.mktemp('java-models')
    run([sys.executable, str(ROOT / 'java' / 'tools' / 'make_test_models.py'), str(d)], cwd=ROOT, timeout=600)
    return d


class JavaProcess:
    "`java -jar churn-java.jar ARGS` on a free port of 127.0.0.1; `url` once it says where it listens; stopped on exit"

    def __init__(self, *args, env=None, timeout=180):
        self.args, self.env, self.timeout, self.url, self._lines = [str(a) for a in args], env, timeout, None, []

    def start(self):
        cmd = ['java', '-Xmx512m', '-jar', str(JAR), *self.args, '--host', '127.0.0.1', '--port', '0']
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(self.env or {})}
        )
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + self.timeout
        while self.url is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"churn-java did not start:\n{self.log[-3000:]}")
            time.sleep(0.05)
        self.startup_s = time.perf_counter() - self.started
        return self

    def _read(self):
        for line in self.proc.stdout:
            self._lines.append(line)
            if self.url is None and (m := re.search(r'churn-java running on (http://\S+)', line)):
                self.url = m[1]

    @property
    def log(self):
        return ''.join(self._lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    __enter__ = start

    def __exit__(self, *exc):
        self.stop()


@pytest.fixture(scope='module')
def both(jar, models):
    "The Python and the Java service on the same model file (same path: same `source`) and key"
    model = models / 'model.onnx'
    with (
        ServiceProcess('--model', model, env={'MIRADOR_API_KEYS': KEY}) as py,
        JavaProcess('--model', model, env={'MIRADOR_API_KEYS': KEY}) as java,
    ):
        py.http = httpx.Client(base_url=py.url, headers={'X-API-Key': KEY}, timeout=60)
        java.http = httpx.Client(base_url=java.url, headers={'X-API-Key': KEY}, timeout=60)
        yield py, java
        py.http.close()
        java.http.close()


def rows_of(X):
    return [dict(zip(FEATURES, map(float, r))) for r in np.asarray(X, np.float32)]


@pytest.fixture(scope='module')
def row():
    ds = generate_synthetic()
    feats = build_features(ds.customers, ds.orders, None, ds.order_items)
    return rows_of(feats[list(FEATURES)].head(1).to_numpy())[0]


def _requests(row):
    "(name, body) pairs: good bodies and each kind of bad row, field and body the contract names"
    bad = lambda **kv: {'rows': [row, {**row, **kv}]}
    drop = {k: v for k, v in row.items() if k != 'cart_diversity'}
    return [
        ('one row', {'rows': [row]}),
        ('three rows', {'rows': [row] * 3}),
        ('float class', bad(email_domain_class=2.0)),
        ('class 5', bad(email_domain_class=5)),
        ('class 1.5', bad(email_domain_class=1.5)),
        ('text', bad(order_frequency='3')),
        ('bool', bad(order_frequency=True)),
        ('null', bad(order_frequency=None)),
        ('list', bad(order_frequency=[1, 2.5])),
        ('object', bad(order_frequency={'a': 'é'})),
        ('too big', bad(total_revenue_30d=1e39)),
        ('big int', bad(total_revenue_30d=10**40)),
        ('negative big', bad(total_revenue_90d=-3.5e38)),
        ('tiny', bad(total_revenue_90d=1.5e-7)),
        ('unknown', bad(x=1)),
        ("unknown '", bad(**{"it's": 1})),
        ('missing', {'rows': [drop]}),
        ('missing all', {'rows': [{}]}),
        ('not an object', {'rows': [row, 1]}),
        ('rows int', {'rows': 3}),
        ('rows text', {'rows': 'a'}),
        ('no rows', {'rows': []}),
        ('no rows key', {'row': []}),
        ('list body', [row]),
        ('101 fields', {'rows': [{**row, **{f'f{i}': 1 for i in range(101)}}]}),
        ('10,001 rows', {'rows': [row] * 10_001}),
    ]


def test_same_answers_to_the_same_requests(both, row):
    "Status and JSON equal for every request, good and bad; negative control: a different row, a different answer"
    py, java = both
    for name, body in _requests(row):
        a, b = py.http.post('/v1/churn/predict', json=body), java.http.post('/v1/churn/predict', json=body)
        assert (a.status_code, a.json()) == (
            b.status_code,
            b.json(),
        ), f"{name}: python {a.text[:300]} java {b.text[:300]}"
    for body in (
        b'{',
        b'{"rows": [] } x',
        b'',
    ):  # the parser's own wording differs (Python's json, Jackson): the prefix is the contract
        a, b = py.http.post('/v1/churn/predict', content=body), java.http.post('/v1/churn/predict', content=body)
        assert a.status_code == b.status_code == 422 and b.json()['detail'].startswith('the body is not JSON: '), (
            body,
            a.text,
            b.text,
        )
    for path in ('/v1/churn/model', '/healthz', '/readyz'):
        assert py.http.get(path).json() == java.http.get(path).json(), path
    other = java.http.post(
        '/v1/churn/predict', json={'rows': [{**row, 'days_since_last_order': row['days_since_last_order'] + 30}]}
    )
    assert other.json() != py.http.post('/v1/churn/predict', json={'rows': [row]}).json()


def test_both_refuse_without_a_key(both):
    py, java = both
    for path, method in [
        ('/v1/churn/predict', 'POST'),
        ('/v1/churn/model', 'GET'),
        ('/metrics', 'GET'),
        ('/mcp', 'POST'),
    ]:
        for headers in ({}, {'X-API-Key': KEY[:-1]}, {'X-API-Key': KEY + 'x'}):
            a = httpx.request(method, py.url + path, headers=headers, json={})
            b = httpx.request(method, java.url + path, headers=headers, json={})
            assert a.status_code == b.status_code == 401 and a.json() == b.json(), (path, headers, a.text, b.text)
            assert a.headers['www-authenticate'] == b.headers['www-authenticate'] == 'ApiKey header="X-API-Key"'
    assert httpx.get(java.url + '/healthz').status_code == httpx.get(java.url + '/readyz').status_code == 200
    assert java.http.get('/metrics').status_code == 200  # the check can fail: with the key it answers
    assert KEY not in java.log and KEY not in py.log


def test_java_answers_the_python_openapi_document(both, row):
    "Every operation of Python's OpenAPI document (but the scores-table ones) is served by Java, valid by its schemas"
    py, java = both
    doc = py.http.get('/openapi.json').json()
    served = {}
    for path, ops in doc['paths'].items():
        if path in PYTHON_ONLY or path.startswith('/insights'):
            continue
        for method, op in ops.items():
            r = java.http.request(method, path, json={'rows': [row]} if method == 'post' else None)
            assert (
                r.status_code != 404 and r.status_code != 405
            ), f"{method.upper()} {path}: Java answers {r.status_code}"
            served[method, path] = r.status_code
            spec = op.get('responses', {}).get(str(r.status_code))
            assert (
                spec is not None or r.status_code == 200
            ), f"{method.upper()} {path}: status {r.status_code} not in the document"
            schema = (spec or {}).get('content', {}).get('application/json', {}).get('schema')
            if schema and r.headers['content-type'].startswith('application/json'):
                jsonschema.validate(r.json(), {**schema, 'components': doc.get('components', {})})
    assert ('post', '/v1/churn/predict') in served and ('get', '/v1/churn/model') in served, served
    # the check can fail: an operation Java does not serve is seen as one
    assert java.http.get('/v1/churn/top').status_code == 404


def _mcp(svc, method, params=None):
    r = svc.http.post(
        '/mcp',
        headers=MCP_HEADERS,
        json={'jsonrpc': '2.0', 'id': 1, 'method': method, **({'params': params} if params else {})},
    )
    assert r.status_code == 200, r.text
    return r.json()['result']


def test_mcp_tool_is_the_python_one(both, row):
    "predict_churn: same name, description, input and output schema; same result and same error text"
    py, java = both
    tool = lambda svc: {t['name']: t for t in _mcp(svc, 'tools/list')['tools']}['predict_churn']
    keep = ('name', 'description', 'inputSchema', 'outputSchema')
    assert {k: tool(py).get(k) for k in keep} == {k: tool(java).get(k) for k in keep}
    call = lambda svc, rows: _mcp(svc, 'tools/call', {'name': 'predict_churn', 'arguments': {'rows': rows}})
    a, b = call(py, [row] * 2), call(java, [row] * 2)
    assert a['structuredContent'] == b['structuredContent'] and not b['isError']
    assert json.loads(b['content'][0]['text']) == b['structuredContent']
    for rows in ([{**row, 'email_domain_class': 9}], [{**row, 'x': 1}], [], [row] * 10_001):
        a, b = call(py, rows), call(java, rows)
        assert a['isError'] and b['isError'] and a['content'][0]['text'] == b['content'][0]['text'], (a, b)
    a, b = call(py, 3), call(java, 3)  # pydantic's wording: the tool's prefix and the error flag are the contract
    assert a['isError'] and b['isError'] and b['content'][0]['text'].startswith('Error executing tool predict_churn: ')


def _vectors(feats, n=100, seed=0):
    "`n` float32 vectors: half uniform within each feature's range in `feats`, half log-uniform 0.001..1e6, 10% negated"
    rng = np.random.default_rng(seed)
    lo, hi = feats.min().to_numpy(np.float64), feats.max().to_numpy(np.float64)
    wide = 10 ** rng.uniform(-3, 6, (n - n // 2, len(FEATURES))) * np.where(
        rng.random((n - n // 2, len(FEATURES))) < 0.1, -1, 1
    )
    X = np.vstack([rng.uniform(lo, hi, (n // 2, len(FEATURES))), wide])
    X[:, FEATURES.index('email_domain_class')] = rng.integers(0, 4, n)
    return X.astype(np.float32)


def _node(model, X, js):
    "Probabilities of the rows of `X` from onnxruntime-node (tests/js/score.mjs)"
    f = Path(model).parent / 'node-input.json'
    f.write_text(json.dumps(np.asarray(X, np.float32).tolist()))
    r = run(['node', str(js / 'score.mjs'), str(model), str(f)], timeout=120)
    return np.array(json.loads(r.stdout)['probabilities'], dtype=np.float64)


def _edge_cases(feats):
    "Zeros, the largest revenues seen and 1e9, each email class, on a median customer"
    med, hi = feats.median(), feats.max()
    rev = [f for f in FEATURES if f.startswith('total_revenue')]
    rows = [
        dict.fromkeys(FEATURES, 0.0),
        {**med, **{f: hi[f] for f in rev}},
        {**med, **{f: 1e9 for f in rev}},
        {**hi},
        *[{**med, 'email_domain_class': c} for c in range(4)],
        *[{**dict.fromkeys(FEATURES, 0.0), 'email_domain_class': c} for c in range(4)],
    ]
    return np.array([[r[f] for f in FEATURES] for r in rows], np.float32)


def _need_node(js):
    "onnxruntime-node (node and tests/js/node_modules): a skip that names what is missing; in CI a failure instead"
    missing = [w for w, ok in (('node', shutil.which('node')), (f"{js / 'node_modules' / 'onnxruntime-node'}",
                                (js / 'node_modules' / 'onnxruntime-node').exists())) if not ok]
    if missing:
        if os.environ.get('CI'):
            pytest.fail(f"{' and '.join(missing)} missing: CI runs the onnxruntime-node leg", pytrace=False)
        pytest.skip(f"no {' and no '.join(missing)} on this machine: the onnxruntime-node leg is not run")


def _cross_inputs(models):
    "100 random vectors over the features' ranges plus the edge cases, and ChurnScorer's probabilities of them"
    ds = generate_synthetic()
    feats = build_features(ds.customers, ds.orders, None, ds.order_items)[list(FEATURES)]
    X = np.vstack([_vectors(feats), _edge_cases(feats)])
    return X, ChurnScorer.load(models / 'model.onnx').predict_proba(X).astype(np.float64)


def _within_1e6(by, ref):
    "The largest |difference| of each scorer's probabilities from ref, and whether every one is within 1e-6"
    diffs = {k: float(np.abs(v - ref).max()) for k, v in by.items()}
    return diffs, all(d <= 1e-6 for d in diffs.values())


def test_cross_language_within_1e6(both, models):
    "100 random vectors over the features' ranges and the edge cases: ChurnScorer and both services"
    py, java = both
    X, ref = _cross_inputs(models)
    body = {'rows': rows_of(X)}
    by = {'ChurnScorer': ref}
    for name, svc in (('python service', py), ('java service', java)):
        r = svc.http.post('/v1/churn/predict', json=body)
        assert r.status_code == 200, r.text
        by[name] = np.array(r.json()['probabilities'])
    diffs, ok = _within_1e6(by, ref)
    print('largest |difference| from ChurnScorer over', len(X), 'vectors:', diffs)
    assert ok, diffs
    # negative controls through the same check: another model, and a perturbed vector, are not within 1e-6
    other = ChurnScorer.load(models / 'other.onnx').predict_proba(X).astype(np.float64)
    assert not _within_1e6({**by, 'other model': other}, ref)[1]
    Xp = X.copy()
    Xp[:, 0] += 7
    moved = np.array(java.http.post('/v1/churn/predict', json={'rows': rows_of(Xp)}).json()['probabilities'])
    assert not _within_1e6({**by, 'java service, moved rows': moved}, ref)[1]


def test_onnxruntime_node_within_1e6(models):
    "The same vectors scored by onnxruntime-node (tests/js/score.mjs) are within 1e-6 of ChurnScorer"
    js = ROOT / 'tests' / 'js'
    _need_node(js)
    X, ref = _cross_inputs(models)
    by = {'onnxruntime-node': _node(models / 'model.onnx', X, js)}
    diffs, ok = _within_1e6(by, ref)
    print('largest |difference| from ChurnScorer over', len(X), 'vectors:', diffs)
    assert ok, diffs
    other = _node(models / 'other.onnx', X, js)
    assert not _within_1e6({**by, 'onnxruntime-node, other model': other}, ref)[1]


def test_without_node_the_leg_skips_with_a_reason_and_ci_fails(monkeypatch, tmp_path):
    "No node or no tests/js/node_modules: a skip naming what is missing; in CI a failure instead"
    monkeypatch.setattr(shutil, 'which', lambda tool: '/usr/bin/' + tool)
    monkeypatch.delenv('CI', raising=False)
    with pytest.raises(pytest.skip.Exception, match='onnxruntime-node on this machine'):
        _need_node(tmp_path)  # no node_modules there
    monkeypatch.setenv('CI', 'true')
    with pytest.raises(pytest.fail.Exception, match='onnxruntime-node missing: CI runs'):
        _need_node(tmp_path)
    monkeypatch.setattr(shutil, 'which', lambda tool: None)
    with pytest.raises(pytest.fail.Exception, match='node and .* missing'):
        _need_node(tmp_path)
    (tmp_path / 'node_modules' / 'onnxruntime-node').mkdir(parents=True)
    monkeypatch.setattr(shutil, 'which', lambda tool: '/usr/bin/' + tool)
    _need_node(tmp_path)  # the check can pass: both present, no skip


def test_start_up_refusals_are_one_line_exit_2(jar, models, tmp_path):
    "A foreign, shifted or broken model, no key, a short key: exit status 2, one line on stderr, no key in it"
    (tmp_path / 'broken.onnx').write_bytes(b'\x08\x07not a model')
    cases = [
        (['--model', models / 'foreign.onnx'], {'MIRADOR_API_KEYS': KEY}, 'no `features` list in the model metadata'),
        (['--model', models / 'shifted.onnx'], {'MIRADOR_API_KEYS': KEY}, '`churn_probability` is outside [0, 1]'),
        (['--model', tmp_path / 'broken.onnx'], {'MIRADOR_API_KEYS': KEY}, 'not a loadable ONNX model'),
        (['--model', models / 'model.onnx'], {'MIRADOR_API_KEYS': ''}, 'no API keys: set MIRADOR_API_KEYS'),
        (
            ['--model', models / 'model.onnx'],
            {'MIRADOR_API_KEYS': 'short-secret'},
            'key 1 of MIRADOR_API_KEYS: an API key must be',
        ),
        (
            ['--model', models / 'model.onnx', '--no-such-flag', '1'],
            {'MIRADOR_API_KEYS': KEY},
            'unknown argument --no-such-flag',
        ),
        (
            ['--model', models / 'model.onnx', '--max-rows', '0'],
            {'MIRADOR_API_KEYS': KEY},
            '--max-rows: expected an integer from 1 to 1000000, got 0',
        ),
        (
            ['--model', models / 'model.onnx', '--poll-every', 'nan'],
            {'MIRADOR_API_KEYS': KEY},
            "--poll-every: expected a number from 0.01 to 3600, got 'nan'",
        ),
        (
            ['--model', models / 'model.onnx', '--max-body-mb', '1e12'],
            {'MIRADOR_API_KEYS': KEY},
            '--max-body-mb: expected a number from 0.001 to 1024, got 1e12',
        ),
    ]
    for args, env, want in cases:
        r = subprocess.run(
            ['java', '-jar', str(jar), *map(str, args), '--port', '0'],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **env},
        )
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and lines and lines[0].startswith('churn-java: error: ') and want in lines[0], (
            args,
            r.stderr[-2000:],
        )
        assert len(lines) == 1, r.stderr
        assert 'short-secret' not in r.stderr + r.stdout and KEY not in r.stderr + r.stdout


def test_a_port_in_use_is_one_line_exit_2(jar, models):
    "Spring cannot start (the port is taken): one line on stderr, exit status 2, no stack trace anywhere"
    import socket

    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = subprocess.run(
            ['java', '-jar', str(jar), '--model', str(models / 'model.onnx'), '--host', '127.0.0.1']
            + ['--port', str(port)],
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, 'MIRADOR_API_KEYS': KEY},
        )
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert r.stderr.strip() == f'churn-java: error: cannot start: Port {port} is already in use', r.stderr[-2000:]
    assert '\tat ' not in r.stdout + r.stderr and 'APPLICATION FAILED TO START' not in r.stdout, r.stdout[-3000:]


def test_promotion_json_from_a_real_mlflow_server(jar, models, tmp_path, monkeypatch):
    "promotion.json names a registered version: downloaded by MLflow's REST API, SHA-256 checked, info as churn_serve's"
    from conftest import serve_mlflow
    from mirador_churn.promote import model_facts, promotion_record
    from mirador_churn.tracking import Tracker, resolve_model

    with serve_mlflow(tmp_path) as (url, _):
        t = Tracker(url)
        t.start({'purpose': 'java test'})
        X = np.zeros((2, len(FEATURES)), np.float32)
        mv = t.register(t.log_onnx(models / 'model.onnx', X), 'churn-java-test')
        t.end()
        monkeypatch.setenv('MIRADOR_CHURN_CACHE', str(tmp_path / 'cache'))
        facts = model_facts(resolve_model(f"models:/churn-java-test/{mv['version']}", url))
        p = promotion_record('churn-java-test', mv['version'], facts)
        (tmp_path / 'promotion.json').write_text(json.dumps(p))
        env = {'MIRADOR_API_KEYS': KEY, 'MLFLOW_TRACKING_URI': url, 'MLFLOW_REGISTRY_URI': url}
        jtmp = tmp_path / 'java-tmp'
        jtmp.mkdir()
        jenv = {**env, 'JAVA_TOOL_OPTIONS': f'-Djava.io.tmpdir={jtmp}'}
        with (
            ServiceProcess('--model', tmp_path / 'promotion.json', env=env) as py,
            JavaProcess('--model', tmp_path / 'promotion.json', '--poll-every', '0.1', env=jenv) as java,
        ):
            a = httpx.get(py.url + '/v1/churn/model', headers={'X-API-Key': KEY}).json()
            b = httpx.get(java.url + '/v1/churn/model', headers={'X-API-Key': KEY}).json()
            assert a == b and b['registry_version'] == str(mv['version']) and b['source'].startswith('models:/'), (a, b)
            downloads = lambda: sorted(p.name for p in jtmp.glob('churn-model-*'))
            assert len(downloads()) == 1, downloads()  # the served version's folder
            # a bad promotion (wrong SHA) is tried once, not every poll, and leaves no folder behind
            (tmp_path / 'next.json').write_text(json.dumps({**p, 'onnx_sha256': '0' * 64}))
            os.replace(tmp_path / 'next.json', tmp_path / 'promotion.json')
            h = {'X-API-Key': KEY}
            end = time.monotonic() + 30
            while httpx.get(java.url + '/readyz', headers=h).status_code != 503 and time.monotonic() < end:
                time.sleep(0.1)
            ready = httpx.get(java.url + '/readyz', headers=h).json()
            assert 'not serving it' in ready['errors']['model'], ready
            time.sleep(2)  # 20 polls
            fails = re.search(r'churn_source_reload_failures_total\{source="model"\} (\S+)',
                              httpx.get(java.url + '/metrics', headers=h).text)
            assert fails and float(fails[1]) == 1.0, fails
            assert len(downloads()) == 1, downloads()
            # the check can fail: a changed file is tried again (and a good one swapped in)
            (tmp_path / 'next.json').write_text(json.dumps({**p, 'alias': 'again'}))
            os.replace(tmp_path / 'next.json', tmp_path / 'promotion.json')
            while httpx.get(java.url + '/readyz', headers=h).status_code != 200 and time.monotonic() < end + 30:
                time.sleep(0.1)
            assert httpx.get(java.url + '/v1/churn/model', headers=h).json()['alias'] == 'again'
        (tmp_path / 'bad.json').write_text(json.dumps({**p, 'onnx_sha256': '0' * 64}))
        r = subprocess.run(
            ['java', '-jar', str(jar), '--model', str(tmp_path / 'bad.json'), '--port', '0'],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **env},
        )
        assert r.returncode == 2 and 'the promotion says 0000000000000000…; not serving it' in r.stderr, r.stderr[
            -2000:
        ]


def test_junit_on_models_made_now(jar, models):
    "The JUnit scoring and refusal tests again, on the ONNX files made in this run (-Dchurn.test.models)"
    tests = 'ServiceTest#predictGivesThePythonScorersProbabilities+foreignBrokenOrUnkeyedStartsAreRefusedInOneLine'
    r = run(
        [
            'mvn',
            '-q',
            '-B',
            '-f',
            str(ROOT / 'java' / 'pom.xml'),
            'test',
            f'-Dchurn.test.models={models}',
            f'-Dtest={tests}',
        ],
        timeout=900,
    )
    assert 'BUILD FAILURE' not in r.stdout and 'ERROR' not in r.stdout, r.stdout[-3000:]


def test_without_java_the_tests_skip_with_a_reason_and_ci_fails(monkeypatch):
    "No JDK or Maven: a skip that names what is missing; in CI (which installs both) a failure instead"
    monkeypatch.setattr(shutil, 'which', lambda tool: None if tool == 'mvn' else '/usr/bin/' + tool)
    monkeypatch.delenv('CI', raising=False)
    with pytest.raises(pytest.skip.Exception, match='no mvn on this machine'):
        _need_java()
    monkeypatch.setenv('CI', 'true')
    with pytest.raises(pytest.fail.Exception, match='mvn missing: CI runs'):
        _need_java()
    monkeypatch.setattr(shutil, 'which', lambda tool: '/usr/bin/' + tool)
    _need_java()  # the check can pass: both present, no skip
