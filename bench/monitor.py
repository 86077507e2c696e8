"""Monitoring figures for issue 12: false alarms over undrifted seeds, detection of the drift scenario, estimated vs
realized ROC AUC (and NannyML's CBPE on the same scores, when a Python with nannyml is given), and the speed of
`monitor_scores` on 1,000,000 scored customers.

    .venv/bin/python bench/monitor.py [--seeds 20] [--rows 1000000] [--nannyml /tmp/nmvenv/bin/python]

NannyML is not a dependency: make a throwaway venv for it with the pinned stack,
    python3 -m venv /tmp/nmvenv && /tmp/nmvenv/bin/pip install nannyml numpy==2.4.6 pandas==3.1.1 scikit-learn==1.9.1

Each seed is its own shop (1,500 customers, 15,000 orders) and its own model, trained as nbs/06_monitor.ipynb does
(test cutoff 2025-07-05), so the model is six months old when it is monitored on 2026-01-01 and the labelled cohorts
(2025-09-03 to 2025-10-03) lie after everything the model and its calibration saw. Undrifted: the shop as generated.
Drifted: the same shop with Drift('2025-11-01', price_rise=0.3, churn_wave=0.35). The monitor runs with its defaults
(the last 30 days, daily)."""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd

from mirador_churn.data import Drift, generate_synthetic
from mirador_churn.export import export_onnx, onnx_metadata
from mirador_churn.features import FEATURES, ChurnConfig, build_training_table, default_cutoffs, time_split
from mirador_churn.model import TrainConfig, evaluate, predict_proba, train_model
from mirador_churn.drift import reference_profile
from mirador_churn.monitor import SLO, monitor, monitor_scores
from mirador_churn.scoring import ChurnScorer

TRAINED_AT = '2025-07-05'

class WithProfile:
    "A scorer whose metadata carries another reference profile (to compare profiles without exporting twice)"
    def __init__(self, scorer, profile): self.scorer, self.profile, self.path = scorer, profile, scorer.path
    @property
    def metadata(self): return {**self.scorer.metadata, 'reference_profile': self.profile}
    def predict_proba(self, X): return self.scorer.predict_proba(X)

def one_seed(seed:int, work:Path)->dict:
    cfg = ChurnConfig(cutoff=TRAINED_AT)
    shop = generate_synthetic(1500, 15_000, seed=seed)
    cutoffs = default_cutoffs(shop.orders, cfg, 4)
    table = build_training_table(shop.customers, shop.orders, cfg, cutoffs, shop.order_items)
    train, valid, test = time_split(table, cfg)
    tcfg = TrainConfig(seed=seed, max_epochs=60)
    model, _ = train_model(train, valid, tcfg, progress=False)
    p_test = predict_proba(model, test)
    profile = reference_profile(test, p_test)
    meta = onnx_metadata(model, cfg, tcfg, cutoffs, evaluate(test.churned, p_test))
    path = export_onnx(model, work / f'model{seed}.onnx', {**meta, 'reference_profile': json.dumps(profile)})
    scorer = ChurnScorer.load(path)
    undrifted = monitor(shop, scorer)
    drift = Drift('2025-11-01', price_rise=0.3, churn_wave=0.35)
    drifted = monitor(generate_synthetic(1500, 15_000, seed=seed, drift=drift), scorer)
    train_ref = monitor(shop, WithProfile(scorer, reference_profile(train, predict_proba(model, train))))
    c = pd.DataFrame(undrifted['cohorts'])
    latest = build_training_table(shop.customers, shop.orders, cfg, [pd.Timestamp(c.date.iloc[-1])], shop.order_items)
    pd.DataFrame({'p': p_test, 'y': test.churned}).to_parquet(work / f'reference{seed}.parquet')
    analysis = pd.DataFrame({'p': scorer.predict_proba(latest[list(FEATURES)]), 'y': latest.churned})
    analysis.to_parquet(work / f'analysis{seed}.parquet')
    return dict(seed=seed, undrifted=undrifted['verdict'], undrifted_breaches=undrifted['breaches'],
                drifted=drifted['verdict'], drifted_breaches=drifted['breaches'],
                train_reference=train_ref['verdict'], train_reference_breaches=train_ref['breaches'],
                score_psi=undrifted['current']['score_psi'], drifted_score_psi=drifted['current']['score_psi'],
                est_auc=c.estimated_auc.iloc[-1], real_auc=c.realized_auc.iloc[-1],
                mean_gap=(c.estimated_auc - c.realized_auc).mean(),
                est_rate=c.estimated_churn_rate.iloc[-1], real_rate=c.realized_churn_rate.iloc[-1])

NANNYML = """
import sys, pandas as pd, nannyml as nml
out = []
for ref_path, ana_path in zip(sys.argv[1::2], sys.argv[2::2]):
    ref, ana = pd.read_parquet(ref_path), pd.read_parquet(ana_path)
    for d in (ref, ana): d['pred'] = (d.p >= 0.5).astype(int)
    est = nml.CBPE(problem_type='classification_binary', y_pred_proba='p', y_pred='pred', y_true='y',
                   metrics=['roc_auc'], chunk_number=1)
    est.fit(ref)
    r = est.estimate(ana[['p', 'pred']]).to_df()
    out.append(float(r[('roc_auc', 'value')].iloc[-1]))
print(' '.join(map(str, out)))
"""

