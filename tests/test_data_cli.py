"churn_seed_data in a subprocess: real Parquet files, real exit codes."
import pandas as pd
from conftest import run, tool
from mirador_churn.data import generate_synthetic, load_dataset, dataset_checksum

def test_churn_seed_data_writes_what_generate_synthetic_returns(tmp_path):
    out = tmp_path / 'data'
    r = run([tool('churn_seed_data'), '--output', str(out)])
    assert sorted(p.name for p in out.iterdir()) == ['customers.parquet', 'order_items.parquet', 'orders.parquet']
    loaded, made = load_dataset(out), generate_synthetic()
    for a, b in zip(loaded, made): pd.testing.assert_frame_equal(a, b)
    assert dataset_checksum(made)[:12] in r.stdout

def test_churn_seed_data_flags_in_both_spellings(tmp_path):
    run([tool('churn_seed_data'), '--output', str(tmp_path / 'a'), '--n-customers', '40', '--n-orders', '300', '--seed', '3'])
    run([tool('churn_seed_data'), '--output', str(tmp_path / 'b'), '--n_customers', '40', '--n_orders', '300', '--seed', '3'])
    a, b = load_dataset(tmp_path / 'a'), load_dataset(tmp_path / 'b')
    assert (len(a.customers), len(a.orders)) == (40, 300) and dataset_checksum(a) == dataset_checksum(b)

def test_bad_arguments_exit_2_with_one_line(tmp_path):
    r = run([tool('churn_seed_data'), '--output', str(tmp_path), '--n-orders', '0'], check=False)
    assert r.returncode == 2
    assert r.stderr.strip() == 'churn_seed_data: error: n_customers and n_orders must be at least 1, got 1000 and 0'
    assert 'Traceback' not in r.stderr and not any(tmp_path.iterdir())
