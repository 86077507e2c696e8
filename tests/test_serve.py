"The churn service for real: uvicorn in a subprocess, HTTP with httpx, MCP with the SDK's client, a model swap under load, Node.js."
import asyncio, concurrent.futures, json, os, shutil, subprocess, sys, threading, time
from pathlib import Path
import httpx, numpy as np, pandas as pd, pytest
from conftest import ROOT, run
from mirador_churn.data import atomic_write, generate_synthetic
from mirador_churn.export import export_onnx, onnx_metadata
from mirador_churn.features import FEATURES, ChurnConfig, build_features, build_training_table, default_cutoffs, time_split
from mirador_churn.model import TrainConfig, evaluate, predict_proba, train_model
from mirador_churn.scoring import ChurnScorer
from mirador_churn.data import sha256_file
from mirador_churn.serve import ChurnState, ServeError
from mirador_churn.testing import ServiceProcess
from mirador_churn.insights import ListQuery, complete_scores, select_customers

KEY, FILE_KEY = 'test-key-0123456789abcdef', 'file-key-abcdefghijklmnop'
SERVE = [sys.executable, '-c', 'from mirador_churn.serve import serve_main; serve_main()']

def _train(seed, path, ds):
    cfg, cutoffs = ChurnConfig(), default_cutoffs(ds.orders, n=4)
    train, valid, test = time_split(build_training_table(*ds[:2], cfg, cutoffs, ds.order_items), cfg)
    m, _ = train_model(train, valid, TrainConfig(max_epochs=8, seed=seed), progress=False)
    return export_onnx(m, path, onnx_metadata(m, cfg, TrainConfig(), cutoffs, evaluate(test.churned, predict_proba(m, test)), f'seed-{seed}'))

@pytest.fixture(scope='module')
def files(tmp_path_factory):
    "Two models (A serves first), a scores table by A, a monitor.json and a keys file"
    d = tmp_path_factory.mktemp('serve')
    ds = generate_synthetic()
    a, b = _train(42, d / 'a.onnx', ds), _train(7, d / 'b.onnx', generate_synthetic(seed=7))
    shutil.copy(a, d / 'model.onnx')
    feats = build_features(ds.customers, ds.orders, None, ds.order_items)
    sa = ChurnScorer.load(a)
    scores = pd.DataFrame({'customer_id': feats.customer_id.astype('int64'), 'email': None, 'cutoff': feats.cutoff,
                           'churn_probability': sa.predict_proba(feats), 'model_version': sa.metadata['model_version'],
                           **{f: feats[f] for f in FEATURES}})
    scores.to_parquet(d / 'scores.parquet', index=False)
    (d / 'monitor.json').write_text(json.dumps({'model_version': sa.metadata['model_version'], 'verdict': 'ok', 'breaches': []}))
    (d / 'keys.txt').write_text(f"# keys\n{FILE_KEY}\n")
    return dict(dir=d, a=a, b=b, model=d / 'model.onnx', scores=scores, feats=feats,
                version_a=sa.metadata['model_version'], version_b=ChurnScorer.load(b).metadata['model_version'])

@pytest.fixture(scope='module')
def svc(files):
    d = files['dir']
    with ServiceProcess('--model', files['model'], '--scores', d / 'scores.parquet', '--monitor', d / 'monitor.json',
                        '--api-keys-file', d / 'keys.txt', '--poll-every', 0.1, env={'MIRADOR_API_KEYS': KEY}) as s:
        s.http = httpx.Client(base_url=s.url, headers={'X-API-Key': KEY}, timeout=30)
        yield s
        s.http.close()

def rows_of(frame): return [{f: float(v) for f, v in r.items()} for r in frame[list(FEATURES)].to_dict('records')]

def test_the_service_imports_no_torch(files):
    code = ("import sys; from mirador_churn.serve import create_app; "
            f"app = create_app({str(files['model'])!r}, {str(files['dir'] / 'scores.parquet')!r}, api_keys=['x' * 16]); "
            "print('torch' in sys.modules, len(app.routes) > 5)")
    out = run([sys.executable, '-c', code]).stdout.split()
    assert out == ['False', 'True'], out
    # negative control: the same check sees torch when something imports it
    assert run([sys.executable, '-c', code.replace('import sys;', 'import sys, mirador_churn.model;')]).stdout.split()[0] == 'True'