def nannyml_cbpe(python:str, work:Path, seeds:list)->list:
    "NannyML's CBPE estimate of each seed's latest cohort, fitted on the same reference scores, in the other Python"
    args = [str(work / f'{k}{s}.parquet') for s in seeds for k in ('reference', 'analysis')]
    env = {**os.environ, 'NML_DISABLE_USAGE_LOGGING': '1'}   # NannyML sends usage statistics unless told not to
    r = subprocess.run([python, '-c', NANNYML, *args], capture_output=True, text=True, timeout=900, env=env)
    if r.returncode: raise RuntimeError(r.stderr[-2000:])
    return [float(v) for v in r.stdout.split()]

def speed(rows:int, seed:int=0)->float:
    "Best of 3 wall-clock seconds of `monitor_scores` on `rows` scored customers (8 features and the probability)"
    shop = generate_synthetic(20_000, 200_000, seed=seed)
    cfg = ChurnConfig()
    cutoffs = default_cutoffs(shop.orders, cfg, 2)
    table = build_training_table(shop.customers, shop.orders, cfg, cutoffs, shop.order_items)
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-(np.log1p(table.days_since_last_order) - 3.5 + rng.normal(0, 1, len(table)))))
    profile = reference_profile(table, p)
    scored = table.sample(rows, replace=True, random_state=seed)[list(FEATURES)].reset_index(drop=True)
    scored['churn_probability'] = rng.random(rows).astype(np.float32)
    times = []
    for _ in range(3):
        t = time.perf_counter(); monitor_scores(scored, profile); times.append(time.perf_counter() - t)
    return min(times)

def kind(breach:str)->str:
    "The kind of a breach sentence: 'score PSI', 'days_since_last_order PSI', 'realized churn rate', ..."
    for k in ('score PSI', 'estimated churn rate', 'estimated ROC AUC', 'realized ROC AUC', 'realized churn rate'):
        if breach.startswith(k): return k
    name, rest = breach.split(': ', 1)
    return f"{name} {'PSI' if rest.startswith('PSI') else 'missing values'}"

def seeds_report(a):
    "Run the seeds and print the table and the figures"
    with tempfile.TemporaryDirectory() as d:
        work, seeds = Path(d), list(range(1, a.seeds + 1))
        res = pd.DataFrame([one_seed(s, work) for s in seeds])
        if a.nannyml: res['nannyml_auc'] = nannyml_cbpe(a.nannyml, work, seeds)
    pd.set_option('display.width', 200)
    cols = ['seed', 'undrifted', 'drifted', 'train_reference', 'score_psi', 'drifted_score_psi', 'est_auc', 'real_auc',
            'mean_gap', 'est_rate', 'real_rate'] + (['nannyml_auc'] if a.nannyml else [])
    print(res[cols].round(4).to_string(index=False))
    n = len(res)
    print(f"\nfalse alarms (undrifted, reference = test rows): {(res.undrifted != 'ok').sum()}/{n}")
    for b in res.undrifted_breaches[res.undrifted != 'ok']: print('   ', b)
    print(f"false alarms (undrifted, reference = training rows): {(res.train_reference != 'ok').sum()}/{n}")
    for b in res.train_reference_breaches[res.train_reference != 'ok']: print('   ', b)
    print(f"drift scenario detected: {(res.drifted == 'breached').sum()}/{n}")
    kinds = pd.Series([kind(b) for bs in res.drifted_breaches for b in bs]).value_counts()
    print('    breaches of the drifted shops:', {k: int(v) for k, v in kinds.items()})
    gap = res.est_auc - res.real_auc
    print(f"estimated - realized ROC AUC, latest labelled cohort: mean {gap.mean():+.4f}, "
          f"mean |gap| {gap.abs().mean():.4f}, "
          f"max |gap| {gap.abs().max():.4f}; mean over each seed's 30 cohorts: {res.mean_gap.mean():+.4f}")
    if a.nannyml:
        g = res.nannyml_auc - res.real_auc
        print(f"NannyML CBPE - realized: mean {g.mean():+.4f}, mean |gap| {g.abs().mean():.4f}; "
              f"NannyML - ours: mean |diff| {(res.nannyml_auc - res.est_auc).abs().mean():.4f}")

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--seeds', type=int, default=20, help='0: the speed only')
    ap.add_argument('--rows', type=int, default=1_000_000)
    ap.add_argument('--nannyml', default=None, help='a Python that has nannyml installed (not this environment)')
    a = ap.parse_args()
    if a.seeds: seeds_report(a)
    print(f"monitor_scores on {a.rows:,} scored customers (9 columns): {speed(a.rows):.2f} s (best of 3)")
