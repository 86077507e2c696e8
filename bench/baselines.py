"""The field's baselines on a real log (issue 26): the ChurnMLP against every baseline of 02_model on the whole CDNOW
log, with paired bootstrap intervals of the ROC AUC differences, printed as a table.

    flock /tmp/mirador-heavy.lock nice -n 5 .venv/bin/python bench/baselines.py [--n_customers 23570] [--n_seeds 5]

CDNOW (23,570 customers, 69,659 orders, 1997-01-01 to 1998-06-30) is read from the lifetimes package, through the
same validation as user data. Training is churn_train's: the default TrainConfig, one thread per pool (set_threads),
rolling-origin cutoffs one label window apart, train on all but the last two, early stopping on the validation
cutoff, test on the last. `--n_seeds 5` also trains TrainConfig(n_seeds=5), the ChurnEnsemble of seeds seed..seed+4
(the mean of their probabilities, as its ONNX graph computes it; its first member is the single ChurnMLP, bit for bit),
and compares both against every baseline. Nothing here is compared against a committed figure: the figures are the
argument of the report, and the run takes about a minute on two shared cores.
"""
import time, warnings
import numpy as np, pandas as pd
from fastcore.script import call_parse

from _common import load_average   # bench/ is on the path: the script's own folder
from mirador_churn.data import load_cdnow
from mirador_churn.features import ChurnConfig, build_training_table, default_cutoffs, time_split
from mirador_churn.model import (TrainConfig, auc_verdict, compare_models, fit_baselines, lift_verdict, noise_verdict,
                                 predict_proba, set_threads, train_model, training_summary)


def table(cmp: pd.DataFrame) -> pd.DataFrame:
    "The printed table: each model's ROC AUC with its interval, and the MLP's difference with its interval"
    iv = lambda lo, hi, f: '' if np.isnan(lo) else f"[{lo:{f}}, {hi:{f}}]"
    return pd.DataFrame({
        'ROC AUC': cmp.roc_auc.map('{:.4f}'.format),
        '95% interval': [iv(a, b, '.4f') for a, b in zip(cmp.roc_auc_low, cmp.roc_auc_high)],
        'MLP minus': cmp.auc_diff.map(lambda v: '' if np.isnan(v) else f'{v:+.4f}'),
        'its 95% interval': [iv(a, b, '+.4f') for a, b in zip(cmp.auc_diff_low, cmp.auc_diff_high)],
        'verdict': ['' if np.isnan(a) else noise_verdict(a, b) for a, b in zip(cmp.auc_diff_low, cmp.auc_diff_high)],
        'top-decile lift': cmp.lift_top_decile.map('{:.3f}'.format),
        'lift diff interval': [iv(a, b, '+.3f') for a, b in zip(cmp.lift_diff_low, cmp.lift_diff_high)]})


@call_parse
def main(n_customers: int = 23_570,  # a seeded sample of CDNOW's customers; 23570: all of them
         n_cutoffs: int = 4,  # rolling-origin cutoffs
         horizon_days: int = 90,  # the label window
         n_boot: int = 1000,  # bootstrap redraws
         seed: int = 0,  # the training seed of the single ChurnMLP, the first of the ensemble
         n_seeds: int = 5,  # members of the seed ensemble; 1: the single ChurnMLP only
         ):
    "Print the CDNOW comparison of the ChurnMLP (and its seed ensemble) with every baseline, with paired intervals"
    set_threads(1)
    print(f"load average before: {load_average()}")
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        ds = load_cdnow(None if n_customers >= 23_570 else n_customers)
        cfg = ChurnConfig(horizon_days=horizon_days)
        cutoffs = default_cutoffs(ds.orders, cfg, n_cutoffs)
        tab = build_training_table(ds.customers, ds.orders, cfg, cutoffs)
    for x in w: print(f"warning: {x.message}")
    train, valid, test = time_split(tab, cfg)
    print(f"CDNOW: {len(ds.customers):,} customers, {len(ds.orders):,} orders; cutoffs "
          f"{', '.join(str(c.date()) for c in cutoffs)}; rows train {len(train):,}, valid {len(valid):,}, "
          f"test {len(test):,} (churn rate {test.churned.mean():.3f})")
    t = time.perf_counter()
    model, hist = train_model(train, valid, TrainConfig(seed=seed, n_seeds=n_seeds), progress=False)
    print(f"training: {time.perf_counter() - t:.1f} s for {n_seeds} seed(s); {training_summary(hist)}")
    single = model.members[0] if n_seeds > 1 else model
    scores = {'ChurnMLP': predict_proba(single, test)}
    if n_seeds > 1: scores[f'ChurnMLP, {n_seeds} seeds'] = predict_proba(model, test)
    t = time.perf_counter()
    base = fit_baselines(train, valid=valid, orders=ds.orders, cfg=cfg)
    scores |= {k: f(test) for k, f in base.items()}
    print(f"baselines: {time.perf_counter() - t:.1f} s")
    for ref in [k for k in scores if k.startswith('ChurnMLP')]:
        order = {ref: scores[ref], **{k: v for k, v in scores.items() if k != ref}}
        cmp = compare_models(test.churned, order, model=ref, n_boot=n_boot)
        print(f"\n{ref} against every other model, test cutoff {cutoffs[-1].date()}, {n_boot} paired redraws:")
        with pd.option_context('display.width', 200, 'display.max_columns', 20):
            print(table(cmp).to_string())
        print(auc_verdict(cmp, ref))
        print(lift_verdict(cmp, ref))
    print(f"\ntotal {time.perf_counter() - t0:.1f} s; load average after: {load_average()}")
