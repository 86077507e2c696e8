"""Server time of the retention team's working list (issue 23): the insights page and the CSV of 10,000 rows or more.

usage: .venv/bin/python bench/insights.py [--customers 13000] [--repeat 20]

A synthetic shop is scored by `churn_score` (a subprocess, a briefly trained model) so that at least 10,000 customers
are in the scores table, then served by `churn_serve` on 127.0.0.1. A session is opened through the sign-in form and
each request is sent `--repeat` times after one warm-up; the figure is the service's own `Server-Timing: app;dur=`
(time in the app until the response starts, the whole body rendered). Target (2 cores, shared): under 200 ms for the
page and for the CSV of 10,000 rows. Prints one line per request and the target check; exit status 1 if one misses it.
"""
import argparse, re, subprocess, sys, tempfile, time
from pathlib import Path

import httpx, numpy as np, pandas as pd

from mirador_churn.data import generate_synthetic, save_dataset
from mirador_churn.export import export_onnx, onnx_metadata
from mirador_churn.features import ChurnConfig, build_training_table, default_cutoffs, time_split
from mirador_churn.model import TrainConfig, evaluate, predict_proba, train_model
from mirador_churn.testing import ServiceProcess

KEY = 'bench-key-0123456789abcdef'
TARGET_MS = 200.0
BIN = Path(sys.executable).parent

def scored_shop(work:Path, customers:int)->Path:
    "Train briefly on a 1,000-customer shop, then score a `customers` shop with churn_score; the scores' path"
    ds = generate_synthetic()
    cfg, cutoffs = ChurnConfig(), default_cutoffs(ds.orders, n=4)
    train, valid, test = time_split(build_training_table(*ds[:2], cfg, cutoffs, ds.order_items), cfg)
    m, _ = train_model(train, valid, TrainConfig(max_epochs=10), progress=False)
    export_onnx(m, work / 'model.onnx', onnx_metadata(m, cfg, TrainConfig(), cutoffs,
                                                      evaluate(test.churned, predict_proba(m, test))))
    save_dataset(generate_synthetic(customers, customers * 10, seed=7), work / 'data')
    subprocess.run([str(BIN / 'churn_score'), '--model', str(work / 'model.onnx'), '--data', str(work / 'data'),
                    '--output', str(work / 'scores.parquet')], check=True, capture_output=True, timeout=600)
    return work / 'scores.parquet'

def server_ms(client:httpx.Client, path:str, repeat:int)->tuple:
    "Server-Timing of `repeat` GETs of `path` (after one warm-up), and the size of the last body"
    client.get(path).raise_for_status()
    times = []
    for _ in range(repeat):
        r = client.get(path); r.raise_for_status()
        times.append(float(re.search(r'app;dur=([\d.]+)', r.headers['server-timing'])[1]))
    return np.array(times), r

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--customers', type=int, default=13_000)
    ap.add_argument('--repeat', type=int, default=20)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        scores = scored_shop(Path(d), a.customers)
        n = len(pd.read_parquet(scores, columns=['customer_id']))
        print(f'{n:,} customers scored')
        with ServiceProcess('--model', Path(d) / 'model.onnx', '--scores', scores, env={'MIRADOR_API_KEYS': KEY}) as svc:
            with httpx.Client(base_url=svc.url, timeout=30) as web, \
                 httpx.Client(base_url=svc.url, timeout=30, headers={'X-API-Key': KEY}) as api:
                web.post('/insights/churn/sign-in', data={'api_key': KEY})   # the session cookie stays in the client
                runs = [('page 1 by value at risk', web, '/insights/churn', True),
                        ('page 40, lapsing, by probability', web, '/insights/churn?recency=lapsing&order_by=probability&page=40', True),
                        ('search by name part', web, '/insights/churn?q=smith', True),
                        (f'CSV of the whole list ({n:,} rows)', web, '/insights/churn/customers.csv', True),
                        ('REST CSV, n=1000', api, '/v1/churn/top?format=csv&n=1000&order_by=value', False),
                        ('REST JSON, n=1000', api, '/v1/churn/top?n=1000&order_by=value', False)]
                missed = []
                for name, client, path, target in runs:
                    t, r = server_ms(client, path, a.repeat)
                    rows = r.text.count('\n') - 1 if 'csv' in r.headers['content-type'] else None
                    print(f"{name:38s} server p50 {np.median(t):7.1f} ms  p95 {np.percentile(t, 95):7.1f} ms  max {t.max():7.1f} ms"
                          + (f"  ({rows:,} rows)" if rows is not None else '') + ('' if target else '  (no target)'))
                    if target and np.median(t) >= TARGET_MS: missed.append(name)
    print(f"target: p50 under {TARGET_MS:.0f} ms server time: " + ('met' if not missed else 'MISSED by ' + ', '.join(missed)))
    sys.exit(1 if missed else 0)

if __name__ == '__main__': main()
