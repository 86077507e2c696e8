"""The full CDNOW run of nbs/11_real_data: the label-free estimate against realized ROC AUC per weekly cohort, a fresh model's
SLO verdict, and NannyML's CBPE on the same cohorts (optional, in another Python with nannyml: --nannyml PYTHON).

    .venv/bin/python bench/real_data.py [--epochs 60] [--nannyml /tmp/nnvenv/bin/python]

CDNOW (23,570 customers, 69,659 orders, 1997-01-01 to 1998-06-30) is read from the CDNOW_master.txt that the `lifetimes`
package ships, written as CSV and loaded through the user-data path (`load_dataset`), as a data scientist would."""
import argparse, atexit, importlib.util, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression

from mirador_churn.data import load_dataset
from mirador_churn.drift import PSI_ALERT, calibrate, column_drift, estimate_holds, expected_auc
from mirador_churn.features import ChurnConfig, build_training_table
from mirador_churn.model import TrainConfig, set_threads
from mirador_churn.monitor import monitor, summary_table
from mirador_churn.pipeline import train
from mirador_churn.scoring import ChurnScorer

NANNYML = r'''
import sys, warnings, pandas as pd, nannyml as nml
warnings.filterwarnings('ignore')
ref, tab = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
prep = lambda df: df.assign(y_pred=(df.p >= 0.5).astype(int), y_true=df.churned)
est = nml.CBPE(y_pred_proba='p', y_pred='y_pred', y_true='y_true', problem_type='classification_binary',
               metrics=['roc_auc'], chunk_number=1).fit(prep(ref))
for c, g in tab.groupby('cutoff'):
    r = est.estimate(prep(g).drop(columns=['y_true'])).filter(period='analysis').to_df()
    print(c, float(r[('roc_auc', 'value')].iloc[0]))
'''

def cdnow_folder(out:Path)->Path:
    "CDNOW_master.txt from the installed lifetimes package (found without importing it) as customers.csv, orders.csv"
    spec = importlib.util.find_spec('lifetimes')
    if spec is None: sys.exit("bench/real_data.py: needs the lifetimes package (it ships CDNOW_master.txt)")
    raw = pd.read_csv(Path(spec.submodule_search_locations[0]) / 'datasets' / 'CDNOW_master.txt', sep=r'\s+',
                      header=0, names=['customer_id', 'date', 'cds', 'amount'], dtype={'date': str})
    out.mkdir(parents=True, exist_ok=True)
    orders = pd.DataFrame({'order_id': np.arange(1, len(raw) + 1), 'customer_id': raw.customer_id,
                           'order_date': pd.to_datetime(raw.date, format='%Y%m%d'), 'amount': raw.amount})
    pd.DataFrame({'customer_id': sorted(orders.customer_id.unique())}).to_csv(out / 'customers.csv', index=False)
    orders.to_csv(out / 'orders.csv', index=False)
    return out

