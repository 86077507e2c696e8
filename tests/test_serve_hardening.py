"""The churn service under attack and on real data (issue 21): a real `churn_serve` under uvicorn, raw sockets where an
HTTP client would hide the problem (chunked and oversized bodies, huge or slow headers, duplicate headers, Host)."""
import asyncio, concurrent.futures, json, shutil, socket, statistics, subprocess, sys, threading, time
from pathlib import Path
from urllib.parse import urlparse
import httpx, numpy as np, pandas as pd, pytest
from conftest import run
from mirador_churn.data import atomic_write, generate_synthetic
from mirador_churn.export import export_onnx, onnx_metadata
from mirador_churn.features import FEATURES, ChurnConfig, build_features, build_training_table, default_cutoffs, time_split
from mirador_churn.model import TrainConfig, evaluate, predict_proba, train_model
from mirador_churn.scoring import ChurnScorer
from mirador_churn.testing import ServiceProcess

KEY, FILE_KEY, GONE_KEY = 'hard-key-0123456789abcdef', 'file-key-#0123456789abcdef', 'gone-key-zyxwvutsrqponmlk'
SERVE = [sys.executable, '-c', 'from mirador_churn.serve import serve_main; serve_main()']
BOUNDS = ['--header-timeout', 2, '--body-timeout', 3, '--max-connections', 40, '--poll-every', 0.2]
APDEX = {'value': 0.9, 'satisfied': 26, 'tolerating': 2, 'frustrated': 2, 'cohorts': 30, 'basis': 'realized',
         'target': 0.7, 'floor': 0.6}
MONITOR = {'verdict': 'ok', 'breaches': [], 'generated_at': '2026-01-01', 'accuracy_apdex': APDEX,
           'current': {'score_psi': 0.02, 'estimated_auc': 0.8, 'estimated_churn_rate': 0.25,
                       'features': {f: {'psi': 0.01} for f in FEATURES}},
           'reference': {'churn_rate': 0.2}, 'cohorts': [{'date': '2025-10-03', 'realized_auc': 0.78}],
           'series': [{'date': '2026-01-01', 'score_psi': 0.02, 'estimated_auc': 0.8}]}

def rss_mb(pid)->float:
    "Resident memory of process `pid`, in MB"
    return next(int(l.split()[1]) for l in Path(f'/proc/{pid}/status').read_text().splitlines() if l.startswith('VmRSS')) / 1024

def addr(url): u = urlparse(url); return u.hostname, u.port

def raw(url, data:bytes, timeout:float=5.0)->bytes:
    "Send `data` on a fresh connection; everything the server answers until it closes or `timeout` passes"
    with socket.create_connection(addr(url), timeout=timeout) as s:
        s.sendall(data)
        out = b''
        try:
            while chunk := s.recv(65536): out += chunk
        except (socket.timeout, ConnectionResetError): pass
        return out

def status_of(answer:bytes)->int: return int(answer.split(b' ', 2)[1]) if answer.startswith(b'HTTP/1.1 ') else 0

def stream(url, head:bytes, piece:bytes, most:int)->tuple:
    "Send `head`, then `piece` again and again up to `most` bytes or until the server answers; (answer, bytes sent)"
    import select
    with socket.create_connection(addr(url), timeout=10) as s:
        s.sendall(head)
        sent, answer, pending = len(head), b'', memoryview(b'')
        try:
            while sent < most or pending:
                readable, writable, _ = select.select([s], [s], [], 5)
                if readable:
                    answer = s.recv(65536)
                    break
                if not writable: break
                if not pending: pending = memoryview(piece)
                n = s.send(pending)
                pending, sent = pending[n:], sent + n
            s.settimeout(3)
            while chunk := s.recv(65536): answer += chunk
        except (socket.timeout, ConnectionResetError, BrokenPipeError): pass
        return answer, sent

