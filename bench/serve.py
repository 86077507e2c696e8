"""Loopback load on the churn services, Python (churn_serve) and Java (java/, churn-java), side by side in one run:
the same model file, the same load generator, single-row and 1,000-row predictions from 32 concurrent keep-alive
clients, then the server's resident memory (RSS now and peak) and, for Java, the start-up time (start to listening).

usage: .venv/bin/python bench/serve.py [--single 20000] [--batch 500] [--clients 32] [--output FILE.json] [--no-java]
Targets (issue 13, 2 cores): >= 1,000 single-row requests/s with p99 < 20 ms and no errors; a 1,000-row request under
5 ms of server time. The load generator (raw asyncio sockets, HTTP/1.1 keep-alive) shares the machine's cores with the
server; the services run one after the other, never at once. Java needs java and mvn (the jar is built by
`mvn -f java/pom.xml -DskipTests package`).
"""

import argparse, asyncio, json, os, re, shutil, subprocess, sys, tempfile, threading, time
from pathlib import Path
import numpy as np, pandas as pd

from mirador_churn.data import generate_synthetic
from mirador_churn.export import export_onnx, onnx_metadata
from mirador_churn.features import (
    FEATURES,
    ChurnConfig,
    build_features,
    build_training_table,
    default_cutoffs,
    time_split,
)
from mirador_churn.model import TrainConfig, evaluate, predict_proba, train_model
from mirador_churn.testing import ServiceProcess

KEY = 'bench-key-0123456789abcdef'


async def _client(host, port, body, n, lat, server_ms, errors):
    r, w = await asyncio.open_connection(host, port)
    req = (
        f"POST /v1/churn/predict HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    for _ in range(n):
        t0 = time.perf_counter()
        w.write(req)
        head = await r.readuntil(b'\r\n\r\n')
        length = int(re.search(rb'(?i)content-length: (\d+)', head)[1])
        await r.readexactly(length)
        lat.append(time.perf_counter() - t0)
        if not head.startswith(b'HTTP/1.1 200'):
            errors.append(head.split(b'\r\n')[0])
        if m := re.search(rb'(?i)server-timing: app;dur=([\d.]+)', head):
            server_ms.append(float(m[1]))
    w.close()


async def _load(url, body, total, clients):
    host, port = url.split('//')[1].split(':')
    lat, server_ms, errors = [], [], []
    per = [total // clients + (i < total % clients) for i in range(clients)]
    t0 = time.perf_counter()
    await asyncio.gather(*[_client(host, int(port), body, n, lat, server_ms, errors) for n in per])
    wall = time.perf_counter() - t0
    lat = np.array(lat) * 1e3
    return {
        'requests': total,
        'clients': clients,
        'requests_per_s': round(total / wall, 1),
        'p50_ms': round(float(np.percentile(lat, 50)), 2),
        'p99_ms': round(float(np.percentile(lat, 99)), 2),
        'errors': len(errors),
        'server_p50_ms': round(float(np.percentile(server_ms, 50)), 3),
        'server_p99_ms': round(float(np.percentile(server_ms, 99)), 3),
    }


ROOT = Path(__file__).resolve().parents[1]
JAR = ROOT / 'java' / 'target' / 'churn-java-0.1.0.jar'


class JavaProcess:
    "`java -jar churn-java.jar ARGS` on a free port of 127.0.0.1; `url` once it listens; stopped on exit"

    def __init__(self, *args, env=None, timeout=180):
        self.args, self.env, self.timeout, self.url, self.lines = [str(a) for a in args], env, timeout, None, []

    def __enter__(self):
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            ['java', '-Xmx512m', '-jar', str(JAR), *self.args, '--host', '127.0.0.1', '--port', '0'],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(self.env or {})},
        )
        threading.Thread(target=self._read, daemon=True).start()
        while self.url is None:
            if self.proc.poll() is not None or time.perf_counter() - t0 > self.timeout:
                self.__exit__()
                sys.exit(f"churn-java did not start:\n{''.join(self.lines)[-2000:]}")
            time.sleep(0.02)
        self.startup_s = time.perf_counter() - t0
        return self

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            if self.url is None and (m := re.search(r'churn-java running on (http://\S+)', line)):
                self.url = m[1]

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def rss_mb(pid: int) -> dict:
    "Resident memory of process `pid` now and at its peak, in MiB (from /proc)"
    st = dict(l.split(':', 1) for l in Path(f'/proc/{pid}/status').read_text().splitlines() if ':' in l)
    return {
        'rss_mb': round(int(st['VmRSS'].split()[0]) / 1024),
        'peak_rss_mb': round(int(st['VmHWM'].split()[0]) / 1024),
    }


