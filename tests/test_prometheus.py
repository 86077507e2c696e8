"""deploy/prometheus for real: `promtool check` and `promtool test rules` (with wrong thresholds as negative controls),
then Debian's Prometheus on loopback with the project's rules, scraping two real churn_serve (a drifted shop and an
undrifted one, each with the monitor.json of a real churn_monitor run): the recording rules read back through the
HTTP API, the SLO alert firing on the drifted shop only (and not with a wrong threshold), and every query of the
Grafana dashboard in deploy/grafana returning data."""
import contextlib, json, os, re, shutil, subprocess, time
from datetime import datetime
from pathlib import Path
import httpx, pytest, yaml
from conftest import ROOT, free_port, run, tool

PROM = ROOT / 'deploy' / 'prometheus'
DASHBOARD = ROOT / 'deploy' / 'grafana' / 'dashboards' / 'mirador-churn.json'
RUNBOOK = 'https://mirador.github.io/mirador_churn/monitor.html#'
SHOP = dict(n_customers=1500, n_orders=15_000, seed=42)   # the shop churn_train --n-customers 1500 trains on
KEY = 'prometheus-scrape-key-0123456789'
JOBS = 'shop-ok', 'shop-drifted'
MONITOR_GAUGES = ('churn_monitor_score_psi', 'churn_monitor_feature_psi', 'churn_monitor_estimated_roc_auc',
                  'churn_monitor_realized_roc_auc', 'churn_monitor_estimated_churn_rate_shift',
                  'churn_monitor_accuracy_apdex', 'churn_monitor_verdict', 'churn_monitor_report_timestamp_seconds')

def need(cmd:str)->str:
    "Path of `cmd`; skip (fail in CI) when it is not installed"
    if path := shutil.which(cmd): return path
    msg = f"{cmd} is not installed (Debian package prometheus; .ci/system.sh installs it)"
    if os.environ.get('CI'): pytest.fail(msg)
    pytest.skip(msg)

def promtool(*args, cwd=PROM):
    return run([need('promtool'), *map(str, args)], cwd=cwd, check=False, timeout=60)

def alert_rules(path=PROM / 'alerts.yml')->list:
    return [r for g in yaml.safe_load(Path(path).read_text())['groups'] for r in g['rules'] if 'alert' in r]

def rules_copy(d:Path, old:str='', new:str='', name:str='alerts.yml', count:int=1)->Path:
    "A copy of deploy/prometheus in `d`, with `old` replaced by `new` (exactly `count` times) in the file `name`"
    shutil.copytree(PROM, d, dirs_exist_ok=True)
    if old:
        text = (d / name).read_text()
        assert text.count(old) == count, old
        (d / name).write_text(text.replace(old, new))
    return d

# --- promtool: no service needed ---

def test_promtool_check_rules():
    r = promtool('check', 'rules', 'rules.yml', 'alerts.yml')
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'SUCCESS: 4 rules found' in r.stdout and 'SUCCESS: 7 rules found' in r.stdout, r.stdout

def test_promtool_check_config(tmp_path):
    d = rules_copy(tmp_path / 'prom')
    (d / 'key').write_text(KEY)
    text = (d / 'prometheus.yml').read_text()
    assert '/run/secrets/churn_api_key' in text and KEY not in text
    (d / 'prometheus.yml').write_text(text.replace('/run/secrets/churn_api_key', str(d / 'key')))
    r = promtool('check', 'config', d / 'prometheus.yml')
    assert r.returncode == 0 and 'SUCCESS: 4 rules found' in r.stdout + r.stderr, r.stdout + r.stderr
    (d / 'alerts.yml').unlink()   # negative control: a missing rule file fails the check
    assert promtool('check', 'config', d / 'prometheus.yml').returncode != 0

def test_every_alert_has_firing_and_silent_unit_tests():
    spec = yaml.safe_load((PROM / 'tests' / 'rules_test.yml').read_text())
    cases = [c for t in spec['tests'] for c in t.get('alert_rule_test', [])]
    for rule in alert_rules():
        name = rule['alert']
        assert any(c['alertname'] == name and c['exp_alerts'] for c in cases), f"{name}: no firing case"
        assert any(c['alertname'] == name and not c['exp_alerts'] for c in cases), f"{name}: no silent case"
        assert rule['annotations']['runbook_url'].startswith(RUNBOOK), name