def test_predict_returns_the_scorers_probabilities_and_version(svc, files):
    rows = rows_of(files['feats'])
    r = svc.http.post('/v1/churn/predict', json={'rows': rows})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body['model_version'] == files['version_a'] and len(body['probabilities']) == len(rows) > 500
    expected = ChurnScorer.load(files['a']).predict_proba(files['feats'])
    assert np.array_equal(np.array(body['probabilities'], dtype=np.float32), expected)
    assert 'app;dur=' in r.headers['server-timing']

def test_customer_top_and_model(svc, files):
    s = files['scores']
    cid = int(s.customer_id.iloc[3])
    c = svc.http.get(f'/v1/churn/customers/{cid}').json()
    assert c['customer_id'] == cid and c['churn_probability'] == float(s.churn_probability.iloc[3]) and c['email'] is None
    assert c['features'] == {f: float(s[f].iloc[3]) for f in FEATURES} and c['cutoff'].startswith(str(s.cutoff.iloc[3].date()))
    assert svc.http.get('/v1/churn/customers/999999999').status_code == 404
    assert svc.http.get('/v1/churn/customers/abc').status_code == 422
    top = svc.http.get('/v1/churn/top', params={'n': 5}).json()['customers']
    best = s.sort_values(['churn_probability', 'customer_id'], ascending=[False, True]).head(5)
    assert [t['customer_id'] for t in top] == best.customer_id.tolist()
    assert [svc.http.get('/v1/churn/top', params={'n': n}).status_code for n in (0, 1001, 1000)] == [422, 422, 200]
    m = svc.http.get('/v1/churn/model').json()
    assert m['features'] == list(FEATURES) and m['model_version'] == files['version_a'] and m['data_checksum'] == 'seed-42'
    assert (m['label_windows']['horizon_days'], m['label_windows']['gap_days'], m['label_windows']['active_days']) == (90, 0, 365)
    assert m['onnx_sha256'] == sha256_file(files['a'])
    assert svc.http.get('/v1/churn/monitor').json()['verdict'] == 'ok'

def test_top_is_the_working_list(svc, files):
    "Paging, filters, value ordering and CSV through /v1/churn/top, against the list computed from the scores file"
    s = complete_scores(files['scores'])[0]
    r = svc.http.get('/v1/churn/top', params={'n': 7, 'page': 2, 'order_by': 'value', 'risk': 'low'})
    body, (rows, total) = r.json(), select_customers(s, ListQuery(risk='low', order_by='value', per_page=7, page=2))
    assert r.status_code == 200 and body['total'] == total > 14 and (body['page'], body['n']) == (2, 7)
    assert [c['customer_id'] for c in body['customers']] == rows.customer_id.tolist()
    assert body['absent'] == ['name', 'channel', 'city']          # this table has the older layout; value is computed
    for c in body['customers']:
        assert c['risk_band'] == 'low' and c['name'] is None
        assert abs(c['value_at_risk'] - c['churn_probability'] * c['features']['total_revenue_365d']) < 1e-3
    values = [c['value_at_risk'] for c in body['customers']]
    assert values == sorted(values, reverse=True)
    csv = svc.http.get('/v1/churn/top', params={'n': 1000, 'recency': 'gone'}, headers={'Accept': 'text/csv'})
    assert csv.headers['content-type'].startswith('text/csv'), csv.headers
    back = pd.read_csv(__import__('io').StringIO(csv.text))
    gone, n_gone = select_customers(s, ListQuery(recency='gone', order_by='probability', per_page=1000))
    assert n_gone > 0 and back.customer_id.tolist() == gone.customer_id.tolist() and (back.recency_band == 'gone').all()
    assert svc.http.get('/v1/churn/top', params={'format': 'csv', 'n': 3}).text.count('\n') == 4   # header and 3 rows
    for params, detail in [({'n': 5000}, "n: expected an integer from 1 to 1,000, got '5000'"),
                           ({'n': 1001, 'format': 'csv'}, "n: expected an integer from 1 to 1,000, got '1001'"),
                           ({'risk': 'severe'}, "risk: expected one of high, medium, low, got 'severe'"),
                           ({'order_by': 'age'}, "order_by: expected one of value, probability, got 'age'"),
                           ({'format': 'xml'}, "format: expected json or csv, got 'xml'"),
                           ({'q': 'x' * 201}, 'q: at most 200 characters, got 201')]:
        bad = svc.http.get('/v1/churn/top', params=params)
        assert (bad.status_code, bad.json()) == (422, {'detail': detail}), (params, bad.text)

