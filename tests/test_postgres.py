"The SQL features inside a real PostgreSQL server: parity with build_training_table, churn_train and churn_score on it, bad databases."
import json, os, uuid
import numpy as np, pandas as pd, pytest
from conftest import run, tool
from mirador_churn.data import generate_synthetic, save_dataset
from mirador_churn.features import ChurnConfig, build_features, build_training_table, default_cutoffs, tiny_shop
from mirador_churn.sql import Database, sql_features, sql_training_table, write_tables
from mirador_churn.testing import assert_same_table

URL = os.environ.get('MIRADOR_POSTGRES_URL')   # .ci/run starts Debian's PostgreSQL on 127.0.0.1 and sets it
if not URL:
    if os.environ.get('CI'): pytest.fail('MIRADOR_POSTGRES_URL is not set: .ci/run must start PostgreSQL', pytrace=False)
    pytest.skip('no PostgreSQL: set MIRADOR_POSTGRES_URL=postgresql://user:password@127.0.0.1:5432/db', allow_module_level=True)

@pytest.fixture(scope='module')
def pg():
    "A fresh database on the server, with the seed-42 tables loaded; dropped at the end"
    name = f"churn_{uuid.uuid4().hex[:8]}"
    with Database(URL) as admin: admin.con.execute(f'CREATE DATABASE {name}')
    url = URL.rsplit('/', 1)[0] + '/' + name
    ds = generate_synthetic()
    with Database(url) as db: write_tables(db, ds)
    yield url, ds
    with Database(URL) as admin: admin.con.execute(f'DROP DATABASE {name} WITH (FORCE)')

def test_parity_on_the_seed_42_shop(pg):
    url, ds = pg
    cutoffs = default_cutoffs(ds.orders, n=4)
    with Database(url) as db:
        assert_same_table(sql_training_table(db, ChurnConfig(), cutoffs), build_training_table(*ds[:2], ChurnConfig(), cutoffs, ds.order_items))
        assert_same_table(sql_features(db), build_features(*ds[:2], order_items=ds.order_items))
        cfg = ChurnConfig(gap_days=14, horizon_days=60, active_days=180)
        assert_same_table(sql_training_table(db, cfg, default_cutoffs(ds.orders, cfg, n=2)),
                           build_training_table(*ds[:2], cfg, default_cutoffs(ds.orders, cfg, n=2), ds.order_items))

def test_parity_on_the_tiny_shop(pg):
    url, _ = pg
    shop, name = tiny_shop(), f"tiny_{uuid.uuid4().hex[:8]}"
    with Database(URL) as admin: admin.con.execute(f'CREATE DATABASE {name}')
    tiny = URL.rsplit('/', 1)[0] + '/' + name
    try:
        with Database(tiny) as db:
            write_tables(db, shop)
            cfg = ChurnConfig(cutoff='2024-07-01')
            got = sql_training_table(db, cfg)
            assert_same_table(got, build_training_table(*shop[:2], cfg, order_items=shop.order_items))
            assert got.churned.tolist() == [0, 1, 0, 1]
            with pytest.raises(Exception, match='so its customers are censored, not churned'): sql_training_table(db, ChurnConfig(cutoff='2024-10-01'))
    finally:
        with Database(URL) as admin: admin.con.execute(f'DROP DATABASE {name} WITH (FORCE)')

def test_churn_train_and_churn_score_on_postgres(pg, tmp_path):
    url, ds = pg
    fast = ['--max-epochs', '60', '--quiet', '--no-register']
    r = run([tool('churn_train'), '--data-source', url, '--output', str(tmp_path / 'pg'), *fast], cwd=tmp_path)
    run([tool('churn_train'), '--output', str(tmp_path / 'local'), *fast], cwd=tmp_path)   # the same seed-42 shop, in pandas
    m_pg, m_local = (json.loads((tmp_path / d / 'metrics.json').read_text()) for d in ('pg', 'local'))
    assert m_pg['model']['roc_auc'] == m_local['model']['roc_auc']   # same table, same seed: the same model
    assert m_pg['data']['source'].startswith('database postgresql://') and ':***@' in m_pg['data']['source']
    password = url.split('://', 1)[1].split('@')[0].split(':')[1]
    assert password not in r.stdout + r.stderr + (tmp_path / 'pg' / 'model_card.md').read_text() + json.dumps(m_pg)
    save_dataset(ds, tmp_path / 'data')
    run([tool('churn_score'), '--model', str(tmp_path / 'pg' / 'model.onnx'), '--data', url, '--output', str(tmp_path / 'pg.parquet')])
    run([tool('churn_score'), '--model', str(tmp_path / 'pg' / 'model.onnx'), '--data', str(tmp_path / 'data'), '--output', str(tmp_path / 'files.parquet')])
    a, b = pd.read_parquet(tmp_path / 'pg.parquet'), pd.read_parquet(tmp_path / 'files.parquet')
    assert a.customer_id.tolist() == b.customer_id.tolist() and np.abs(a.churn_probability - b.churn_probability).max() <= 1e-6

def _fails(args, tmp_path, message):
    # An unbounded connection attempt (TCP retries, no connect_timeout) would run into the subprocess's timeout; the
    # wall time itself is not asserted: on a loaded 2-core machine the imports alone (torch, MLflow) take tens of seconds.
    r = run([tool('churn_train'), *args, '--no-track', '--output', str(tmp_path / 'out')], cwd=tmp_path, check=False,
            timeout=180)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / 'out').exists()
    return r

def test_bad_databases(pg, tmp_path):
    url, _ = pg
    user_pw, rest = url.split('://', 1)[1].split('@', 1)
    user, password = user_pw.split(':')
    wrong = f"postgresql://{user}:not-{password}@{rest}"
    r = _fails(['--data-source', wrong], tmp_path, 'password authentication failed')
    assert f'not-{password}' not in r.stderr and ':***@' in r.stderr
    _fails(['--data-source', f"postgresql://{user}:{password}@127.0.0.1:1/{rest.split('/')[-1]}"], tmp_path, 'cannot connect to postgresql://')
    _fails(['--data-source', f"postgresql://{user}:{password}@{rest.split('/')[0]}/no_such_db"], tmp_path, 'no_such_db')
    with Database(url) as db:
        db.con.execute('CREATE TABLE orders_backup AS SELECT * FROM orders; ALTER TABLE orders DROP COLUMN amount')
    try: _fails(['--data-source', url], tmp_path, "orders: missing required column 'amount'")
    finally:
        with Database(url) as db: db.con.execute('DROP TABLE orders; ALTER TABLE orders_backup RENAME TO orders')

def test_source_contract_on_postgres(pg):
    "SqlSource on PostgreSQL answers what the in-memory engine answers (05b_source's contract), and closes its connection"
    from mirador_churn.source import FrameSource, check_source, open_source, source_problems
    url, ds = pg
    with open_source(url) as src:
        check_source(src, FrameSource(ds))
        check_source(src, FrameSource(ds), ChurnConfig(gap_days=14, horizon_days=60, active_days=180))
        assert src.description.startswith('database postgresql://') and url.split('@')[0].split(':')[-1] not in src.description
        other = FrameSource(generate_synthetic(1000, 10_000, seed=43))
        assert source_problems(src, other)   # the check can fail: another shop
    assert src.db.con.closed
