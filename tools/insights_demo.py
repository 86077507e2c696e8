"""A running churn service with a model, scores and monitor data, for the insights page's browser test and screenshots.

Everything is made by the project's own commands, in subprocesses: `churn_train`, `churn_score`, `churn_monitor`,
`churn_serve` (uvicorn on 127.0.0.1). One customer at risk gets a script-injection e-mail, to show that it stays text,
and another a spreadsheet formula as name, to show that the CSV defuses it. The shop is scored at three cutoffs (120 and
28 days before the end of its data, then at the end), so that the history has three runs; a drifted copy of the shop
(00_data's drift scenario) is monitored too, for the trust panel of a drifted shop.
"""
import os, socket, subprocess, sys, time
from pathlib import Path

import httpx
import pandas as pd
from mirador_churn.data import Drift, generate_synthetic, save_dataset
from mirador_churn.features import data_end

BIN = Path(sys.executable).parent
EVIL_EMAIL = '<img src=x onerror=alert(1)>'
FORMULA_NAME = '=HYPERLINK("http://example.invalid","click")'
API_KEY = 'insights-demo-key-0123456789'
CHROMIUM = os.environ.get('MIRADOR_CHROMIUM', '/usr/bin/chromium')
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync']

def _run(*args, ok=(0,)):
    "Run a console script of this environment; raise with its output unless its exit status is in `ok`"
    r = subprocess.run([str(BIN / args[0]), *map(str, args[1:])], capture_output=True, text=True, timeout=600)
    if r.returncode not in ok: raise RuntimeError(f"{args[0]} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r

def prepare(work:Path)->dict:
    "Train, score and monitor a 1,000-customer synthetic shop in `work`; return the paths the service needs"
    work = Path(work); data = work / 'data'
    _run('churn_seed_data', '--output', data, '--n-customers', 1000, '--n-orders', 10000)
    _run('churn_train', '--no-track', '--n-customers', 1000, '--max-epochs', 30, '--output', work / 'out', '--quiet')
    model, scores = work / 'out' / 'model.onnx', work / 'scores.parquet'
    end = data_end(pd.read_parquet(data / 'orders.parquet'))
    for days in (120, 28):   # two earlier runs, kept in scores.history/
        _run('churn_score', '--model', model, '--data', data, '--output', scores, '--cutoff', f'{end - pd.Timedelta(days=days):%Y-%m-%d}')
    _run('churn_score', '--model', model, '--data', data, '--output', scores)
    # a top-10 customer whose e-mail is of class 3 (other or missing) gets a script as e-mail: a script has no domain,
    # so it is class 3 too, the features do not change and the customer keeps its place in the list
    top = pd.read_parquet(scores).sort_values('churn_probability', ascending=False).head(10)
    other = top[top.email_domain_class == 3]
    if not len(other): raise RuntimeError('no customer of e-mail class 3 in the top 10 to give a script as e-mail')
    victim = int(other.customer_id.iloc[0])
    formula = int(top.customer_id[top.customer_id != victim].iloc[0])
    customers = pd.read_parquet(data / 'customers.parquet')
    customers['email'] = customers['email'].mask(customers.customer_id == victim, EVIL_EMAIL)
    customers['name'] = customers['name'].mask(customers.customer_id == formula, FORMULA_NAME)
    customers.to_parquet(data / 'customers.parquet', index=False)
    _run('churn_score', '--model', model, '--data', data, '--output', scores)
    _run('churn_monitor', '--model', model, '--data', data, '--output', work / 'monitor', '--no-track', ok=(0, 1))
    drifted = generate_synthetic(1000, 10_000, seed=42, drift=Drift(start=f'{end - pd.Timedelta(days=60):%Y-%m-%d}'))
    save_dataset(drifted, work / 'drifted')
    _run('churn_monitor', '--model', model, '--data', work / 'drifted', '--output', work / 'drifted-monitor', '--no-track',
         ok=(0, 1))
    return dict(model=model, scores=scores, monitor=work / 'monitor' / 'monitor.json', victim=victim, formula=formula,
                drifted_monitor=work / 'drifted-monitor' / 'monitor.json')

def free_port()->int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def start_service(paths:dict, log)->tuple:
    "Start `churn_serve` on a free loopback port; return (process, base URL) once it answers"
    port = free_port()
    env = {**os.environ, 'MIRADOR_API_KEYS': API_KEY}
    proc = subprocess.Popen([str(BIN / 'churn_serve'), '--model', str(paths['model']), '--scores', str(paths['scores']),
                             '--monitor', str(paths['monitor']), '--host', '127.0.0.1', '--port', str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f'http://127.0.0.1:{port}'
    for _ in range(150):
        if proc.poll() is not None: raise RuntimeError(f'churn_serve exited {proc.returncode}')
        try:
            if httpx.get(url + '/readyz', timeout=1).status_code == 200: return proc, url
        except httpx.HTTPError: pass
        time.sleep(0.2)
    proc.kill(); raise RuntimeError('churn_serve did not become ready in 30 s')

def launch(playwright):
    "Debian's Chromium, headless (Playwright cannot download its own browser here)"
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

def sign_in(page, url:str, key:str=API_KEY):
    page.goto(url + '/insights/churn')
    page.fill('#api_key', key)
    page.click('button[type=submit]')
    page.wait_for_load_state()