def test_keys(svc, files):
    url = svc.url + '/v1/churn/top'
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={'X-API-Key': KEY.upper()}).status_code == 401
    assert httpx.get(url, headers={'X-API-Key': KEY[:-1]}).status_code == 401
    assert httpx.get(url, headers={'X-API-Key': FILE_KEY}).status_code == 200
    for path in ('/metrics', '/v1/churn/model', '/v1/churn/customers/1', '/docs', '/openapi.json', '/mcp', '/nowhere'):
        assert httpx.get(svc.url + path).status_code == 401, path
    assert httpx.post(svc.url + '/v1/churn/predict', json={'rows': []}).status_code == 401
    assert [httpx.get(svc.url + p).status_code for p in ('/healthz', '/readyz')] == [200, 200]
    assert svc.http.get('/readyz').json()['model_version'] == files['version_a']   # the swap tests come later
    svc.http.get('/v1/churn/top')
    time.sleep(0.2)
    assert 'GET /v1/churn/top' in svc.log, svc.log[-2000:]   # the access log is on: it records requests...
    assert KEY not in svc.log and FILE_KEY not in svc.log and KEY.upper() not in svc.log   # ...but never a key

def test_bounds_and_bad_rows(svc, files):
    row = rows_of(files['feats'].head(1))[0]
    post = lambda **kw: svc.http.post('/v1/churn/predict', **kw)
    r = post(json={'rows': [row] * 10_001})
    assert r.status_code == 413 and r.json()['detail'] == '10,001 rows; a request may hold at most 10,000'
    r = post(content=b'{"rows": [' + b' ' * (9 << 20) + b']}')
    assert r.status_code == 413 and 'the limit is 8,388,608' in r.json()['detail']
    r = post(content=(b'{"rows": [' + b' ' * (1 << 20) + b']}' for _ in range(9)))   # chunked: no Content-Length
    assert r.status_code == 413 and 'larger than the limit' in r.json()['detail'], r.text
    for body, status, detail in [({'rows': [row, {**row, 'cart_diversity': 'x'}]}, 422, 'row 1, field cart_diversity: expected a number, got "x"'),
                                 ({'rows': [row, row, {k: v for k, v in row.items() if k != 'order_frequency'}]}, 422, 'row 2: missing field order_frequency'),
                                 ({'rows': [{**row, 'email_domain_class': 9}]}, 422, 'row 0, field email_domain_class: 9 is not one of'),
                                 ({'rows': [{**row, 'extra': 1}]}, 422, "row 0: unknown field 'extra'"),
                                 ({'rows': []}, 422, 'no rows to score'), ({'rowz': [row]}, 422, 'expected {"rows"')]:
        r = post(json=body)
        assert (r.status_code, r.json()['detail'][:len(detail)]) == (status, detail), r.text
    for raw in (b'{"rows": [', b'[1, 2]', b'{"rows": [{"days_since_last_order": NaN}]}', b'\xff\xfe'):
        r = post(content=raw)
        assert r.status_code == 422 and 'Traceback' not in r.text and 'detail' in r.json(), r.text

def test_metrics(svc, files):
    before = svc.http.get('/metrics').text
    svc.http.post('/v1/churn/predict', json={'rows': rows_of(files['feats'].head(7))})
    httpx.get(svc.url + '/v1/churn/customers/1')
    text = svc.http.get('/metrics').text
    def value(t, prefix):
        return sum(float(l.rsplit(' ', 1)[1]) for l in t.splitlines() if l.startswith(prefix))
    assert value(text, 'churn_served_probability_count') - value(before, 'churn_served_probability_count') == 7
    assert value(text, 'churn_http_requests_total{method="GET",route="/v1/churn/customers/{customer_id}",status="401"}') >= 1, text
    assert value(text, 'churn_http_request_duration_seconds_count{route="/v1/churn/predict",status="200"}') >= 1
    assert 'churn_served_probability_bucket{le="+Inf"}' in text and f'churn_model_info{{model_version="' in text
    assert 'customers/1"' not in text   # routes are templates, not one series per customer

