"""Loopback load on the churn service: single-row and 1,000-row predictions from 32 concurrent keep-alive clients.

usage: .venv/bin/python bench/serve.py [--single 20000] [--batch 500] [--clients 32] [--output bench-serve.json]
Targets (issue 13, 2 cores): >= 1,000 single-row requests/s with p99 < 20 ms and no errors; a 1,000-row request under 5 ms of server time.
The load generator (raw asyncio sockets, HTTP/1.1 keep-alive) shares the machine's cores with the server.
"""
import argparse, asyncio, json, re, shutil, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd

from mirador_churn.data import generate_synthetic
from mirador_churn.export import export_onnx, onnx_metadata
from mirador_churn.features import FEATURES, ChurnConfig, build_features, build_training_table, default_cutoffs, time_split
from mirador_churn.model import TrainConfig, evaluate, predict_proba, train_model
from mirador_churn.serve import ServiceProcess

KEY = 'bench-key-0123456789abcdef'

async def _client(host, port, body, n, lat, server_ms, errors):
    r, w = await asyncio.open_connection(host, port)
    req = (f"POST /v1/churn/predict HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {KEY}\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    for _ in range(n):
        t0 = time.perf_counter()
        w.write(req)
        head = await r.readuntil(b'\r\n\r\n')
        length = int(re.search(rb'(?i)content-length: (\d+)', head)[1])
        await r.readexactly(length)
        lat.append(time.perf_counter() - t0)
        if not head.startswith(b'HTTP/1.1 200'): errors.append(head.split(b'\r\n')[0])
        if m := re.search(rb'(?i)server-timing: app;dur=([\d.]+)', head): server_ms.append(float(m[1]))
    w.close()

async def _load(url, body, total, clients):
    host, port = url.split('//')[1].split(':')
    lat, server_ms, errors = [], [], []
    per = [total // clients + (i < total % clients) for i in range(clients)]
    t0 = time.perf_counter()
    await asyncio.gather(*[_client(host, int(port), body, n, lat, server_ms, errors) for n in per])
    wall = time.perf_counter() - t0
    lat = np.array(lat) * 1e3
    return {'requests': total, 'clients': clients, 'requests_per_s': round(total / wall, 1), 'p50_ms': round(float(np.percentile(lat, 50)), 2),
            'p99_ms': round(float(np.percentile(lat, 99)), 2), 'errors': len(errors),
            'server_p50_ms': round(float(np.percentile(server_ms, 50)), 3), 'server_p99_ms': round(float(np.percentile(server_ms, 99)), 3)}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--single', type=int, default=20_000); ap.add_argument('--batch', type=int, default=500)
    ap.add_argument('--clients', type=int, default=32); ap.add_argument('--output', default=None)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    ds = generate_synthetic()
    cfg, cutoffs = ChurnConfig(), default_cutoffs(ds.orders, n=4)
    train, valid, test = time_split(build_training_table(*ds[:2], cfg, cutoffs, ds.order_items), cfg)
    m, _ = train_model(train, valid, TrainConfig(max_epochs=10), progress=False)
    export_onnx(m, tmp / 'model.onnx', onnx_metadata(m, cfg, TrainConfig(), cutoffs, evaluate(test.churned, predict_proba(m, test))))
    feats = build_features(ds.customers, ds.orders, None, ds.order_items)
    rows = [{f: float(v) for f, v in r.items()} for r in feats[list(FEATURES)].to_dict('records')]
    one = json.dumps({'rows': rows[:1]}).encode()
    thousand = json.dumps({'rows': (rows * 2)[:1000]}).encode()
    out = {}
    with ServiceProcess('--model', tmp / 'model.onnx', env={'MIRADOR_API_KEYS': KEY}) as svc:
        asyncio.run(_load(svc.url, one, 500, 8))   # warm-up
        out['single_row'] = asyncio.run(_load(svc.url, one, a.single, a.clients))
        out['rows_1000'] = asyncio.run(_load(svc.url, thousand, a.batch, a.clients))
        out['rows_1000_one_client'] = asyncio.run(_load(svc.url, thousand, a.batch, 1))
    shutil.rmtree(tmp)
    print(pd.DataFrame(out).T.to_string())
    if a.output: Path(a.output).write_text(json.dumps(out, indent=1))
    s = out['single_row']
    print(f"targets: single-row {s['requests_per_s']:.0f} req/s (>= 1000), p99 {s['p99_ms']} ms (< 20), errors {s['errors']} (0); "
          f"1,000-row server time p50 {out['rows_1000_one_client']['server_p50_ms']} ms (< 5)")

if __name__ == '__main__': main()
