"""The ONNX files the Java tests score, made by the project's own training and export code.

usage: .venv/bin/python java/tools/make_test_models.py [OUT_DIR]   (default java/src/test/resources/models)
Writes model.onnx (seed 42) and other.onnx (seed 7, another model: the negative control), both by train_model and
export_onnx on the synthetic shop; foreign.onnx, the same graph without the contract metadata (refused at start);
shifted.onnx, the same metadata over a graph whose output is the probability + 1.5 (refused by the probe batch); and
features.json, the features and 20 rows scored by ChurnScorer, that the JUnit tests compare with onnxruntime-java.
"""

import json, sys
from pathlib import Path
import numpy as np, onnx
from onnx import helper, TensorProto

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
from mirador_churn.scoring import ChurnScorer


def train(seed, path, ds):
    cfg, cutoffs = ChurnConfig(), default_cutoffs(ds.orders, n=4)
    train, valid, test = time_split(build_training_table(*ds[:2], cfg, cutoffs, ds.order_items), cfg)
    m, _ = train_model(train, valid, TrainConfig(max_epochs=8, seed=seed), progress=False)
    metrics = evaluate(test.churned, predict_proba(m, test))
    return export_onnx(m, path, onnx_metadata(m, cfg, TrainConfig(), cutoffs, metrics, f'seed-{seed}'))


def shifted(src, dst):
    "The graph of `src` with 1.5 added to its output: same metadata and names, not probabilities"
    p = onnx.load(src)
    out = next(o for o in p.graph.output if o.name == 'churn_probability')
    for n in p.graph.node:
        n.output[:] = ['p_raw' if o == 'churn_probability' else o for o in n.output]
    p.graph.initializer.append(helper.make_tensor('shift', TensorProto.FLOAT, [], [1.5]))
    p.graph.node.append(helper.make_node('Add', ['p_raw', 'shift'], ['churn_probability']))
    onnx.checker.check_model(p)
    onnx.save(p, dst)


def main(out=Path('java/src/test/resources/models')):
    out.mkdir(parents=True, exist_ok=True)
    ds = generate_synthetic()
    a = train(42, out / 'model.onnx', ds)
    train(7, out / 'other.onnx', generate_synthetic(seed=7))
    p = onnx.load(a)
    del p.metadata_props[:]
    onnx.save(p, out / 'foreign.onnx')
    shifted(a, out / 'shifted.onnx')
    feats = build_features(ds.customers, ds.orders, None, ds.order_items)[list(FEATURES)].head(20)
    rows = [{f: float(v) for f, v in r.items()} for r in feats.to_dict('records')]
    probs = ChurnScorer.load(a).predict_proba(feats).astype(np.float64).tolist()
    (out / 'features.json').write_text(
        json.dumps({'features': list(FEATURES), 'rows': rows, 'probabilities': probs}, indent=1) + '\n'
    )


if __name__ == '__main__':
    main(*(Path(a) for a in sys.argv[1:]))