def test_mcp_over_http(svc, files):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    cid = int(files['scores'].customer_id.iloc[0])
    row = rows_of(files['feats'].head(1))[0]
    async def session(key):
        async with httpx2.AsyncClient(headers={'X-API-Key': key}, timeout=30) as http, \
                   Client(streamable_http_client(svc.url + '/mcp', http_client=http)) as c:
            names = sorted(t.name for t in (await c.list_tools()).tools)
            risk = (await c.call_tool('customer_churn_risk', {'customer_id': cid})).structured_content
            pred = (await c.call_tool('predict_churn', {'rows': [row, row]})).structured_content
            bad = await c.call_tool('predict_churn', {'rows': [{**row, 'cart_diversity': 'x'}]})
            missing = await c.call_tool('customer_churn_risk', {'customer_id': 999999999})
            listed = (await c.call_tool('at_risk_customers', {'segment': 'lapsing', 'limit': 4})).structured_content
            wrong = await c.call_tool('at_risk_customers', {'segment': 'asleep'})
            too_many = await c.call_tool('at_risk_customers', {'limit': 1001})
            return names, risk, pred, bad, missing, (listed, wrong, too_many)
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        names, risk, pred, bad, missing, (listed, wrong, too_many) = ex.submit(asyncio.run, session(KEY)).result()
    assert names == ['at_risk_customers', 'customer_churn_risk', 'predict_churn']
    rows, total = select_customers(complete_scores(files['scores'])[0], ListQuery(recency='lapsing', per_page=4))
    assert listed['total'] == total > 4 and [c['customer_id'] for c in listed['customers']] == rows.customer_id.tolist()
    assert {c['recency_band'] for c in listed['customers']} == {'lapsing'}
    assert wrong.is_error and "segment: expected one of buying, lapsing, gone, got 'asleep'" in wrong.content[0].text
    assert too_many.is_error and "limit: expected an integer from 1 to 1,000, got '1001'" in too_many.content[0].text
    assert risk['customer_id'] == cid and risk['churn_probability'] == float(files['scores'].churn_probability.iloc[0])
    assert len(pred['probabilities']) == 2 and pred['model_version'] in (files['version_a'], files['version_b'])
    assert bad.is_error and 'row 0, field cart_diversity: expected a number' in bad.content[0].text
    assert missing.is_error and 'customer 999999999 is not in the scores table' in missing.content[0].text
    assert httpx.post(svc.url + '/mcp', json={'jsonrpc': '2.0', 'id': 1, 'method': 'tools/list'}).status_code == 401

def test_mcp_over_stdio(files):
    from mcp import Client, StdioServerParameters
    cid = int(files['scores'].customer_id.iloc[0])
    server = StdioServerParameters(command=SERVE[0], args=[*SERVE[1:], '--mcp-stdio', '--model', str(files['a']),
                                                           '--scores', str(files['dir'] / 'scores.parquet')])
    async def session():
        async with Client(server) as c:
            return sorted(t.name for t in (await c.list_tools()).tools), (await c.call_tool('customer_churn_risk', {'customer_id': cid})).structured_content
    with concurrent.futures.ThreadPoolExecutor(1) as ex: names, risk = ex.submit(asyncio.run, session()).result()
    assert names == ['at_risk_customers', 'customer_churn_risk', 'predict_churn'] and risk['customer_id'] == cid