@pytest.fixture(scope='module')
def files(tmp_path_factory):
    "A model, a scores table in which every column has missing values (as churn_score writes e-mails), monitor.json, keys"
    d = tmp_path_factory.mktemp('hard')
    ds = generate_synthetic()
    cfg, cutoffs = ChurnConfig(), default_cutoffs(ds.orders, n=4)
    train, valid, test = time_split(build_training_table(*ds[:2], cfg, cutoffs, ds.order_items), cfg)
    m, _ = train_model(train, valid, TrainConfig(max_epochs=3, seed=42), progress=False)
    model = export_onnx(m, d / 'model.onnx', onnx_metadata(m, cfg, TrainConfig(), cutoffs, evaluate(test.churned, predict_proba(m, test)), 'seed-42'))
    feats = build_features(ds.customers, ds.orders, None, ds.order_items)
    scorer = ChurnScorer.load(model)
    emails = ds.customers.set_index('customer_id').email.reindex(feats.customer_id).to_numpy()
    scores = pd.DataFrame({'customer_id': feats.customer_id.astype('int64'), 'email': pd.array(emails, dtype='string'),
                           'cutoff': feats.cutoff, 'churn_probability': scorer.predict_proba(feats),
                           'model_version': scorer.metadata['model_version'], **{f: feats[f] for f in FEATURES}})
    n = len(scores)
    scores.loc[scores.index[::7], 'email'] = pd.NA                               # as churn_score writes a customer without one
    scores['visits'] = pd.array(np.where(np.arange(n) % 5, np.arange(n), -1), dtype='Int64').astype('Int64')
    scores.loc[scores.index[::5], 'visits'] = pd.NA                              # a user's own nullable column
    scores.loc[scores.index[3], 'cutoff'] = pd.NaT
    scores.loc[scores.index[::11], 'total_revenue_30d'] = np.nan
    scores.loc[scores.index[int(np.argmax(scores.churn_probability))], 'email'] = pd.NA   # the riskiest customer has none
    scores.to_parquet(d / 'scores.parquet', index=False)
    (d / 'monitor.json').write_text(json.dumps(MONITOR))
    (d / 'keys.txt').write_text(f"# keys of the hardening tests\n{FILE_KEY}\n{GONE_KEY}\n")
    return dict(dir=d, model=model, scores=scores, feats=feats)

def start(files, *extra, env=None):
    d = files['dir']
    return ServiceProcess('--model', files['model'], '--scores', d / 'scores.parquet', '--monitor', d / 'monitor.json',
                          '--api-keys-file', d / 'keys.txt', *BOUNDS, *extra, env={'MIRADOR_API_KEYS': KEY, **(env or {})}).start()

@pytest.fixture(scope='module')
def svc(files):
    s = start(files)
    s.http = httpx.Client(base_url=s.url, headers={'X-API-Key': KEY}, timeout=30)
    try: yield s
    finally: s.http.close(); s.stop()
    assert KEY not in s.log and FILE_KEY not in s.log and GONE_KEY not in s.log

def strict_json(text): return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))

def rows_of(frame): return [{f: float(v) for f, v in r.items()} for r in frame[list(FEATURES)].to_dict('records')]

def sign_in(url, key, **headers):
    return httpx.post(url + '/insights/churn/sign-in', data={'api_key': key}, headers=headers, follow_redirects=False)

# ---- High

def test_missing_values_serialise_on_every_route_and_tool(svc, files):
    s = files['scores']
    no_email = s[s.email.isna()]
    assert len(no_email) > 10 and s.visits.isna().any()
    for cid in no_email.customer_id.head(20):
        r = svc.http.get(f'/v1/churn/customers/{cid}')
        assert r.status_code == 200, r.text
        assert strict_json(r.text)['email'] is None
    assert strict_json(svc.http.get(f'/v1/churn/customers/{int(s.customer_id.iloc[3])}').text)['cutoff'] is None
    odd = strict_json(svc.http.get(f'/v1/churn/customers/{int(s.customer_id.iloc[0])}').text)   # NA e-mail, visits, NaN revenue
    assert odd['email'] is None and odd['features']['visits'] is None and odd['features']['total_revenue_30d'] is None
    top = svc.http.get('/v1/churn/top', params={'n': 1000})
    assert top.status_code == 200, top.text
    customers = strict_json(top.text)['customers']
    assert customers[0]['email'] is None and sum(c['email'] is None for c in customers) == min(1000, len(no_email))
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    async def session():
        async with httpx2.AsyncClient(headers={'X-API-Key': KEY}, timeout=30) as http, \
                   Client(streamable_http_client(svc.url + '/mcp', http_client=http)) as c:
            return [await c.call_tool('customer_churn_risk', {'customer_id': int(cid)}) for cid in no_email.customer_id.head(3)]
    with concurrent.futures.ThreadPoolExecutor(1) as ex: answers = ex.submit(asyncio.run, session()).result()
    assert [a.is_error for a in answers] == [False] * 3, answers[0].content
    assert all(a.structured_content['email'] is None for a in answers)

