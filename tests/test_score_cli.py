"churn_score in a subprocess, on real Parquet data and a real ONNX file, against ChurnScorer and PyTorch."
import numpy as np, pandas as pd, pytest
from conftest import run, tool
from mirador_churn.data import generate_synthetic, save_dataset
from mirador_churn.export import export_onnx, onnx_metadata
from mirador_churn.features import FEATURES, ChurnConfig, build_features, build_training_table, default_cutoffs, time_split
from mirador_churn.model import TrainConfig, evaluate, predict_proba, train_model
from mirador_churn.scoring import ChurnScorer

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp('score')
    ds = generate_synthetic()
    save_dataset(ds, d / 'data')
    cfg, cutoffs = ChurnConfig(), default_cutoffs(ds.orders, n=4)
    train, valid, test = time_split(build_training_table(*ds[:2], cfg, cutoffs, ds.order_items), cfg)
    model, _ = train_model(train, valid, TrainConfig(max_epochs=40), progress=False)
    path = export_onnx(model, d / 'model.onnx', onnx_metadata(model, cfg, TrainConfig(), cutoffs, evaluate(test.churned, predict_proba(model, test))))
    return d, ds, model, path

def test_churn_score_writes_one_probability_per_eligible_customer(trained):
    d, ds, model, path = trained
    r = run([tool('churn_score'), '--model', str(path), '--data', str(d / 'data'), '--output', str(d / 'scores.parquet')])
    scores = pd.read_parquet(d / 'scores.parquet')
    feats = build_features(ds.customers, ds.orders, None, ds.order_items)       # default cutoff: the end of the data
    assert list(scores.columns) == ['customer_id', 'churn_probability'] and scores.customer_id.tolist() == feats.customer_id.tolist()
    assert scores.churn_probability.dtype == np.float32 and len(scores) > 700
    assert np.abs(scores.churn_probability.to_numpy() - ChurnScorer.load(path).predict_proba(feats)).max() <= 1e-6
    assert np.abs(scores.churn_probability.to_numpy() - predict_proba(model, feats)).max() <= 1e-6
    assert f"scored {len(scores):,} customers" in r.stdout

def test_churn_score_at_a_cutoff(trained):
    d, ds, model, path = trained
    run([tool('churn_score'), '--model', str(path), '--data', str(d / 'data'), '--output', str(d / 'at.parquet'), '--cutoff', '2025-06-30'])
    assert pd.read_parquet(d / 'at.parquet').customer_id.tolist() == build_features(ds.customers, ds.orders, '2025-06-30', ds.order_items).customer_id.tolist()

def test_churn_score_errors_are_one_line_and_write_nothing(trained, tmp_path):
    d, ds, model, path = trained
    (tmp_path / 'bad.onnx').write_bytes(b'\x00garbage')
    for args, message in [(['--model', str(tmp_path / 'bad.onnx'), '--data', str(d / 'data')], 'bad.onnx: not a loadable ONNX model'),
                          (['--model', str(path), '--data', str(tmp_path / 'nowhere')], 'nowhere: no such folder'),
                          (['--model', str(path), '--data', str(d / 'data'), '--cutoff', '1999-01-01'], 'cutoff 1999-01-01 is not after the first order')]:
        r = run([tool('churn_score'), *args, '--output', str(tmp_path / 'out.parquet')], check=False)
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith('churn_score: error: ') and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / 'out.parquet').exists()