def test_model_swap_under_load(svc, files):
    "8 clients predict while the model file is replaced (A→B): no request fails, each answer matches the version it names"
    rows = rows_of(files['feats'].head(3))
    expected = {files['version_a']: ChurnScorer.load(files['a']).predict_proba(files['feats'].head(3)).tolist(),
                files['version_b']: ChurnScorer.load(files['b']).predict_proba(files['feats'].head(3)).tolist()}
    stop, results, failures = threading.Event(), [], []
    def client():
        with httpx.Client(base_url=svc.url, headers={'X-API-Key': KEY}, timeout=30) as c:
            while not stop.is_set():
                try:
                    r = c.post('/v1/churn/predict', json={'rows': rows})
                    if r.status_code != 200: failures.append((r.status_code, r.text)); continue
                    b = r.json(); results.append((time.monotonic(), b['model_version'], b['probabilities']))
                except Exception as e: failures.append(repr(e))
    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads: t.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(results) < 50 and not failures: time.sleep(0.05)   # load is on before the swap
    assert {v for _, v, _ in results} == {files['version_a']}, failures[:3]
    swapped_at = time.monotonic()
    atomic_write(files['model'], lambda tmp: shutil.copy(files['b'], tmp))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(v == files['version_b'] for _, v, _ in results[-50:]): time.sleep(0.05)
    time.sleep(1.0)
    stop.set()
    for t in threads: t.join()
    assert not failures, failures[:5]
    versions = [v for _, v, _ in results]
    assert files['version_a'] in versions and files['version_b'] in versions, set(versions)
    assert all(p == expected[v] for _, v, p in results)   # a response never mixes one model's version with another's scores
    first_b = min(t for t, v, _ in results if v == files['version_b'])
    after = [v for t, v, _ in results if t > first_b + 0.5]   # once swapped, swapped for good
    assert after and set(after) == {files['version_b']}
    assert len(results) > 100

def test_a_bad_model_file_keeps_the_old_model(svc, files):
    before = svc.http.get('/v1/churn/model').json()['model_version']
    atomic_write(files['model'], lambda tmp: Path(tmp).write_bytes(b'\x00not onnx'))
    for _ in range(100):
        stale = svc.http.get('/readyz').json()['errors']
        if stale: break
        time.sleep(0.05)
    assert 'not a loadable ONNX model' in stale.get('model', ''), stale
    assert httpx.get(svc.url + '/readyz').status_code == 503   # stale is not ready
    assert svc.http.get('/v1/churn/model').json()['model_version'] == before
    assert svc.http.post('/v1/churn/predict', json={'rows': rows_of(files['feats'].head(2))}).status_code == 200
    atomic_write(files['model'], lambda tmp: shutil.copy(files['a'], tmp))
    for _ in range(100):
        if svc.http.get('/v1/churn/model').json()['model_version'] == files['version_a']: break
        time.sleep(0.05)
    assert svc.http.get('/v1/churn/model').json()['model_version'] == files['version_a'] and svc.http.get('/readyz').json()['stale'] == []

def test_scores_and_monitor_reload(svc, files):
    d, s = files['dir'], files['scores'].copy()
    cid = int(s.customer_id.iloc[0])
    s.loc[0, 'churn_probability'] = np.float32(0.125)
    atomic_write(d / 'scores.parquet', lambda tmp: s.to_parquet(tmp, index=False))
    atomic_write(d / 'monitor.json', lambda tmp: Path(tmp).write_text(json.dumps({'verdict': 'breached', 'breaches': ['score_psi']})))
    for _ in range(100):
        if svc.http.get(f'/v1/churn/customers/{cid}').json()['churn_probability'] == 0.125 and svc.http.get('/v1/churn/monitor').json()['verdict'] == 'breached': break
        time.sleep(0.05)
    assert svc.http.get(f'/v1/churn/customers/{cid}').json()['churn_probability'] == 0.125
    assert svc.http.get('/v1/churn/monitor').json() == {'verdict': 'breached', 'breaches': ['score_psi']}

def test_promotion_file_swapped_like_a_configmap(files, tmp_path):
    "promotion.json through Kubernetes' symlinks (..data -> a timestamped folder): new version on swap, a bad SHA-256 refused"
    def promotion(model, version): return {'model_name': 'mirador-churn', 'version': version, 'alias': 'champion', 'artifact_uri': str(model),
                                           'onnx_sha256': sha256_file(model), 'features': list(FEATURES), 'input': 'features',
                                           'output': 'churn_probability', 'previous_version': None}
    def publish(doc, name):
        (tmp_path / name).mkdir()
        (tmp_path / name / 'promotion.json').write_text(json.dumps(doc))
        os.symlink(name, tmp_path / '..data_tmp'); os.replace(tmp_path / '..data_tmp', tmp_path / '..data')
    publish(promotion(files['a'], '1'), '..2026_11_26_1')
    os.symlink('..data/promotion.json', tmp_path / 'promotion.json')
    state = ChurnState(tmp_path / 'promotion.json', api_keys=[KEY])
    assert (state.model_info['model_version'], state.model_info['registry_version']) == (files['version_a'], '1')
    publish(promotion(files['b'], '2'), '..2026_11_26_2')
    assert state.refresh() == ['model'] and state.model_info['model_version'] == files['version_b']
    publish({**promotion(files['a'], '3'), 'onnx_sha256': sha256_file(files['b'])}, '..2026_11_26_3')
    assert state.refresh() == [] and state.model_info['model_version'] == files['version_b']
    assert 'has SHA-256' in state._model.error

