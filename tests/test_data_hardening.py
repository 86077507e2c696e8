"Issue 10 on the data path, through real files and real subprocesses: realistic Parquet, bad seeds, file modes."
import stat, subprocess
import pyarrow as pa
from conftest import run, tool
from mirador_churn.core import DataError
from mirador_churn.data import load_dataset
from mirador_churn.features import ChurnConfig, build_features, build_training_table, default_cutoffs

def test_seed_data_at_realistic_size_reads_back_in_chunks_and_builds_features(tmp_path):
    # 200,000 customers is where pyarrow starts reading a text column in several batches: the case that crashed
    out = tmp_path / 'data'
    run([tool('churn_seed_data'), '--output', str(out), '--n-customers', '200000', '--n-orders', '400000'])
    ds = load_dataset(out)
    assert pa.array(ds.customers.email).num_chunks > 1 and pa.array(ds.order_items.category).num_chunks > 1
    cutoffs = default_cutoffs(ds.orders, n=2)
    table = build_training_table(*ds[:2], ChurnConfig(), cutoffs, ds.order_items)
    assert len(table) > 10_000 and table.cart_diversity.max() > 1 and set(table.email_domain_class) == {0, 1, 2, 3}
    feats = build_features(*ds[:2], cutoffs[-1], ds.order_items)
    assert (feats.drop(columns='cutoff').to_numpy() == table[table.cutoff == cutoffs[-1]].drop(columns=['cutoff', 'churned'])
            .to_numpy()).all()

def test_negative_seed_is_one_line_and_exit_2(tmp_path):
    r = run([tool('churn_seed_data'), '--output', str(tmp_path / 'out'), '--seed', '-1'], check=False)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == 'churn_seed_data: error: seed must be a non-negative integer, got -1'
    assert not (tmp_path / 'out').exists()

def test_written_files_follow_the_umask(tmp_path):
    for mask, mode in (('022', 0o644), ('027', 0o640)):
        out = tmp_path / mask
        r = subprocess.run(['sh', '-c', f'umask {mask} && exec "$0" "$@"', tool('churn_seed_data'), '--output', str(out),
                            '--n-customers', '40', '--n-orders', '300'], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
        assert modes == dict.fromkeys(['customers.parquet', 'order_items.parquet', 'orders.parquet'], mode), modes

def test_unreadable_files_name_the_file(tmp_path):
    out = tmp_path / 'data'
    run([tool('churn_seed_data'), '--output', str(out), '--n-customers', '40', '--n-orders', '300'])
    f = out / 'customers.parquet'
    f.write_bytes(f.read_bytes()[:100])
    try: load_dataset(out)
    except DataError as e: msg = str(e)
    else: raise AssertionError('a truncated Parquet file was read')
    assert msg.startswith(f"customers: cannot read {f} (100 bytes) as parquet: ") and '\n' not in msg