def test_mcp_over_stdio_serialises_missing_values(files):
    from mcp import Client, StdioServerParameters
    cid = int(files['scores'][files['scores'].email.isna()].customer_id.iloc[0])
    server = StdioServerParameters(command=SERVE[0], args=[*SERVE[1:], '--mcp-stdio', '--model', str(files['model']),
                                                           '--scores', str(files['dir'] / 'scores.parquet')])
    async def session():
        async with Client(server) as c: return await c.call_tool('customer_churn_risk', {'customer_id': cid})
    with concurrent.futures.ThreadPoolExecutor(1) as ex: r = ex.submit(asyncio.run, session()).result()
    assert not r.is_error and r.structured_content['email'] is None, r.content

def test_unauthenticated_chunked_sign_in_is_cut_off_while_read(svc):
    before = rss_mb(svc.proc.pid)
    head = (b'POST /insights/churn/sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n'
            b'Content-Type: application/x-www-form-urlencoded\r\n\r\n')
    piece = b'%x\r\n%s\r\n' % (1 << 20, b'a' * (1 << 20))
    answer, sent = stream(svc.url, head, piece, 300 << 20)
    assert status_of(answer) == 413, answer[:300]
    assert sent < 64 << 20, f"{sent:,} bytes were accepted before the refusal"
    for path in ('/v1/churn/predict', '/mcp'):   # every route that reads a body, with a key (8 MiB limit)
        answer, sent = stream(svc.url, head.replace(b'/insights/churn/sign-in', path.encode()).replace(b'\r\n\r\n', f'\r\nX-API-Key: {KEY}\r\n\r\n'.encode()), piece, 300 << 20)
        assert status_of(answer) == 413 and sent < 64 << 20, (path, answer[:300], sent)
    print(f"RSS of churn_serve: {before:.0f} MB before, {rss_mb(svc.proc.pid):.0f} MB after 3 chunked bodies of up to 300 MB")
    assert rss_mb(svc.proc.pid) - before < 60, (before, rss_mb(svc.proc.pid))

# ---- Medium

def test_deeply_nested_json_is_a_422(svc):
    for body in (b'[' * 100_000, b'{"rows": ' + b'[' * 100_000):
        r = svc.http.post('/v1/churn/predict', content=body)
        assert r.status_code == 422 and 'nests' in r.json()['detail'], r.text
    time.sleep(0.2)
    assert 'RecursionError' not in svc.log and 'Traceback' not in svc.log

def test_huge_headers_are_refused_early_four_at_once(svc):
    before = rss_mb(svc.proc.pid)
    head = b'GET /v1/churn/top HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: '
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        results = list(ex.map(lambda _: stream(svc.url, head, b'a' * (1 << 20), 64 << 20), range(4)))
    for answer, sent in results:
        assert status_of(answer) in (400, 431) or answer == b'', answer[:200]
        assert sent < 16 << 20, f"{sent:,} bytes of headers were read"
    print(f"RSS of churn_serve: {before:.0f} MB before, {rss_mb(svc.proc.pid):.0f} MB after 4 headers of up to 64 MB at once")
    assert rss_mb(svc.proc.pid) - before < 60
    assert svc.http.get('/healthz').status_code == 200

def test_slow_connections_are_closed_and_probes_answer(svc):
    "30 clients sending a header byte every 0.5 s: closed by the 2 s header deadline; /healthz answers meanwhile"
    socks = [socket.create_connection(addr(svc.url), timeout=5) for _ in range(30)]
    for s in socks: s.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ')
    t0, closed, probes = time.monotonic(), set(), []
    while time.monotonic() - t0 < 6 and len(closed) < len(socks):
        for i, s in enumerate(socks):
            if i in closed: continue
            try: s.sendall(b'a')
            except OSError: closed.add(i)
        t = time.perf_counter(); probes.append((httpx.get(svc.url + '/healthz', timeout=5).status_code, time.perf_counter() - t))
        time.sleep(0.5)
    elapsed = time.monotonic() - t0
    for s in socks: s.close()
    assert len(closed) == len(socks), f"{len(socks) - len(closed)} slow connections still open after {elapsed:.1f} s"
    assert elapsed < 5, elapsed
    assert all(code == 200 for code, _ in probes) and max(t for _, t in probes) < 1.0, probes