def measure(svc, one, thousand, a) -> dict:
    "The three loads on the running service `svc`, and its memory after them"
    asyncio.run(_load(svc.url, one, 500, 8))  # warm-up (the JVM compiles its hot paths here)
    asyncio.run(_load(svc.url, thousand, 20, 4))
    out = {
        'single_row': asyncio.run(_load(svc.url, one, a.single, a.clients)),
        'rows_1000': asyncio.run(_load(svc.url, thousand, a.batch, a.clients)),
        'rows_1000_one_client': asyncio.run(_load(svc.url, thousand, a.batch, 1)),
    }
    return {k: {**v, **rss_mb(svc.proc.pid)} for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--single', type=int, default=20_000)
    ap.add_argument('--batch', type=int, default=500)
    ap.add_argument('--clients', type=int, default=32)
    ap.add_argument('--output', default=None)
    ap.add_argument('--no-java', action='store_true', help='measure the Python service only')
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    ds = generate_synthetic()
    cfg, cutoffs = ChurnConfig(), default_cutoffs(ds.orders, n=4)
    train, valid, test = time_split(build_training_table(*ds[:2], cfg, cutoffs, ds.order_items), cfg)
    m, _ = train_model(train, valid, TrainConfig(max_epochs=10), progress=False)
    export_onnx(
        m,
        tmp / 'model.onnx',
        onnx_metadata(m, cfg, TrainConfig(), cutoffs, evaluate(test.churned, predict_proba(m, test))),
    )
    feats = build_features(ds.customers, ds.orders, None, ds.order_items)
    rows = [{f: float(v) for f, v in r.items()} for r in feats[list(FEATURES)].to_dict('records')]
    one = json.dumps({'rows': rows[:1]}).encode()
    thousand = json.dumps({'rows': (rows * 2)[:1000]}).encode()
    java = not a.no_java and shutil.which('java') and shutil.which('mvn')
    if java and not JAR.is_file():
        subprocess.run(['mvn', '-q', '-B', '-f', str(ROOT / 'java' / 'pom.xml'), '-DskipTests', 'package'], check=True)
    out = {}
    with ServiceProcess('--model', tmp / 'model.onnx', env={'MIRADOR_API_KEYS': KEY}) as svc:
        out['python'] = measure(svc, one, thousand, a)
    if java:
        with JavaProcess('--model', tmp / 'model.onnx', env={'MIRADOR_API_KEYS': KEY}) as svc:
            started = {'startup_s': round(svc.startup_s, 2), **rss_mb(svc.proc.pid)}
            out['java'] = measure(svc, one, thousand, a)
        out['java_startup'] = started
    else:
        print('Java service not measured: no java or mvn on this machine (or --no-java)')
    shutil.rmtree(tmp)
    rows = {(lang, load): v for lang in ('python', 'java') if lang in out for load, v in out[lang].items()}
    print(pd.DataFrame(rows).T.to_string())
    if 'java_startup' in out:
        print(
            f"java start-up: {out['java_startup']['startup_s']} s to listening, "
            f"RSS then {out['java_startup']['rss_mb']} MiB"
        )
    if a.output:
        Path(a.output).write_text(json.dumps(out, indent=1))
    for lang in ('python', 'java'):
        if lang not in out:
            continue
        s = out[lang]['single_row']
        print(
            f"{lang} targets: single-row {s['requests_per_s']:.0f} req/s (>= 1000), p99 {s['p99_ms']} ms (< 20), "
            f"errors {s['errors']} (0); "
            f"1,000-row server time p50 {out[lang]['rows_1000_one_client']['server_p50_ms']} ms (< 5)"
        )


if __name__ == '__main__':
    main()
