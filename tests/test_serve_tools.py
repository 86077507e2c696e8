"""The churn service checked by outside tools: schemathesis against its own OpenAPI document, and the official MCP
Inspector CLI (npm, in tests/js) listing and calling both tools over HTTP. Each skips with its reason when its tool is
missing (CI installs both: `pip install schemathesis`, `npm ci --prefix tests/js`)."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest
from conftest import ROOT
from test_serve_hardening import KEY, files, start   # the same real service (model, scores with missing values, monitor)

JS = ROOT / 'tests' / 'js'
INSPECTOR = JS / 'node_modules' / '@modelcontextprotocol' / 'inspector' / 'clients' / 'launcher' / 'build' / 'index.js'

def missing(what:str, how:str):
    if os.environ.get('CI'): pytest.fail(f"{what} missing in CI: {how}", pytrace=False)
    pytest.skip(f"{what} missing: {how}")

@pytest.fixture(scope='module')
def svc(files):
    s = start(files, '--auth-failures', 1000)   # schemathesis sends many requests without a key on purpose
    try: yield s
    finally: s.stop()

# A request over the row bound is "Content Too Large" (413), which schemathesis does not count as a rejection by default;
# no 5xx is an accepted rejection here (the default list has it)
CONFIG = """[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
"""

def schemathesis(url, *args, tmp_path):
    exe = Path(sys.executable).parent / 'schemathesis'
    if not exe.exists(): missing('schemathesis', 'pip install "schemathesis>=4.32,<5" (settings.ini dev_requirements)')
    (tmp_path / 'schemathesis.toml').write_text(CONFIG)
    cmd = [str(exe), '--config-file', str(tmp_path / 'schemathesis.toml'), 'run', f'{url}/openapi.json', '--max-examples', '25', '--seed', '21', '--generation-deterministic',
           '--request-timeout', '30', '--suppress-health-check', 'all', *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path,
                          env={**os.environ, 'SCHEMATHESIS_HOOKS': '', 'NO_COLOR': '1'})

def test_schemathesis_finds_no_server_error_nor_schema_violation(svc, tmp_path):
    r = schemathesis(svc.url, '-H', f'X-API-Key: {KEY}', '--checks', 'all', tmp_path=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[:8000]
    assert 'No issues found' in out or 'passed' in out, out[-3000:]
    assert KEY not in svc.log

def test_schemathesis_can_fail(svc, tmp_path):
    "Negative control: without the key every route but the probes answers 401, which a positive-data check must flag"
    r = schemathesis(svc.url, '--checks', 'positive_data_acceptance', '--phases', 'examples,fuzzing', tmp_path=tmp_path)
    assert r.returncode != 0, (r.stdout + r.stderr)[-3000:]

def inspector(url, *args, key=None, home):
    if not shutil.which('node'): missing('node', 'install Node.js (>= 20)')
    if not INSPECTOR.exists(): missing('the MCP Inspector CLI', 'npm ci --prefix tests/js')
    cmd = ['node', str(INSPECTOR), '--cli', f'{url}/mcp', '--transport', 'http', '--stored-auth-only', *(['--header', f'X-API-Key: {key}'] if key else []), *args]
    env = {**os.environ, 'HOME': str(home), 'MCP_CATALOG_PATH': str(home / 'mcp.json'), 'NO_COLOR': '1'}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)

def test_mcp_inspector_lists_and_calls_the_tools(svc, files, tmp_path):
    listed = inspector(svc.url, '--method', 'tools/list', key=KEY, home=tmp_path)
    assert listed.returncode == 0, listed.stdout[-2000:] + listed.stderr[-2000:]
    tools = {t['name']: t for t in json.loads(listed.stdout)['tools']}
    assert set(tools) == {'predict_churn', 'customer_churn_risk', 'at_risk_customers'}
    assert set(tools['at_risk_customers']['inputSchema']['properties']) >= {'segment', 'limit', 'order_by', 'risk'}
    assert list(tools['predict_churn']['inputSchema']['properties']['rows']['items']['properties'])[:2] == ['days_since_last_order', 'total_revenue_30d']
    s = files['scores']
    cid = int(s[s.email.isna()].customer_id.iloc[0])   # a customer without an e-mail
    risk = inspector(svc.url, '--method', 'tools/call', '--tool-name', 'customer_churn_risk', '--tool-arg', f'customer_id={cid}',
                     key=KEY, home=tmp_path)
    assert risk.returncode == 0, risk.stdout[-2000:] + risk.stderr[-2000:]
    answer = json.loads(risk.stdout)
    assert not answer.get('isError') and answer['structuredContent']['customer_id'] == cid and answer['structuredContent']['email'] is None
    row = {f: float(v) for f, v in files['feats'].iloc[0][list(tools['predict_churn']['inputSchema']['properties']['rows']['items']['properties'])].items()}
    pred = inspector(svc.url, '--method', 'tools/call', '--tool-name', 'predict_churn', '--tool-arg', f'rows={json.dumps([row, row])}',
                     key=KEY, home=tmp_path)
    assert pred.returncode == 0, pred.stdout[-2000:] + pred.stderr[-2000:]
    probs = json.loads(pred.stdout)['structuredContent']['probabilities']
    assert len(probs) == 2 and 0 <= probs[0] <= 1 and probs[0] == probs[1]
    listed = inspector(svc.url, '--method', 'tools/call', '--tool-name', 'at_risk_customers', '--tool-arg', 'segment=lapsing',
                       '--tool-arg', 'limit=3', key=KEY, home=tmp_path)
    assert listed.returncode == 0, listed.stdout[-2000:] + listed.stderr[-2000:]
    page = json.loads(listed.stdout)['structuredContent']
    assert len(page['customers']) == 3 and page['total'] >= 3 and {c['recency_band'] for c in page['customers']} == {'lapsing'}

def test_mcp_inspector_is_refused_without_a_key(svc, tmp_path):
    for key in (None, 'wrong-key-0123456789abcdef'):
        r = inspector(svc.url, '--method', 'tools/list', key=key, home=tmp_path)
        assert r.returncode != 0 and 'predict_churn' not in r.stdout, r.stdout[-1000:]
        out = r.stdout + r.stderr   # the Inspector reads the 401 with WWW-Authenticate as "authentication required"
        assert any(w in out for w in ('auth_required', '401', 'nauthorized')), out[-1000:]
