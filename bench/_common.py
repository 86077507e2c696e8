"""What the benchmarks share: a stage timer with peak memory, and the check of each stage against bench/baseline.json.

The baseline holds, per benchmark and data size, the seconds of each stage of a run someone chose to commit
(`--write-baseline`, deliberately: after a change that is meant to be faster or slower). A later run of the same size
fails loudly (exit status 1, every slow stage named) when a stage takes more than `FACTOR` times its committed figure.
Sizes without a committed figure (the few-second runs CI makes) are not compared: their times are mostly start-up.
"""
import json, os, subprocess, sys, threading, time
from pathlib import Path

BASELINE = Path(__file__).with_name('baseline.json')
FACTOR = 2.0   # a stage this many times slower than its baseline fails the benchmark

def rss_bytes()->int:
    "Resident memory of this process"
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

class Stage:
    "Wall time and peak RSS of this Python process during a block, sampled every `every` seconds; appended to `results`"
    def __init__(self, results:list, name:str, every:float=0.005, **extra):
        self.results, self.name, self.every, self.extra = results, name, every, extra
    def __enter__(self):
        self.peak, self.stop = rss_bytes(), threading.Event()
        def sample():
            while not self.stop.wait(self.every): self.peak = max(self.peak, rss_bytes())
        self.thread = threading.Thread(target=sample, daemon=True); self.thread.start()
        self.t0 = time.perf_counter()
        return self
    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self.stop.set(); self.thread.join()
        self.peak = max(self.peak, rss_bytes())
        self.results.append(dict(stage=self.name, seconds=round(self.seconds, 3), peak_rss_gb=round(self.peak / 2**30, 3),
                                 **self.extra))

def run_peak(cmd:list, every:float=0.05, **kwargs)->tuple:
    """Run `cmd` to its end; return the CompletedProcess (text output captured) and the peak RSS of its process.

    The peak is the kernel's high-water mark of the child's own memory (VmHWM), read every `every` seconds while it runs.
    `getrusage(RUSAGE_CHILDREN)` cannot give it: Linux carries the parent's high-water mark into a child it spawns, so
    a benchmark that held 4.2 GB itself reported 4.2 GB for any child."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    peak = [0]
    def sample():
        while p.poll() is None:
            try:
                with open(f'/proc/{p.pid}/status') as f:
                    kb = next((int(l.split()[1]) for l in f if l.startswith('VmHWM:')), 0)
                peak[0] = max(peak[0], kb * 1024)
            except OSError: pass   # it has just ended
            time.sleep(every)
    t = threading.Thread(target=sample, daemon=True); t.start()
    out, err = p.communicate(); t.join()
    return subprocess.CompletedProcess(cmd, p.returncode, out, err), peak[0]

def size_key(customers:int, orders:int)->str: return f"{customers}x{orders}"

def load_average()->str:
    "The 1, 5 and 15 minute load averages, for the lines beside the figures (the machine is shared)"
    return ', '.join(f"{x:.2f}" for x in os.getloadavg())

def check_baseline(bench:str, key:str, results:list, factor:float=FACTOR, path:Path=BASELINE)->list[str]:
    "One line per stage slower than `factor` times its committed seconds; [] when none is, or nothing is committed"
    committed = json.loads(path.read_text()).get(bench, {}).get(key, {}).get('seconds', {}) if path.is_file() else {}
    if not committed:
        print(f"baseline: no committed figures for {bench} at {key}: not compared")
        return []
    slow = [f"{r['stage']}: {r['seconds']:.1f} s against {committed[r['stage']]:.1f} s committed "
            f"({r['seconds'] / committed[r['stage']]:.1f}x)"
            for r in results if r['stage'] in committed and r['seconds'] > factor * max(committed[r['stage']], 0.5)]
    missing = sorted(set(committed) - {r['stage'] for r in results})
    print(f"baseline: {len(committed) - len(missing)} stages compared with {path.name} ({bench}, {key}), "
          f"{len(slow)} over {factor:g}x" + (f"; not run: {', '.join(missing)}" if missing else ''))
    return slow

def write_baseline(bench:str, key:str, results:list, note:str, path:Path=BASELINE):
    "Commit-ready figures of this run as the baseline of `bench` at `key`"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data.setdefault(bench, {})[key] = dict(note=note, seconds={r['stage']: r['seconds'] for r in results})
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + '\n')
    print(f"wrote the baseline of {bench} at {key} to {path}")

def fail_if_slow(slow:list):
    "Exit with status 1, naming every slow stage, if there is one"
    if slow: sys.exit("REGRESSION: stages more than %gx slower than bench/baseline.json:\n  " % FACTOR + '\n  '.join(slow))
