import contextlib, os, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent   # console scripts installed beside the interpreter running pytest

def tool(name):
    "Path of the console script `name` of this environment"
    p = BIN / name
    assert p.exists(), f"{name} is not installed in {BIN}: run `bash run.sh test`"
    return str(p)

def run(args, cwd=None, timeout=600, env=None, check=True):
    "Run `args` in a subprocess, returning the completed process; fail with its output if `check` and it failed"
    e = {**os.environ, 'MPLBACKEND': 'Agg', **(env or {})}
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=e)
    if check and r.returncode != 0:
        pytest.fail(f"{args} exited {r.returncode}\nstdout:\n{r.stdout[-4000:]}\nstderr:\n{r.stderr[-4000:]}")
    return r

def copy_repo(dst:Path)->Path:
    "A copy of the working tree (tracked and untracked-not-ignored files) at dst, committed to a fresh git repo"
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=ROOT, capture_output=True, check=True).stdout
    for f in filter(None, files.decode().split('\0')):
        src, out = ROOT / f, dst / f
        if not src.exists() and not src.is_symlink(): continue   # deleted in the working tree
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink(): os.symlink(os.readlink(src), out)
        else: shutil.copy2(src, out)
    git = lambda *a: subprocess.run(['git', *a], cwd=dst, capture_output=True, check=True)
    git('init', '-q'); git('add', '-A')
    git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'snapshot')
    return dst

@pytest.fixture
def scratch_repo(tmp_path):
    "A copy of the working tree committed to a fresh git repo"
    return copy_repo(tmp_path / 'repo')

def free_port()->int:
    "A free TCP port on 127.0.0.1"
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def stop_group(proc, sig=signal.SIGTERM):
    "Stop a process started with start_new_session and its children: sig to its process group, then SIGKILL"
    with contextlib.suppress(ProcessLookupError): os.killpg(proc.pid, sig)
    try: proc.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError): os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(20)

@contextlib.contextmanager
def serve_mlflow(d:Path):
    "A real MLflow tracking server on 127.0.0.1 (SQLite backend and artifact folder in d): (url, process); stopped on exit"
    port, log = free_port(), open(d / 'server.log', 'w')
    proc = subprocess.Popen([tool('mlflow'), 'server', '--host', '127.0.0.1', '--port', str(port), '--workers', '1',
                             '--backend-store-uri', f"sqlite:///{d}/mlflow.db", '--artifacts-destination', str(d / 'artifacts')],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, 'MLFLOW_DISABLE_TELEMETRY': 'true'},
                            start_new_session=True)   # its own process group: the server and its workers stop together
    url, deadline = f'http://127.0.0.1:{port}', time.time() + 120
    try:
        while True:
            try:
                if urllib.request.urlopen(f'{url}/health', timeout=2).status == 200: break
            except OSError: pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail(f"mlflow server did not start:\n{(d / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url, proc
    finally:
        stop_group(proc)
        log.close()