def test_promtool_test_rules():
    r = promtool('test', 'rules', 'tests/rules_test.yml')
    assert r.returncode == 0 and 'SUCCESS' in r.stdout, r.stdout + r.stderr

@pytest.mark.parametrize('old,new', [
    ('(churn_monitor_verdict{verdict="breached"}) == 1', '(churn_monitor_verdict{verdict="breached"}) == 2'),
    ('job:churn_monitor_accuracy_apdex:min < 0.85', 'job:churn_monitor_accuracy_apdex:min < 0.75'),
    ('> 30 * 3600', '> 31 * 3600'),
    ('[15m])) > 0', '[15m])) > 1'),
    ('job:churn_http_request_errors:ratio_rate5m > 0.01', 'job:churn_http_request_errors:ratio_rate5m > 0.05'),
    ('latency_apdex:ratio_rate5m < 0.9', 'latency_apdex:ratio_rate5m < 0.5'),
    ('latency_apdex:ratio_rate5m < 0.9', 'latency_apdex:ratio_rate5m < 0.91'),   # just inside: the 0.9 case fires
    ('job:churn_http_request_errors:ratio_rate5m > 0.01', 'job:churn_http_request_errors:ratio_rate5m >= 0.01'),
    ('up{job="mirador-churn"} == 0', 'up{job="mirador-churn"} == 2'),
    ('  or\n          absent_over_time(churn_monitor_report_timestamp_seconds{job="mirador-churn"}[1h])\n', '\n'),
    # a `for:` removed: the alert fires while it should still be pending
    ('> 0.01\n        for: 5m\n', '> 0.01\n'),
    ('== 0\n        for: 5m\n', '== 0\n'),
    ('< 0.9\n        for: 10m\n', '< 0.9\n'),
    ('[1h])\n        for: 10m\n', '[1h])\n'),
])
def test_promtool_catches_a_wrong_threshold(tmp_path, old, new):
    "Negative controls: each alert's threshold moved or its `for` removed, and its unit tests fail"
    d = rules_copy(tmp_path / 'prom', old, new)
    r = promtool('test', 'rules', 'tests/rules_test.yml', cwd=d)
    assert r.returncode != 0 and 'FAILED' in r.stdout + r.stderr, r.stdout

@pytest.mark.parametrize('old,new,count', [
    ('status=~"2..", ', '', 2),        # fast errors counted as satisfied: the Apdex rises
    ('status!~"4..", ', '', 2),        # the client's 4xx counted as frustrated
    ('\n            or\n              sum by (job) (rate(churn_http_request_duration_seconds_count',   # only 5xx:
     '\n            and\n              sum by (job) (rate(churn_http_request_duration_seconds_count', 1),   # no data
])
def test_promtool_catches_a_wrong_latency_apdex(tmp_path, old, new, count):
    "Negative controls: the latency Apdex's status filters (only 2xx satisfy, 4xx left out) and its 0 when all fail"
    d = rules_copy(tmp_path / 'prom', old, new, name='rules.yml', count=count)
    r = promtool('test', 'rules', 'tests/rules_test.yml', cwd=d)
    assert r.returncode != 0 and 'FAILED' in r.stdout + r.stderr, r.stdout

def test_runbook_anchors_exist_on_the_monitoring_page():
    cells = json.loads((ROOT / 'nbs' / '06_monitor.ipynb').read_text())['cells']
    text = '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')
    anchors = set(re.findall(r'^#+ .*\{#([\w-]+)\}\s*$', text, re.M))
    for rule in alert_rules():
        anchor = rule['annotations']['runbook_url'].removeprefix(RUNBOOK)
        assert anchor in anchors, f"{rule['alert']}: no heading {{#{anchor}}} on 06_monitor ({sorted(anchors)})"
    assert 'no-such-anchor' not in anchors

