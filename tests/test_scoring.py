"""The model's and the scorer's refusals through the real commands (issue 10): a foreign ONNX model, a model of another
contract, a validation or test cutoff of one class. Each with its negative control."""
import onnx, pandas as pd, pytest
from conftest import run, tool
from mirador_churn.data import generate_synthetic, save_dataset
from mirador_churn.features import default_cutoffs
from mirador_churn.scoring import ChurnScorer
from mirador_churn.testing import small_model

h = onnx.helper
SUM = [h.make_node('ReduceSum', ['features'], ['churn_probability'], axes=[1], keepdims=0)]   # 25.8, 534.4...
SPREAD = [h.make_node('ReduceMax', ['features'], ['hi'], axes=[1], keepdims=0),   # 0 on the probe's constant rows
          h.make_node('ReduceMin', ['features'], ['lo'], axes=[1], keepdims=0),
          h.make_node('Sub', ['hi', 'lo'], ['churn_probability'])]
SIGMOID = [h.make_node('ReduceMean', ['features'], ['m'], axes=[1], keepdims=0),   # a foreign model of probabilities
           h.make_node('Sigmoid', ['m'], ['churn_probability'])]

@pytest.fixture(scope='module')
def shop(tmp_path_factory):
    "The seed-42 shop as Parquet files, and a briefly trained model exported from it"
    d = tmp_path_factory.mktemp('scoring')
    ds = generate_synthetic()
    save_dataset(ds, d / 'data')
    return d, ds, small_model(42, d / 'model.onnx', ds, max_epochs=3)

def foreign(real, path, nodes, **meta):
    "An ONNX file at `path` with the graph `nodes` and the metadata of the real export `real` (updated by `meta`)"
    graph = h.make_graph(nodes, 'foreign', [h.make_tensor_value_info('features', onnx.TensorProto.FLOAT, ['batch', 8])],
                         [h.make_tensor_value_info('churn_probability', onnx.TensorProto.FLOAT, ['batch'])])
    proto = h.make_model(graph, opset_imports=[h.make_opsetid('', 11)])
    h.set_model_props(proto, {**ChurnScorer.load(real).session.get_modelmeta().custom_metadata_map, **meta})
    onnx.save(proto, path)
    return path

def score(model, data, output):
    return run([tool('churn_score'), '--model', str(model), '--data', str(data), '--output', str(output)], check=False)

def one_line_error(r, command, message):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f'{command}: error: ') and message in lines[0], r.stderr

@pytest.mark.parametrize('nodes, meta, message', [
    (SUM, {}, '`churn_probability` is outside [0, 1] in 11 rows'),   # refused at load, by the probe
    (SPREAD, {}, '`churn_probability` is outside [0, 1] in'),         # passes the probe, refused when it scores
    (SIGMOID, {'contract_version': '2'}, 'written for contract version 2; this scorer reads version 1'),
    (SIGMOID, {'contract': 'whatever'}, 'the metadata `contract` differs'),
], ids=['sum', 'spread', 'contract-version', 'contract-text'])
def test_churn_score_refuses_a_model_that_breaks_the_contract(shop, tmp_path, nodes, meta, message):
    d, ds, real = shop
    out = tmp_path / 'scores.parquet'
    out.write_bytes(b'previous scores')
    model = foreign(real, tmp_path / 'foreign.onnx', nodes, **meta)
    one_line_error(score(model, d / 'data', out), 'churn_score', f'foreign.onnx: {message}')
    assert out.read_bytes() == b'previous scores', 'a refused model must leave the previous scores alone'

def test_churn_score_scores_with_the_real_model_and_a_foreign_one_of_probabilities(shop, tmp_path):
    "Negative controls: the export itself, and a foreign graph whose outputs are probabilities, both score"
    d, ds, real = shop
    for model in (real, foreign(real, tmp_path / 'sigmoid.onnx', SIGMOID)):
        r = score(model, d / 'data', tmp_path / 'scores.parquet')
        assert r.returncode == 0, r.stderr
        p = pd.read_parquet(tmp_path / 'scores.parquet').churn_probability
        assert len(p) > 500 and p.between(0, 1).all()

@pytest.fixture(scope='module')
def quiet_quarter(shop):
    "The shop with no order in the label window of the third of four cutoffs: every customer there churns"
    d, ds, _ = shop
    cutoffs = default_cutoffs(ds.orders, n=4)
    gone = ds.orders.order_date.gt(cutoffs[2]) & ds.orders.order_date.le(cutoffs[3])
    orders = ds.orders[~gone]
    save_dataset(ds._replace(orders=orders, order_items=ds.order_items[ds.order_items.order_id.isin(orders.order_id)]),
                 d / 'quiet')
    return d / 'quiet', cutoffs

def train_cmd(data, output, *args):
    return run([tool('churn_train'), '--data-source', str(data), '--output', str(output), '--no-track', '--quiet',
                '--max-epochs', '3', *args], check=False)

def test_churn_train_with_a_one_class_validation_cutoff_is_one_line(quiet_quarter, tmp_path):
    "Was `TypeError: Expected state_dict to be dict-like`"
    data, cutoffs = quiet_quarter
    r = train_cmd(data, tmp_path / 'out')
    one_line_error(r, 'churn_train', str(cutoffs[2].date()))
    assert 'valid' in r.stderr and ('one class' in r.stderr or 'both classes' in r.stderr), r.stderr

def test_churn_train_with_a_one_class_test_cutoff_is_one_line(quiet_quarter, tmp_path):
    "Was `gate failed: test roc_auc nan`; the test cutoff moved back onto the quiet quarter"
    data, cutoffs = quiet_quarter
    r = train_cmd(data, tmp_path / 'out', '--cutoff', str(cutoffs[2].date()))
    one_line_error(r, 'churn_train', str(cutoffs[2].date()))
    assert 'test' in r.stderr and ('one class' in r.stderr or 'both classes' in r.stderr), r.stderr
    assert 'nan' not in r.stderr.lower()

def test_churn_train_trains_when_every_cutoff_has_both_classes(shop, tmp_path):
    "Negative control: the same command on the untouched shop trains and writes the model"
    d, ds, _ = shop
    r = train_cmd(d / 'data', tmp_path / 'out')
    assert r.returncode == 0, r.stderr
    assert ChurnScorer.load(tmp_path / 'out' / 'model.onnx').feature_names