def test_connections_are_bounded(svc):
    "45 idle connections against a bound of 40: the excess is answered 503 and closed at once; all closed by the deadline"
    socks = [socket.create_connection(addr(svc.url), timeout=3) for _ in range(45)]
    refused = 0
    for s in socks:
        s.settimeout(0.3)
        try:
            if s.recv(1024).startswith(b'HTTP/1.1 503'): refused += 1
        except socket.timeout: pass
    assert refused >= 5, refused
    time.sleep(3)   # the header deadline (2 s) closes the idle ones
    for s in socks: s.close()
    assert httpx.get(svc.url + '/healthz', timeout=5).status_code == 200

def test_slow_body_is_cut_off_at_the_deadline(svc):
    with socket.create_connection(addr(svc.url), timeout=10) as s:
        s.sendall(f'POST /v1/churn/predict HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\nContent-Length: 1000\r\n\r\n{{"rows"'.encode())
        t0, answer = time.monotonic(), b''
        while time.monotonic() - t0 < 8 and not answer:
            try: s.sendall(b' '); s.settimeout(1); answer = s.recv(4096)
            except socket.timeout: pass
            except OSError: break
    assert status_of(answer) == 408 and time.monotonic() - t0 < 6, answer[:200]

def test_revoked_key_and_its_session_stop_within_a_poll(svc, files):
    keys = files['dir'] / 'keys.txt'
    r = sign_in(svc.url, GONE_KEY)
    assert r.status_code == 303
    cookie = r.cookies['churn_insights']
    page = lambda: httpx.get(svc.url + '/insights/churn', cookies={'churn_insights': cookie}).status_code
    api = lambda k: httpx.get(svc.url + '/v1/churn/model', headers={'X-API-Key': k}).status_code
    assert (page(), api(GONE_KEY)) == (200, 200)
    atomic_write(keys, lambda t: Path(t).write_text(f"{FILE_KEY}\n"))
    time.sleep(1.0)
    assert (page(), api(GONE_KEY), api(FILE_KEY)) == (401, 401, 200)
    # a keys file that no longer parses (or is emptied, or deleted) fails closed: no key works, /readyz says so
    for broken in (f"{FILE_KEY}\nshort\n", '', None):
        if broken is None: keys.unlink()
        else: atomic_write(keys, lambda t: Path(t).write_text(broken))
        time.sleep(1.0)
        ready = httpx.get(svc.url + '/readyz')
        assert (api(KEY), api(FILE_KEY), ready.status_code, ready.json()['stale']) == (401, 401, 503, ['api_keys']), ready.text
    atomic_write(keys, lambda t: Path(t).write_text(f"{FILE_KEY}\n{GONE_KEY}\n"))
    time.sleep(1.0)
    assert (api(KEY), api(FILE_KEY), httpx.get(svc.url + '/readyz').status_code) == (200, 200, 200)

def test_get_on_mcp_is_405_not_an_endless_stream(svc):
    t = time.perf_counter()
    r = httpx.get(svc.url + '/mcp', headers={'X-API-Key': KEY, 'Accept': 'text/event-stream'}, timeout=5)
    assert r.status_code == 405 and r.headers['allow'] == 'POST' and time.perf_counter() - t < 2
    assert httpx.delete(svc.url + '/mcp', headers={'X-API-Key': KEY}, timeout=5).status_code == 405

# ---- Low

def test_a_key_in_the_query_string_never_reaches_the_log(svc):
    assert httpx.get(svc.url + '/v1/churn/top', params={'api_key': KEY}).status_code == 401
    time.sleep(0.3)
    assert KEY not in svc.log and 'GET /v1/churn/top?… HTTP/1.1" 401' in svc.log, svc.log[-1500:]

def test_no_redirect_is_built_from_the_host_header(svc):
    answer = raw(svc.url, b'GET /insights/churn/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n')
    assert status_of(answer) in (401, 404) and b'evil.example' not in answer, answer[:300]

def test_search_with_unicode_digits(svc):
    cookies = {'churn_insights': sign_in(svc.url, KEY).cookies['churn_insights']}
    for q in ('²', '①', '٣', '9' * 40):
        r = httpx.get(svc.url + '/insights/churn', params={'q': q}, cookies=cookies)
        assert r.status_code == 200 and 'No customer matches' in r.text, (q, r.status_code)

def metric(text, name):
    return sum(float(l.rsplit(' ', 1)[1]) for l in text.splitlines() if l.startswith(name))