def test_latency_apdex_rule_uses_the_pages_t():
    from mirador_churn.monitor import LATENCY_T
    from mirador_churn.serve import ServiceMetrics
    [rule] = [r for g in yaml.safe_load((PROM / 'rules.yml').read_text())['groups'] for r in g['rules']
              if r.get('record') == 'job:churn_http_request_latency_apdex:ratio_rate5m']
    bounds = re.findall(r'le="([^"]+)"', rule['expr'])
    assert sorted(map(float, bounds)) == [LATENCY_T, 4 * LATENCY_T], bounds
    from prometheus_client import generate_latest
    m = ServiceMetrics()
    m.latency.labels('/v1/churn/predict', '200').observe(0.001)
    served = {float(b) for b in re.findall(r'churn_http_request_duration_seconds_bucket\{[^}]*le="([^"]+)"',
                                            generate_latest(m.registry).decode())}
    assert {LATENCY_T, 4 * LATENCY_T} <= served, served   # both are bounds of the service's histogram

# --- a real Prometheus scraping real services ---

@contextlib.contextmanager
def prometheus(d:Path, rules:Path, targets:dict):
    "Debian's prometheus on 127.0.0.1 (a free port), rules from the folder `rules`, 1 s scrapes of `targets`"
    d.mkdir(parents=True, exist_ok=True)
    (d / 'key').write_text(KEY)
    config = {'global': {'scrape_interval': '1s', 'evaluation_interval': '1s', 'scrape_timeout': '1s'},
              'rule_files': [str(rules / 'rules.yml'), str(rules / 'alerts.yml')],
              'scrape_configs': [{'job_name': job, 'static_configs': [{'targets': [target]}],
                                  'authorization': {'type': 'Bearer', 'credentials_file': str(d / 'key')}}
                                 for job, target in targets.items()]}
    (d / 'prometheus.yml').write_text(yaml.safe_dump(config))
    port, log = free_port(), open(d / 'prometheus.log', 'w')
    proc = subprocess.Popen([need('prometheus'), f"--config.file={d / 'prometheus.yml'}",
                             f"--storage.tsdb.path={d / 'tsdb'}", f'--web.listen-address=127.0.0.1:{port}'],
                            stdout=log, stderr=subprocess.STDOUT)
    http = httpx.Client(base_url=f'http://127.0.0.1:{port}', timeout=10)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if http.get('/-/ready').status_code == 200: break
            except httpx.TransportError: pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prometheus did not start: {(d / 'prometheus.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield http
    finally:
        http.close()
        proc.terminate()
        try: proc.wait(20)
        except subprocess.TimeoutExpired: proc.kill()
        log.close()

def query(http, expr:str)->list:
    "The instant vector of `expr` (a failed query fails the test)"
    r = http.get('/api/v1/query', params={'query': expr}).json()
    assert r['status'] == 'success', (expr, r)
    return r['data']['result']

def _when(stamp:str)->float:
    "Seconds since the epoch of an RFC 3339 time with nanoseconds, as Prometheus writes them"
    stamp = re.sub(r'(\.\d{6})\d*', r'\1', stamp).replace('Z', '+00:00')
    return datetime.fromisoformat(stamp).timestamp()

def wait_up(http, timeout:float=60):
    "Wait until every target is up"
    deadline = time.monotonic() + timeout
    while True:
        targets = http.get('/api/v1/targets').json()['data']['activeTargets']
        if targets and all(t['health'] == 'up' for t in targets): return
        assert time.monotonic() < deadline, f"targets not up: {[(t['scrapeUrl'], t['lastError']) for t in targets]}"
        time.sleep(0.5)

def settle(http, timeout:float=90):
    "Wait until the targets are up, the monitor gauges and two scrapes of each are in, and every rule group ran after"
    wait_up(http)
    deadline = time.monotonic() + timeout
    while len(query(http, 'churn_monitor_verdict')) < 2 * len(JOBS) or \
          len(query(http, 'count_over_time(up[1m]) >= 2')) < len(JOBS):
        if time.monotonic() > deadline:
            names = sorted({m['__name__'] for m in query(http, '{__name__=~"churn_.+"}')})
            pytest.fail(f"the service exports no churn_monitor_verdict (issue 24's gauges); it exports {names}")
        time.sleep(0.5)
    seen = time.time()
    while True:
        groups = http.get('/api/v1/rules').json()['data']['groups']
        if groups and all(_when(g['lastEvaluation']) > seen + 0.1 for g in groups): return
        assert time.monotonic() < deadline, groups
        time.sleep(0.5)

def firing(http)->set:
    "(alertname, job) of every firing alert"
    alerts = http.get('/api/v1/alerts').json()['data']['alerts']
    return {(a['labels']['alertname'], a['labels'].get('job')) for a in alerts if a['state'] == 'firing'}

def slo_alert_problems(http)->list:
    "What is wrong with the SLO alert: it must fire for the drifted shop, not for the undrifted one"
    f = firing(http)
    return ([] if ('ChurnMonitorSLOBreached', 'shop-drifted') in f else ['silent on the drifted shop']) + \
           (['firing on the undrifted shop'] if ('ChurnMonitorSLOBreached', 'shop-ok') in f else [])

@pytest.fixture(scope='module')
def stack(tmp_path_factory):
    "A model by churn_train; churn_monitor's reports of the two shops; a churn_serve for each; one Prometheus"
    need('prometheus')
    from mirador_churn.data import Drift, generate_synthetic, save_dataset
    from mirador_churn.testing import ServiceProcess
    d = tmp_path_factory.mktemp('prometheus')
    save_dataset(generate_synthetic(**SHOP), d / 'shop-ok')
    drift = Drift('2025-11-01', price_rise=0.3, churn_wave=0.35)
    save_dataset(generate_synthetic(**SHOP, drift=drift), d / 'shop-drifted')
    run([tool('churn_train'), '--n-customers', '1500', '--max-epochs', '60', '--quiet', '--output', 'out',
         '--no-track'], cwd=d)
    reports = {}
    for job, status in zip(JOBS, (0, 1)):
        r = run([tool('churn_monitor'), '--model', 'out/model.onnx', '--data', job, '--output', f'{job}-monitor',
                 '--no-track'], cwd=d, check=False)
        assert r.returncode == status, r.stdout + r.stderr
        reports[job] = json.loads((d / f'{job}-monitor' / 'monitor.json').read_text())
    (d / 'keys.txt').write_text(KEY + '\n')
    with contextlib.ExitStack() as stack:
        svcs = {job: stack.enter_context(ServiceProcess('--model', d / 'out' / 'model.onnx', '--monitor',
                                                        d / f'{job}-monitor' / 'monitor.json', '--api-keys-file',
                                                        d / 'keys.txt'))
                for job in JOBS}
        targets = {job: s.url.split('//', 1)[1] for job, s in svcs.items()}
        http = stack.enter_context(prometheus(d / 'prom', PROM, targets))
        from mirador_churn.features import FEATURES
        row = {f: 1.0 for f in FEATURES} | {'email_domain_class': 0.0}
        wait_up(http)
        clients = [stack.enter_context(httpx.Client(base_url=s.url, headers={'X-API-Key': KEY}, timeout=30))
                   for s in svcs.values()]
        for _ in range(4):   # traffic across several scrapes: predictions, metadata, a refused key
            for c in clients:
                for _ in range(5):
                    assert c.post('/v1/churn/predict', json={'rows': [row] * 5}).status_code == 200
                    assert c.get('/v1/churn/model').status_code == 200
                assert c.get('/v1/churn/model', headers={'X-API-Key': 'wrong-key-0123456789abc'}).status_code == 401
            time.sleep(1.2)
        settle(http)
        yield dict(dir=d, http=http, reports=reports, targets=targets, svcs=svcs)

def test_the_services_export_the_monitor_gauges(stack):
    http = stack['http']
    for job in JOBS:
        for name in MONITOR_GAUGES:
            assert query(http, f'{name}{{job="{job}"}}'), f"{job}: no {name}"
        verdict = {m['metric']['verdict']: float(m['value'][1])
                   for m in query(http, f'churn_monitor_verdict{{job="{job}"}}')}
        assert verdict == {'ok': float(job == 'shop-ok'), 'breached': float(job != 'shop-ok')}, (job, verdict)

def test_promtool_check_metrics_on_the_live_service(stack):
    s = stack['svcs']['shop-drifted']
    text = httpx.get(f'{s.url}/metrics', headers={'X-API-Key': KEY}, timeout=10).text
    r = subprocess.run([need('promtool'), 'check', 'metrics'], input=text, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr

def test_recording_rules_read_back(stack):
    http, reports = stack['http'], stack['reports']
    for job in JOBS:
        expected = reports[job]['accuracy_apdex']['value']
        [got] = query(http, f'job:churn_monitor_accuracy_apdex:min{{job="{job}"}}')
        assert abs(float(got['value'][1]) - expected) < 1e-9, (job, got, expected)
        [rate] = query(http, f'job:churn_http_requests:rate5m{{job="{job}"}}')
        assert float(rate['value'][1]) > 0, rate
        [errors] = query(http, f'job:churn_http_request_errors:ratio_rate5m{{job="{job}"}}')
        assert float(errors['value'][1]) == 0, errors   # 200s and one 401: no 5xx
        [latency] = query(http, f'job:churn_http_request_latency_apdex:ratio_rate5m{{job="{job}"}}')
        assert 0 < float(latency['value'][1]) <= 1, latency
    assert reports['shop-ok']['accuracy_apdex']['value'] > reports['shop-drifted']['accuracy_apdex']['value']

def test_slo_alert_fires_on_the_drifted_shop_only(stack):
    http, reports = stack['http'], stack['reports']
    assert slo_alert_problems(http) == []
    f = firing(http)
    for job in JOBS:   # the accuracy alert follows the report's Apdex and the rule's 0.85
        assert (('ChurnAccuracyApdexLow', job) in f) == (reports[job]['accuracy_apdex']['value'] < 0.85), (job, f)
    alerts = http.get('/api/v1/alerts').json()['data']['alerts']
    [slo] = [a for a in alerts if a['labels']['alertname'] == 'ChurnMonitorSLOBreached']
    assert slo['annotations']['runbook_url'] == RUNBOOK + 'slo-breached' and slo['labels']['severity'] == 'page'

def test_a_wrong_threshold_silences_the_slo_alert(stack):
    "Negative control: the same services and Prometheus, with the SLO alert's threshold wrong, and the check fails"
    d = rules_copy(stack['dir'] / 'wrong-rules', '(churn_monitor_verdict{verdict="breached"}) == 1',
                   '(churn_monitor_verdict{verdict="breached"}) == 2')
    with prometheus(stack['dir'] / 'prom-wrong', d, stack['targets']) as http:
        settle(http)
        assert slo_alert_problems(http) == ['silent on the drifted shop']

def _dashboard_queries()->list:
    "(where, expr) of every panel target and annotation of the dashboard"
    dash = json.loads(DASHBOARD.read_text())
    out = [(f"panel {p['title']!r}", t['expr']) for p in dash['panels'] for t in p.get('targets', [])]
    return out + [(f"annotation {a['name']!r}", a['expr']) for a in dash['annotations']['list'] if 'expr' in a]

def test_every_dashboard_query_returns_data(stack):
    http = stack['http']
    queries = _dashboard_queries()
    assert len(queries) >= 8, queries
    for job in JOBS:
        for where, expr in queries:
            e = expr.replace('$job', job).replace('$__rate_interval', '1m').replace('$__interval', '15s')
            assert '$' not in e, (where, expr)
            assert query(http, e), f"{where}: no data for {job} from {e}"
    for where, expr in queries:   # the check can fail: every query follows $job, and a wrong one returns nothing
        e = expr.replace('$job', 'no-such-job').replace('$__rate_interval', '1m').replace('$__interval', '15s')
        assert not query(http, e), f"{where}: data for a job that does not exist from {e}"

def _interpolate(text:str, env:dict)->str:
    "`text` with compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error} resolved from `env`"
    def one(m):
        name, op, arg = m[1], m[2] or '', m[3] or ''
        value = env.get(name)
        unset = value is None or (op.startswith(':') and value == '')
        if op.endswith('?') and unset: raise KeyError(f"compose needs {name}: {arg}")
        if op.endswith('-') and unset: return arg
        if op.endswith('+'): return '' if unset else arg
        return value or ''
    return re.sub(r'\$\{(\w+)(?:(:?[-?+])([^}]*))?\}', one, text.replace('$$', '\0')).replace('\0', '$')

def test_compose_interpolates_without_the_monitoring_variables():
    "Compose resolves every ${...} of the file whatever the profile: MLflow alone needs only MLFLOW_DB_PASSWORD"
    text = (ROOT / 'deploy' / 'compose.yaml').read_text()
    spec = yaml.safe_load(_interpolate(text, {'MLFLOW_DB_PASSWORD': 'x'}))
    with pytest.raises(KeyError, match='MLFLOW_DB_PASSWORD'): _interpolate(text, {})   # the check can fail
    secrets = dict(churn_api_key='CHURN_API_KEY_FILE', grafana_admin_password='GRAFANA_ADMIN_PASSWORD_FILE')
    for name, var in secrets.items():
        default = spec['secrets'][name]['file']   # unset: a path that names the variable and does not exist
        assert var in default and not (ROOT / 'deploy' / default).exists(), default
        given = yaml.safe_load(_interpolate(text, {'MLFLOW_DB_PASSWORD': 'x', var: '/k'}))
        assert given['secrets'][name]['file'] == '/k', given['secrets']

def test_compose_provisions_prometheus_and_grafana():
    "Docker is not usable here: the compose file's mounts exist and point Prometheus and Grafana at the project's files"
    deploy = ROOT / 'deploy'
    spec = yaml.safe_load((deploy / 'compose.yaml').read_text())
    prom, grafana = spec['services']['prometheus'], spec['services']['grafana']
    assert {n: s.get('profiles') for n, s in spec['services'].items()} == \
        {'postgres': None, 'mlflow': None, 'prometheus': ['monitoring'], 'grafana': ['monitoring']}
    for svc in (prom, grafana):
        for mount in svc['volumes']:
            src = mount.split(':')[0]
            if src.startswith('.'): assert (deploy / src).exists(), mount
    # images pinned to a release (an upgrade changes the pin, not this test), never a moving tag
    assert re.fullmatch(r'prom/prometheus:v\d+\.\d+\.\d+', prom['image']), prom['image']
    assert re.fullmatch(r'grafana/grafana:\d+\.\d+\.\d+', grafana['image']), grafana['image']
    assert './prometheus:/etc/prometheus:ro' in prom['volumes']
    # the admin password only as a file (a compose secret), never a value in the environment
    assert 'GF_SECURITY_ADMIN_PASSWORD' not in grafana['environment']
    assert grafana['environment']['GF_SECURITY_ADMIN_PASSWORD__FILE'] == f"/run/secrets/{grafana['secrets'][0]}"
    config = yaml.safe_load((PROM / 'prometheus.yml').read_text())
    assert config['rule_files'] == ['rules.yml', 'alerts.yml']
    [job] = config['scrape_configs']
    assert job['authorization']['credentials_file'] == f"/run/secrets/{prom['secrets'][0]}"
    ds = yaml.safe_load((deploy / 'grafana' / 'provisioning' / 'datasources' / 'prometheus.yaml').read_text())
    [source] = ds['datasources']
    assert source['url'] == 'http://prometheus:9090' and source['type'] == 'prometheus'
    dash = json.loads(DASHBOARD.read_text())
    uids = {t['datasource']['uid'] for p in dash['panels'] for t in p['targets']}
    assert uids == {source['uid']}, uids
    provider = yaml.safe_load((deploy / 'grafana' / 'provisioning' / 'dashboards' / 'mirador.yaml').read_text())
    assert f"./grafana/dashboards:{provider['providers'][0]['options']['path']}:ro" in grafana['volumes']

def test_dashboard_lines_are_the_slos():
    "The threshold lines of the dashboard are the SLO's and the alerts' figures"
    from mirador_churn.monitor import SLO
    slo, dash = SLO(), json.loads(DASHBOARD.read_text())
    lines = {p['title']: [s['value'] for s in p['fieldConfig']['defaults']['thresholds']['steps'][1:]]
             for p in dash['panels'] if 'thresholds' in p['fieldConfig']['defaults']}
    assert lines['PSI against the SLO'] == [slo.psi_watch, slo.psi_alert]
    assert lines['ROC AUC: estimated vs realized'] == [slo.min_realized_auc, slo.target_auc]
    assert lines['Estimated churn-rate shift'] == [-slo.max_churn_rate_shift, slo.max_churn_rate_shift]
    alerts = {r['alert']: r['expr'] for r in alert_rules()}
    assert alerts['ChurnAccuracyApdexLow'].endswith(f"< {lines['Accuracy Apdex'][0]}")
    assert alerts['ChurnLatencyApdexLow'].endswith(f"< {lines['Latency Apdex (T = 25 ms)'][0]}")