def platt(p, y):
    "The method before this issue: Platt scaling of the score on the reference (two numbers)"
    lg = lambda q: np.log(np.clip(q, 1e-6, 1 - 1e-6) / (1 - np.clip(q, 1e-6, 1 - 1e-6)))
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(lg(p)[:, None], y)
    return dict(method='platt', slope=float(lr.coef_[0, 0]), intercept=float(lr.intercept_[0]))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--epochs', type=int, default=60); ap.add_argument('--nannyml', default=None)
    a = ap.parse_args()
    set_threads(1)
    work = Path(tempfile.mkdtemp(prefix='mirador-bench-'))
    atexit.register(shutil.rmtree, work, True)   # the trainings' folders and registry, whatever the exit
    data = cdnow_folder(work / 'cdnow'); ds = load_dataset(data)
    t0 = time.perf_counter()
    tcfg = TrainConfig(max_epochs=a.epochs, patience=15)
    old = train(str(data), output=work / 'old', cfg=ChurnConfig(cutoff='1997-10-04'), train_cfg=tcfg, track=False,
                progress=False)
    new = train(str(data), output=work / 'new', train_cfg=tcfg, track=False, progress=False)
    print(f"trained two models in {time.perf_counter() - t0:.0f} s; test ROC AUC {old.metrics['roc_auc']:.4f} "
          f"(test cutoff 1997-10-04), {new.metrics['roc_auc']:.4f} (test cutoff {new.cutoffs[-1]})")
    scorer = ChurnScorer.load(work / 'old' / 'model.onnx')
    prof = scorer.metadata['reference_profile']
    start, step = pd.Timestamp('1997-10-04'), pd.Timedelta(days=7)
    cuts = [start + step * k for k in range(53) if start + step * k + pd.Timedelta(days=90) <= pd.Timestamp('1998-07-01')]
    tab = build_training_table(ds.customers, ds.orders, ChurnConfig(), cuts, ds.order_items)
    tab['p'] = scorer.predict_proba(tab).astype(np.float64)
    ref = tab[tab.cutoff == start]
    old_cal = platt(ref.p.to_numpy(), ref.churned.to_numpy())
    rows = []
    for c, g in tab.groupby('cutoff'):
        p, y = g.p.to_numpy(), g.churned.to_numpy()
        q, o = calibrate(p, prof['calibration']), calibrate(p, old_cal)
        rows.append(dict(cohort=str(c.date()), customers=len(g), realized_auc=expected_auc(y, p),
                         estimated_auc=expected_auc(q, p), platt_auc=expected_auc(o, p), realized_rate=y.mean(),
                         estimated_rate=q.mean(), score_psi=(s := column_drift(p, prof['score'])['psi']),
                         holds=estimate_holds(s)))
    res = pd.DataFrame(rows)
    if a.nannyml:
        ref[['p', 'churned']].to_csv(work / 'ref.csv', index=False)
        tab.assign(cutoff=tab.cutoff.dt.date.astype(str))[['cutoff', 'p', 'churned']].to_csv(work / 'tab.csv', index=False)
        env = {**os.environ, 'NML_DISABLE_USAGE_LOGGING': '1'}   # NannyML sends usage statistics unless told not to
        outp = subprocess.run([a.nannyml, '-c', NANNYML, str(work / 'ref.csv'), str(work / 'tab.csv')], env=env,
                              capture_output=True, text=True, timeout=900, check=True).stdout
        nn = dict(line.split() for line in outp.strip().splitlines())
        res['nannyml_auc'] = res.cohort.map(lambda c: float(nn[c]))
    res['gap'] = res.estimated_auc - res.realized_auc
    res['rate_gap'] = res.estimated_rate - res.realized_rate
    print(res.to_string(index=False, float_format='{:.3f}'.format))
    within, held = (res.gap.abs() <= 0.03).sum(), res[res.holds]
    print(f"\nwhere the estimate holds (score PSI below {PSI_ALERT}): {len(held)} of {len(res)} cohorts; ROC AUC within 0.03 "
          f"on {(held.gap.abs() <= 0.03).sum()} of them (max |gap| {held.gap.abs().max():.3f}), churn rate within 0.03 "
          f"on {(held.rate_gap.abs() <= 0.03).sum()} (max |gap| {held.rate_gap.abs().max():.3f}); withheld: "
          f"{', '.join(f'{c} (score PSI {v:.3f})' for c, v in zip(res.cohort[~res.holds], res.score_psi[~res.holds])) or 'none'}")
    print(f"over all cohorts: estimated ROC AUC within 0.03 of realized on {within} of {len(res)} weekly cohorts "
          f"(max |gap| {res.gap.abs().max():.3f}; the Platt method before: {(res.platt_auc - res.realized_auc).abs().max():.3f}); "
          f"churn rate max |gap| {res.rate_gap.abs().max():.3f}")
    if 'nannyml_auc' in res: print(f"NannyML CBPE max |gap| {(res.nannyml_auc - res.realized_auc).abs().max():.3f}, "
                                   f"max |NannyML - ours| {(res.nannyml_auc - res.estimated_auc).abs().max():.3f}")
    for name in ('new', 'old'):
        rep = monitor(ds, ChurnScorer.load(work / name / 'model.onnx'), days=1)
        print(f"\n{name} model on the current data:\n{summary_table(rep)}")

if __name__ == '__main__': main()