def test_a_bad_monitor_report_is_refused_on_reload(svc, files):
    path = files['dir'] / 'monitor.json'
    failures = lambda: metric(svc.http.get('/metrics').text, 'churn_source_reload_failures_total{source="monitor"}')
    before = failures()
    try: _bad_reports(svc, path)
    finally: atomic_write(path, lambda t: Path(t).write_text(json.dumps(MONITOR)))
    assert failures() > before
    atomic_write(path, lambda t: Path(t).write_text(json.dumps(dict(MONITOR, accuracy_apdex=None))))   # null is fine
    time.sleep(0.8)
    assert svc.http.get('/readyz').json()['stale'] == [] and 'churn_monitor_accuracy_apdex' not in svc.http.get('/metrics').text
    atomic_write(path, lambda t: Path(t).write_text(json.dumps(MONITOR)))
    time.sleep(0.8)

def _bad_reports(svc, path):
    for bad, why in [(dict(MONITOR, series=[{'date': '2026-01-01', 'score_psi': 'high'}]), 'series[0].score_psi'),
                     ('{"verdict": "ok", "current": {"score_psi": 1e400}}', 'current.score_psi: not a finite number'),
                     (dict(MONITOR, accuracy_apdex={'value': 2}), 'accuracy_apdex.value')]:
        atomic_write(path, lambda t: Path(t).write_text(bad if isinstance(bad, str) else json.dumps(bad)))
        time.sleep(0.8)
        ready = svc.http.get('/readyz').json()
        assert why in ready['errors'].get('monitor', ''), ready
        r = svc.http.get('/v1/churn/monitor')
        assert r.status_code == 200 and strict_json(r.text)['accuracy_apdex'] == APDEX   # the old report stays
        cookies = {'churn_insights': sign_in(svc.url, KEY).cookies['churn_insights']}
        assert httpx.get(svc.url + '/insights/churn', cookies=cookies).status_code == 200

def test_start_up_errors_are_one_line_exit_2(files, tmp_path):
    (tmp_path / 'notparquet.txt').write_text('customer_id,churn_probability\n1,0.5\n')
    (tmp_path / 'inf.json').write_text('{"verdict": "ok", "current": {"score_psi": Infinity}}')
    (tmp_path / 'hash.txt').write_text(f"{KEY} # a comment after a key\n")
    m = str(files['model'])
    for args, env, message in [(['--scores', str(tmp_path / 'notparquet.txt')], {}, 'notparquet.txt: not a readable Parquet table'),
                               (['--monitor', str(tmp_path / 'inf.json')], {}, 'inf.json: not JSON (Infinity is not a JSON number)'),
                               ([], {'MIRADOR_API_KEYS': 'a' * 16}, 'key 1 of MIRADOR_API_KEYS: an API key must hold 64 bits'),
                               ([], {'MIRADOR_API_KEYS': 'abababababababababababab'}, 'an API key must hold 64 bits'),
                               (['--api-keys-file', str(tmp_path / 'hash.txt')], {}, 'line 1 of'),
                               ([], {'MIRADOR_API_KEYS': f"{KEY}, {FILE_KEY}"}, 'key 2 of MIRADOR_API_KEYS')]:
        r = run([*SERVE, '--model', m, *args, '--port', '0'], env={'MIRADOR_API_KEYS': KEY, **env}, check=False, timeout=60)
        last = r.stderr.strip().splitlines()[-1]
        assert r.returncode == 2 and last.startswith('churn_serve: error: ') and message in last, r.stderr[-800:]
        assert 'Traceback' not in r.stderr and 'abababab' not in r.stderr and 'a' * 16 not in r.stderr

def test_wrong_keys_are_rate_limited_per_client(files):
    with start(files, '--auth-failures', 5) as s:
        codes = [httpx.get(s.url + '/v1/churn/model', headers={'X-API-Key': f'wrong-key-{i:016d}'}).status_code for i in range(8)]
        assert codes == [401] * 5 + [429] * 3, codes
        r = httpx.get(s.url + '/v1/churn/model', headers={'X-API-Key': KEY})   # while limited, a right key gains nothing
        assert r.status_code == 429 and int(r.headers['retry-after']) > 0
        assert httpx.get(s.url + '/v1/churn/model').status_code == 429   # nor does anything else of this client
        assert sign_in(s.url, KEY).status_code == 429                      # the sign-in form counts the same
        assert httpx.get(s.url + '/healthz').status_code == 200
    with start(files, '--auth-failures', 5) as s:   # negative control: a fresh service, right keys keep working
        assert [httpx.get(s.url + '/v1/churn/model', headers={'X-API-Key': KEY}).status_code for _ in range(8)] == [200] * 8
        assert [sign_in(s.url, 'nope-' * 4).status_code for _ in range(6)] == [401] * 5 + [429]