def test_churn_serve_errors_are_one_line(files, tmp_path):
    for args, env, message in [(['--model', str(tmp_path / 'none.onnx')], {'MIRADOR_API_KEYS': KEY}, 'none.onnx: no such model file'),
                               (['--model', str(files['a'])], {'MIRADOR_API_KEYS': ''}, 'no API keys: set MIRADOR_API_KEYS'),
                               (['--model', str(files['a'])], {'MIRADOR_API_KEYS': 'short'}, 'key 1 of MIRADOR_API_KEYS: an API key must be at least 16'),
                               (['--model', str(files['a']), '--scores', str(tmp_path / 'none.parquet')], {'MIRADOR_API_KEYS': KEY}, 'none.parquet: no such scores table')]:
        r = run([*SERVE, *args, '--port', '0'], env=env, check=False, timeout=60)
        assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith('churn_serve: error: ') and message in r.stderr, r.stderr
        assert 'short' not in r.stderr.replace('at least', '')

def cross_language_vectors(scores:pd.DataFrame, n:int=100, seed:int=0)->np.ndarray:
    "`n` float32 vectors: half uniform within the ranges of the table's features, half log-uniform 0.001..1e6, a tenth negated"
    rng, names = np.random.default_rng(seed), list(scores.columns[-8:])
    lo, hi = scores[names].min().to_numpy(np.float64), scores[names].max().to_numpy(np.float64)
    inside = rng.uniform(lo, hi, (n // 2, len(names)))
    wide = 10 ** rng.uniform(-3, 6, (n - n // 2, len(names))) * np.where(rng.random((n - n // 2, len(names))) < 0.1, -1, 1)
    X = np.vstack([inside, wide])
    if 'email_domain_class' in names: X[:, names.index('email_domain_class')] = rng.integers(0, 4, n)
    return X.astype(np.float32)

def node_probabilities(model_path, X:np.ndarray, js_dir)->np.ndarray:
    "Churn probabilities of the rows of `X` from `model_path`, scored by onnxruntime-node (`js_dir/score.mjs`)"
    import tempfile
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as f: json.dump(np.asarray(X, np.float32).tolist(), f)
    try: r = subprocess.run(['node', str(Path(js_dir) / 'score.mjs'), str(model_path), f.name], capture_output=True, text=True, timeout=120)
    finally: os.remove(f.name)
    if r.returncode: raise ServeError(f"node score.mjs failed: {r.stderr.strip()[-500:]}")
    return np.array(json.loads(r.stdout)['probabilities'], dtype=np.float64)

def test_cross_language_node(svc, files):
    "The same model.onnx in onnxruntime-node: 100 vectors spanning the features' ranges, within 1e-6 of the Python service"
    js = ROOT / 'tests' / 'js'
    if not (shutil.which('node') and (js / 'node_modules' / 'onnxruntime-node').exists()):
        if os.environ.get('CI'): pytest.fail('node or tests/js/node_modules missing: .ci/run must run npm ci --prefix tests/js', pytrace=False)
        pytest.skip('no node or onnxruntime-node: run `npm ci --prefix tests/js`')
    X = cross_language_vectors(files['scores'])
    assert X.shape == (100, 8) and (X < 0).any() and X.max() > 1e4   # the extremes are there
    version = svc.http.get('/v1/churn/model').json()['model_version']
    model = files['a'] if version == files['version_a'] else files['b']
    served = svc.http.post('/v1/churn/predict', json={'rows': [dict(zip(FEATURES, map(float, x))) for x in X]}).json()
    assert served['model_version'] == version
    by_node = node_probabilities(model, X, js)
    diff = np.abs(by_node - np.array(served['probabilities'])).max()
    assert diff <= 1e-6, diff
    other = node_probabilities(files['b'] if model == files['a'] else files['a'], X, js)   # negative control: another model differs
    assert np.abs(other - np.array(served['probabilities'])).max() > 1e-3