def test_keys_are_strict_and_consistent(svc):
    req = lambda *hs: status_of(raw(svc.url, b'GET /v1/churn/model HTTP/1.1\r\nHost: x\r\n' + b''.join(h + b'\r\n' for h in hs)
                                   + b'Connection: close\r\n\r\n'))
    k, f = KEY.encode(), FILE_KEY.encode()
    assert req(b'X-API-Key: ' + f) == 200                                  # a `#` in a file key is part of it
    assert req(b'X-API-Key: ' + k, b'X-API-Key: ' + k) == 400              # two keys: refused, not "the last wins"
    assert req(b'X-API-Key: wrong-key-0123456789', b'X-API-Key: ' + k) == 400
    # around a header value, spaces are not part of it (RFC 9110 5.5): leading and trailing are treated alike
    assert req(b'X-API-Key:   ' + k) == req(b'X-API-Key: ' + k + b'   ') == req(b'X-API-Key: ' + k) == 200
    assert req(b'X-API-Key: ' + k[:8] + b' ' + k[8:]) == 401

def test_sign_in_and_out_refuse_cross_site_forms(svc):
    for headers in ({'Origin': 'http://evil.example'}, {'Origin': 'null'}, {'Sec-Fetch-Site': 'cross-site'}):
        r = sign_in(svc.url, KEY, **headers)
        assert r.status_code == 403 and 'set-cookie' not in r.headers, headers
    good = sign_in(svc.url, KEY, Origin=svc.url)
    assert good.status_code == 303 and 'churn_insights' in good.cookies
    cookies = {'churn_insights': good.cookies['churn_insights']}
    out = httpx.post(svc.url + '/insights/churn/sign-out', cookies=cookies, headers={'Origin': 'http://evil.example'})
    assert out.status_code == 403 and httpx.get(svc.url + '/insights/churn', cookies=cookies).status_code == 200

def test_personal_data_is_never_cached_nor_sniffed(svc, files):
    cid = int(files['scores'].customer_id.iloc[0])
    for r in (svc.http.get(f'/v1/churn/customers/{cid}'), svc.http.get('/v1/churn/top'), sign_in(svc.url, KEY),
              svc.http.get('/v1/churn/customers/999999999'), httpx.get(svc.url + '/v1/churn/top')):
        assert (r.headers.get('cache-control'), r.headers.get('x-content-type-options')) == ('no-store', 'nosniff'), r.url

def test_openapi_document_is_usable(svc):
    doc = svc.http.get('/openapi.json').json()
    body = doc['paths']['/v1/churn/predict']['post']['requestBody']['content']['application/json']['schema']
    row = body['properties']['rows']['items']
    assert list(row['properties']) == list(FEATURES) and row['required'] == list(FEATURES) and row['additionalProperties'] is False
    assert doc['components']['securitySchemes'] == {'ApiKey': {'type': 'apiKey', 'in': 'header', 'name': 'X-API-Key'}}
    for path, codes in {'/v1/churn/predict': {'200', '401', '413', '422'}, '/v1/churn/customers/{customer_id}': {'200', '401', '404'},
                        '/v1/churn/top': {'200', '401', '503'}}.items():
        op = next(iter(doc['paths'][path].values()))
        assert codes <= set(op['responses']), (path, op['responses'].keys())
    assert list(doc['paths']['/metrics']['get']['responses']['200']['content']) == ['text/plain']
    assert doc['paths']['/healthz']['get']['security'] == []
    assert [httpx.head(svc.url + p).status_code for p in ('/healthz', '/readyz')] == [200, 200]

def test_readiness_is_truthful_and_tells_a_stranger_little(svc, files):
    r = httpx.get(svc.url + '/readyz')
    assert r.status_code == 200 and r.json() == {'status': 'ready', 'stale': []}
    atomic_write(files['dir'] / 'scores.parquet', lambda t: Path(t).write_bytes(b'not parquet'))
    try:
        time.sleep(0.8)
        r, keyed = httpx.get(svc.url + '/readyz'), svc.http.get('/readyz')
        assert r.status_code == 503 and r.json() == {'status': 'stale', 'stale': ['scores']}, r.text
        assert str(files['dir']) not in r.text and 'Parquet' not in r.text
        assert 'not a readable Parquet table' in keyed.json()['errors']['scores']
    finally: files['scores'].to_parquet(files['dir'] / 'scores.parquet', index=False)
    time.sleep(0.8)
    assert httpx.get(svc.url + '/readyz').status_code == 200

def test_mcp_tools_name_their_features_and_refuse_coercion(svc, files):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    cid = int(files['scores'].customer_id.iloc[0])
    async def session():
        async with httpx2.AsyncClient(headers={'X-API-Key': KEY}, timeout=30) as http, \
                   Client(streamable_http_client(svc.url + '/mcp', http_client=http)) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            calls = [await c.call_tool('customer_churn_risk', {'customer_id': v}) for v in (str(cid), True, cid)]
            return tools, calls
    with concurrent.futures.ThreadPoolExecutor(1) as ex: tools, calls = ex.submit(asyncio.run, session()).result()
    items = tools['predict_churn'].input_schema['properties']['rows']['items']
    assert list(items['properties']) == list(FEATURES) and items['additionalProperties'] is False
    assert [c.is_error for c in calls] == [True, True, False], [c.content for c in calls]

def test_metrics_from_the_report_and_reload_failures(svc):
    text = svc.http.get('/metrics').text
    for name, value in [('churn_monitor_score_psi', 0.02), ('churn_monitor_estimated_roc_auc', 0.8),
                        ('churn_monitor_realized_roc_auc', 0.78), ('churn_monitor_accuracy_apdex', 0.9),
                        ('churn_monitor_verdict{verdict="ok"}', 1), ('churn_monitor_verdict{verdict="breached"}', 0),
                        ('churn_monitor_report_timestamp_seconds', 1767225600),
                        ('churn_monitor_feature_psi{feature="cart_diversity"}', 0.01)]:
        assert abs(metric(text, name + (' ' if '{' not in name else '')) - value) < 1e-9, name
    assert abs(metric(text, 'churn_monitor_estimated_churn_rate_shift ') - 0.05) < 1e-9
    assert sum(l.startswith('churn_monitor_feature_psi{') for l in text.splitlines()) == len(FEATURES)
    for source in ('model', 'scores', 'monitor', 'api_keys'):
        assert f'churn_source_reload_failures_total{{source="{source}"}}' in text, source
    promtool = shutil.which('promtool')
    if not promtool: pytest.skip('promtool not installed (apt-get install prometheus)')
    r = subprocess.run([promtool, 'check', 'metrics'], input=text, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr
    bad = subprocess.run([promtool, 'check', 'metrics'], input=text + 'churn_oops_total{a="1"} 1\n', capture_output=True, text=True)
    assert bad.returncode != 0 or bad.stdout.strip() or bad.stderr.strip()   # negative control: promtool does complain

def test_large_batches_do_not_block_probes(svc, files):
    "4 clients sending 10,000-row batches; /healthz keeps answering fast (the batches are scored in worker threads)"
    rows = rows_of(files['feats'].sample(10_000, replace=True, random_state=0))
    body = json.dumps({'rows': rows}).encode()
    prober = httpx.Client(base_url=svc.url, timeout=10)
    def probe():
        t = time.perf_counter(); prober.get('/healthz'); return time.perf_counter() - t
    idle = statistics.median(probe() for _ in range(20))
    stop, done = threading.Event(), []
    def load():
        with httpx.Client(base_url=svc.url, headers={'X-API-Key': KEY, 'Content-Type': 'application/json'}, timeout=60) as c:
            while not stop.is_set(): done.append(c.post('/v1/churn/predict', content=body).status_code)
    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads: t.start()
    time.sleep(1.0)
    busy = [probe() for _ in range(40)]
    stop.set()
    for t in threads: t.join()
    prober.close()
    print(f"/healthz p50 {idle * 1e3:.1f} ms idle, {statistics.median(busy) * 1e3:.1f} ms under 4 clients x 10,000 rows ({len(done)} batches)")
    assert set(done) == {200} and len(done) >= 4, done[:5]
    assert statistics.median(busy) < 0.06, f"/healthz p50 {statistics.median(busy) * 1e3:.1f} ms under load (idle {idle * 1e3:.1f} ms)"
